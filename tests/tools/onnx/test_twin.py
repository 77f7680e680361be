"""Contracts 1 and 2 against the real libraries: onnx_twin / runtime (skl2onnx, onnxruntime, MLflow) and
resolve_version (MLflow's registry)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcp_server.core import mlmodels as mm
from mcp_server.core import twin as rt
from mcp_server.core.boundary import Control
from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.tracking import mlflow_client
from mcp_server.tools.registry import service as registry
from tests.tools.registry.conftest import FEATURES, Trained


def _register(trained: Trained, name: str, run_id: str) -> str:
    return registry.register(
        trained.app, Control.unbounded(), name, run_id, None, None, None, "pytest"
    ).version


def _rows(trained: Trained, n: int = 40) -> tuple[pd.DataFrame, list[dict]]:
    df = pd.read_csv(trained.home / "workspace" / "mixed.csv")[FEATURES].head(n)
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]
    return df, rows


def test_twin_of_a_classifier_predicts_like_scikit_learn(trained: Trained) -> None:
    from mcp_server.core.mlmodels import load_run_model

    version = _register(trained, "twin-clf", trained.classifier_run)
    twin = mm.onnx_twin(trained.app, "twin-clf", version)
    assert twin.task == "classification" and twin.columns == FEATURES
    assert twin.path == trained.home / "cache" / "onnx" / "twin-clf" / version / "model.onnx"
    assert (twin.folder / "twin.json").is_file()
    assert twin.spec["parity"]["passed"] and twin.spec["parity"]["label_agreement"] == 1.0
    assert {i["dtype"] for i in twin.spec["inputs"]} == {"float64", "string"}
    df, rows = _rows(trained)
    native = load_run_model(trained.app, trained.classifier_run).model
    session = rt.open_session(twin)
    assert rt.predict(session, twin, rows) == [int(v) for v in native.predict(df)]
    detailed = rt.predict(session, twin, rows[:3], probabilities=True)
    expected = native.predict_proba(df.head(3))
    for got, want in zip(detailed, expected, strict=True):
        assert np.allclose([got["probabilities"]["0"], got["probabilities"]["1"]], want, atol=1e-9)
    # the folder alone (what the gateway reads) gives the same twin
    again = rt.load_twin(twin.folder)
    assert again.columns == twin.columns and again.spec["inputs"] == twin.spec["inputs"]


def test_twin_is_found_from_the_source_version_and_fetched_again(trained: Trained) -> None:
    version = _register(trained, "twin-ridge", trained.regressor_run)
    with pytest.raises(NotFound, match="onnx_convert"):
        mm.onnx_twin(trained.app, "twin-ridge", version, convert=False)
    first = mm.onnx_twin(trained.app, "twin-ridge", version)
    assert first.task == "regression"
    client = mlflow_client(trained.app)
    tags = client.get_model_version("twin-ridge", version).tags
    logged = client.get_logged_model(tags[mm.ONNX_MODEL_TAG])
    assert logged.tags[mm.ONNX_OF_TAG] == f"twin-ridge/{version}"
    assert logged.source_run_id == trained.regressor_run
    shutil.rmtree(first.folder)  # a cold cache downloads the logged twin from MLflow
    second = mm.onnx_twin(trained.app, "twin-ridge", version, convert=False)
    assert second.path.is_file() and second.spec["inputs"] == first.spec["inputs"]


def test_make_feed_refuses_missing_extra_and_ill_typed_columns(trained: Trained) -> None:
    version = _register(trained, "twin-feed", trained.classifier_run)
    twin = mm.onnx_twin(trained.app, "twin-feed", version)
    _, rows = _rows(trained, 2)
    feed = rt.make_feed(twin, rows)
    assert feed["colour"].shape == (2, 1) and feed["num_clean"].dtype == np.float64
    with pytest.raises(ValueError, match="lacks column 'colour'"):
        rt.make_feed(twin, [{k: v for k, v in rows[0].items() if k != "colour"}])
    with pytest.raises(ValueError, match="has column 'extra'"):
        rt.make_feed(twin, [{**rows[0], "extra": 1}])
    with pytest.raises(ValueError, match="takes a number"):
        rt.make_feed(twin, [{**rows[0], "num_clean": "high"}])
    with pytest.raises(ValueError, match="takes text"):
        rt.make_feed(twin, [{**rows[0], "colour": 3}])
    with pytest.raises(ValueError):
        rt.make_feed(twin, [])


def test_resolve_version_by_number_and_alias(trained: Trained) -> None:
    v1 = _register(trained, "resolve-me", trained.regressor_run)
    v2 = _register(trained, "resolve-me", trained.regressor_run)
    mlflow_client(trained.app).set_registered_model_alias("resolve-me", "champion", v2)
    assert mm.resolve_version(trained.app, "resolve-me", v1, None) == v1
    assert mm.resolve_version(trained.app, "resolve-me", None, "champion") == v2
    with pytest.raises(InvalidInput, match="exactly one"):
        mm.resolve_version(trained.app, "resolve-me", v1, "champion")
    with pytest.raises(InvalidInput, match="exactly one"):
        mm.resolve_version(trained.app, "resolve-me", None, None)
    with pytest.raises(NotFound, match="no alias 'ghost'"):
        mm.resolve_version(trained.app, "resolve-me", None, "ghost")
    with pytest.raises(NotFound, match="No version 99"):
        mm.resolve_version(trained.app, "resolve-me", "99", None)
    with pytest.raises(InvalidInput):
        mm.resolve_version(trained.app, "../etc", "1", None)


def _external_model(folder: Path, location: str) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weight = numpy_helper.from_array(np.ones((1, 1), dtype=np.float32), "W")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [weight],
    )
    path = folder / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_external_data_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(np.ones(1, dtype=np.float32).tobytes())
    bad = _external_model(tmp_path / "m", "../secret.bin")
    with pytest.raises(InvalidInput, match="outside the folder"):
        mm.load_checked(bad)
    absolute = _external_model(tmp_path / "a", str(tmp_path / "secret.bin"))
    with pytest.raises(InvalidInput, match="outside the folder"):
        mm.load_checked(absolute)
    inside = _external_model(tmp_path / "ok", "weights.bin")
    (tmp_path / "ok" / "weights.bin").write_bytes(np.ones(1, dtype=np.float32).tobytes())
    model = mm.load_checked(inside)
    assert model.graph.initializer[0].name == "W"
