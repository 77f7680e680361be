"""Issue #26 item 1: a user's ONNX file with one [N, k] input gets its columns' names from
`registry_register_model(feature_names=...)` (checked against k), else from the file's metadata_props, and
only then x0..x(k-1); the gateway's feed error for a missing column lists them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import assert_tool_error, structured


def write_onnx(path: Path, metadata: dict[str, str] | None = None) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(50, 3))
    onx = to_onnx(LinearRegression().fit(X, X @ [1.0, 2.0, 3.0]), X[:1].astype(np.float32))
    for key, value in (metadata or {}).items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    path.write_bytes(onx.SerializeToString())


def columns_of(settings: Settings, name: str, version: str) -> list[str]:
    from mcp_server.core.mlmodels import onnx_twin

    app = AppContext.from_settings(settings)
    try:
        return list(onnx_twin(app, name, version, convert=False).columns)
    finally:
        app.close()


async def register(client: Client, **args: object) -> dict:
    return structured(await client.call_tool("registry_register_model", args))


async def test_feature_names_then_metadata_then_x0(client: Client, settings: Settings) -> None:
    ws = settings.workspace_dir
    write_onnx(ws / "plain.onnx")
    write_onnx(ws / "named.onnx", {"feature_names": json.dumps(["age", "income", "tenure"])})

    given = await register(client, name="fn", source="plain.onnx", feature_names=["f_a", "f_b", "f_c"])
    assert given["source"] == "onnx_file"
    assert columns_of(settings, "fn", given["version"]) == ["f_a", "f_b", "f_c"]
    from_meta = await register(client, name="fn", source="named.onnx")
    assert columns_of(settings, "fn", from_meta["version"]) == ["age", "income", "tenure"]
    fallback = await register(client, name="fn", source="plain.onnx")
    assert columns_of(settings, "fn", fallback["version"]) == ["x0", "x1", "x2"]

    result = await client.call_tool(
        "registry_register_model", {"name": "fn", "source": "plain.onnx", "feature_names": ["a", "b"]}
    )
    assert_tool_error(result, "feature_names lists 2 names, but 'plain.onnx' takes 3 columns")
    result = await client.call_tool(
        "registry_register_model", {"name": "fn", "source": "plain.onnx", "feature_names": ["a", "a", "b"]}
    )
    assert_tool_error(result, "names 'a' twice")


def test_the_feed_error_lists_the_models_columns(settings: Settings) -> None:
    from mcp_server.core.twin import OnnxTwin, make_feed

    twin = OnnxTwin("m", "1", Path("m.onnx"), "regression", ["age", "income", "tenure"], {"inputs": []})
    with pytest.raises(
        ValueError, match=r"lacks column 'tenure'; the model needs \['age', 'income', 'tenure'\]"
    ):
        make_feed(twin, [{"age": 1, "income": 2}])
