"""The onnx tools through a real MCP client: conversion with parity (skl2onnx + onnxruntime against
scikit-learn), the twin found from the source version, inspection with the external-data check, benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mcp import Client

from mcp_server.core import mlmodels as mm
from mcp_server.core import twin as rt
from mcp_server.core.boundary import Control
from mcp_server.core.config import Settings
from mcp_server.tools.onnx import adapter as ox
from tests.conftest import assert_tool_error, structured
from tests.tools.onnx.test_twin import _external_model
from tests.tools.registry.conftest import FEATURES, Trained


async def _register(client: Client, name: str, run_id: str) -> str:
    result = structured(await client.call_tool("registry_register_model", {"name": name, "source": run_id}))
    return str(result["version"])


def _native(trained: Trained, run_id: str):  # type: ignore[no-untyped-def]
    from mcp_server.core.mlmodels import load_run_model

    return load_run_model(trained.app, run_id).model


def _frame(trained: Trained) -> pd.DataFrame:
    return pd.read_csv(trained.home / "workspace" / "mixed.csv")[FEATURES]


def _ort_feed(twin: rt.OnnxTwin, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The feed built straight from the spec with numpy (independent of make_feed)."""
    feed = {}
    for spec in twin.spec["inputs"]:
        block = frame[spec["columns"]]
        if spec["dtype"] == "string":
            feed[spec["name"]] = block.fillna("").astype(str).to_numpy(dtype=object)
        else:
            feed[spec["name"]] = block.to_numpy(dtype=spec["dtype"])
    return feed


async def test_classifier_parity_and_twin_found_from_the_version(client: Client, trained: Trained) -> None:
    import onnxruntime as ort

    from mcp_server.core.lineage import query_lineage

    version = await _register(client, "onnx-clf", trained.classifier_run)
    conv = structured(await client.call_tool("onnx_convert", {"name": "onnx-clf", "version": version}))
    assert conv["task"] == "classification" and conv["parity"]["passed"] is True
    assert conv["parity"]["label_agreement"] == 1.0 and conv["parity"]["max_abs_diff"] <= 1e-5
    assert conv["parity"]["rows"] == 240
    got = structured(await client.call_tool("registry_get_version", {"name": "onnx-clf", "version": version}))
    assert got["onnx"]["onnx_model_id"] == conv["onnx_model_id"]
    assert got["onnx"]["lineage_id"] == f"onnx:onnx-clf/{version}"
    graph = query_lineage(trained.app.store, f"onnx:onnx-clf/{version}", "upstream", 1)
    assert [(e.upstream, e.kind) for e in graph.edges] == [(f"model:onnx-clf/{version}", "converted")]
    # independent check: onnxruntime on the cached file vs scikit-learn on the CSV rows
    twin = mm.onnx_twin(trained.app, "onnx-clf", version, convert=False)
    session = ort.InferenceSession(str(twin.path), providers=["CPUExecutionProvider"])
    frame = _frame(trained)
    labels, probs = session.run(None, _ort_feed(twin, frame))
    native = _native(trained, trained.classifier_run)
    np.testing.assert_array_equal(labels.ravel(), native.predict(frame))
    np.testing.assert_allclose(probs, native.predict_proba(frame), rtol=1e-5, atol=1e-5)


async def test_regressor_parity_on_a_forest(client: Client, trained: Trained) -> None:
    import onnxruntime as ort

    version = await _register(client, "onnx-rf", trained.forest_run)
    conv = structured(
        await client.call_tool("onnx_convert", {"name": "onnx-rf", "version": version, "opset": 15})
    )
    assert conv["task"] == "regression" and conv["opset"] == 15 and conv["parity"]["passed"]
    assert conv["parity"]["label_agreement"] is None
    twin = mm.onnx_twin(trained.app, "onnx-rf", version, convert=False)
    session = ort.InferenceSession(str(twin.path), providers=["CPUExecutionProvider"])
    frame = _frame(trained)
    (values,) = session.run(None, _ort_feed(twin, frame))
    native = _native(trained, trained.forest_run).predict(frame)
    diff = np.abs(values.ravel().astype(np.float64) - native)
    assert np.all(diff <= 1e-5 + 1e-5 * np.abs(native))
    assert abs(conv["parity"]["max_abs_diff"] - diff.max()) < 1e-9


async def test_double_precision_regressor_matches_to_machine_precision(
    client: Client, trained: Trained
) -> None:
    version = await _register(client, "onnx-ridge", trained.regressor_run)
    conv = structured(await client.call_tool("onnx_convert", {"name": "onnx-ridge", "version": version}))
    assert {i["dtype"] for i in conv["inputs"]} == {"float64", "string"}
    assert conv["parity"]["max_abs_diff"] < 1e-12


def test_parity_refuses_outputs_off_by_more_than_the_tolerance(trained: Trained) -> None:
    from mcp_server.tools.registry import service as registry

    control = Control.unbounded()
    version = registry.register(
        trained.app, control, "onnx-off", trained.regressor_run, None, None, None, None
    ).version
    twin = mm.onnx_twin(trained.app, "onnx-off", version)
    frame = _frame(trained).head(50)
    rows = ox.records(frame)
    native = _native(trained, trained.regressor_run).predict(frame)
    session = rt.open_session(twin)
    assert ox.parity(twin, session, rows, native, None).passed
    nudged = native.copy()
    nudged[7] += 1e-3
    off = ox.parity(twin, session, rows, nudged, None)
    assert not off.passed and abs(off.max_abs_diff - 1e-3) < 1e-9


async def test_inspect_by_path_and_by_version(client: Client, trained: Trained, settings: Settings) -> None:
    import onnx

    version = await _register(client, "onnx-inspect", trained.classifier_run)
    structured(await client.call_tool("onnx_convert", {"name": "onnx-inspect", "version": version}))
    info = structured(await client.call_tool("onnx_inspect", {"name": "onnx-inspect", "version": version}))
    model = onnx.load(str(mm.onnx_cache(trained.app, "onnx-inspect", version) / "model.onnx"))
    assert info["nodes"] == len(model.graph.node) and info["safe"] is True
    counts: dict[str, int] = {}
    for node in model.graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        counts[key] = counts.get(key, 0) + 1
    assert info["operators"] == counts and "ai.onnx.ml.OneHotEncoder" in counts
    assert [i["name"] for i in info["inputs"]] == FEATURES
    assert {i["name"]: i["type"] for i in info["inputs"]}["colour"] == "string"
    assert info["inputs"][0]["shape"][1] == 1 and info["twin"]["task"] == "classification"
    assert info["opset"] == {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
    ws = settings.workspace_dir
    ok = _external_model(ws / "ext_ok", "weights.bin")
    (ws / "ext_ok" / "weights.bin").write_bytes(np.ones(1, dtype=np.float32).tobytes())
    inside = structured(await client.call_tool("onnx_inspect", {"path": "ext_ok/model.onnx"}))
    assert inside["safe"] is True and inside["external_data_files"] == ["weights.bin"]
    assert inside["operators"] == {"MatMul": 1} and inside["size_bytes"] == ok.stat().st_size + 4
    _external_model(ws / "ext_bad", "../ext_ok/weights.bin")
    bad = structured(await client.call_tool("onnx_inspect", {"path": "ext_bad/model.onnx"}))
    assert bad["safe"] is False and "outside the folder" in bad["safety"]
    assert_tool_error(
        await client.call_tool("registry_register_model", {"name": "ext", "source": "ext_bad/model.onnx"}),
        "outside the folder",
    )


async def test_benchmark_onnx_against_native(client: Client, trained: Trained) -> None:
    version = await _register(client, "onnx-bench", trained.forest_run)
    assert_tool_error(
        await client.call_tool(
            "onnx_benchmark", {"name": "onnx-bench", "version": version, "batch_sizes": [1]}
        ),
        "onnx_convert",
    )
    structured(await client.call_tool("onnx_convert", {"name": "onnx-bench", "version": version}))
    bench = structured(
        await client.call_tool(
            "onnx_benchmark",
            {"name": "onnx-bench", "version": version, "batch_sizes": [1, 64], "repeats": 10},
        )
    )
    assert [r["batch_size"] for r in bench["results"]] == [1, 64]
    for row in bench["results"]:
        assert row["onnx_p50_ms"] > 0 and row["native_p50_ms"] > 0
        assert abs(row["speedup"] - row["native_p50_ms"] / row["onnx_p50_ms"]) < 1e-9
    assert bench["estimator"] == "RandomForestRegressor"


async def test_bad_input_is_one_clear_error(client: Client, trained: Trained) -> None:
    version = await _register(client, "onnx-bad", trained.regressor_run)
    cases = [
        ("onnx_convert", {"name": "onnx-bad", "version": version, "opset": 3}, "opset must be between"),
        ("onnx_convert", {"name": "onnx-bad", "version": "42"}, "No version 42"),
        ("onnx_convert", {"name": "no such", "version": "1"}, "model name"),
        ("onnx_inspect", {}, "either `path`"),
        ("onnx_inspect", {"path": "x.onnx", "name": "onnx-bad", "version": "1"}, "either `path`"),
        ("onnx_inspect", {"name": "onnx-bad"}, "Give `version`"),
        ("onnx_inspect", {"path": "../../etc/passwd"}, "'..'"),
        ("onnx_inspect", {"path": "mixed.csv"}, "not a readable ONNX model"),
        ("onnx_inspect", {"name": "onnx-bad", "version": version}, "onnx_convert"),
        ("onnx_benchmark", {"name": "onnx-bad", "version": version, "batch_sizes": []}, "batch_sizes"),
    ]
    for tool, args, needle in cases:
        assert_tool_error(await client.call_tool(tool, args), needle)
