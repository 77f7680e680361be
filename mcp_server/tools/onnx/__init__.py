"""The onnx area: ONNX conversion with parity checks (skl2onnx), inspection and benchmarks (onnxruntime).

ONNX twins are logged to MLflow beside their source version (tag onnx_of=<name>/<version>) and cached
under <home>/cache/onnx/<name>/<version>/; `core.mlmodels.onnx_twin` and `runtime` are the contract the deploy
area and the gateway use. Importing this module is cheap: the libraries load inside the calls.
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.onnx.tools import CONVERT_DEADLINE_S, onnx_benchmark, onnx_convert, onnx_inspect

_TRAIN = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "LogisticRegression",
        "params": {"solver": "liblinear"},
        "features": ["age", "income", "segment"],
        "name": "example-onnx",
    },
)
_REGISTER = ("registry_register_model", {"name": "example-onnx", "source": "example-onnx"})
_CONVERT = ("onnx_convert", {"name": "example-onnx", "version": "1"})

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        onnx_convert,
        core=True,
        read_only=False,
        example={"name": "example-onnx", "version": "1"},
        setup=(_TRAIN, _REGISTER),
        deadline_s=CONVERT_DEADLINE_S,
    ),
    ToolSpec(
        onnx_inspect,
        core=False,
        read_only=True,
        idempotent=True,
        example={"name": "example-onnx", "version": "1"},
        setup=(_TRAIN, _REGISTER, _CONVERT),
    ),
    ToolSpec(
        onnx_benchmark,
        core=False,
        read_only=True,
        idempotent=True,
        example={"name": "example-onnx", "version": "1", "batch_sizes": [1, 16], "repeats": 5},
        setup=(_TRAIN, _REGISTER, _CONVERT),
        deadline_s=CONVERT_DEADLINE_S,
    ),
)
