"""Issue #22 item 11 over HTTP against a real gateway process (`mlops-mcp gateway --routes`): NaN, +-Infinity,
overflowing numbers and null without a missing-value rule get 400 naming the row and feature and count as
rejected; a Host header that is not a loopback name gets 421 on a loopback bind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from mcp_server.core.net import host_name, is_loopback
from tests.gateway.process import gateway_process, serve_plain
from tests.gateway.test_app import COLUMNS


def write_imputed_twin(folder: Path) -> None:
    """A Pipeline whose column "a" had gaps (median imputer) and "b", "c" did not, converted the way the
    onnx area converts registered models (one float64 input per column)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from mcp_server.core.twin import OnnxTwin
    from mcp_server.core.twin import write_twin as save
    from mcp_server.tools.onnx.adapter import convert_model

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=COLUMNS)
    y = (X["a"] + X["b"] > 0).astype(int)
    X.loc[::7, "a"] = np.nan
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("impute", SimpleImputer(strategy="median"), ["a"]), ("keep", "passthrough", ["b", "c"])]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(X, y)
    data, spec, _ = convert_model(model, COLUMNS, "classification", None, "imp", "1")
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(data)
    save(folder, OnnxTwin("imp", "1", folder / "model.onnx", "classification", COLUMNS, spec))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway on 127.0.0.1 serving "plain" (bare LogisticRegression, float32 input) and "imputed"."""
    root = tmp_path_factory.mktemp("values")
    write_imputed_twin(root / "imputed1")
    routes = serve_plain(root, "imputed")
    with gateway_process(routes, root / "home", versions=2) as gateway:
        yield gateway.url


def rejected(url: str, endpoint: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(rf'mlops_gateway_rejected_total\{{endpoint="{endpoint}",version="1"\}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


GOOD = b'{"rows": [{"a": 0.5, "b": -1.0, "c": 2.0}]}'


@pytest.mark.parametrize(
    ("endpoint", "body", "needle"),
    [
        ("plain", b'{"rows": [{"a": NaN, "b": 1, "c": 1}]}', "Row 0: feature 'a' is NaN"),
        (
            "plain",
            b'{"rows": [{"a": 1, "b": 1, "c": 1}, {"a": 1, "b": Infinity, "c": 1}]}',
            "Row 1: feature 'b' is Infinity",
        ),
        ("plain", b'{"rows": [{"a": 1, "b": 1, "c": -Infinity}]}', "Row 0: feature 'c' is -Infinity"),
        ("plain", b'{"rows": [{"a": 1e999999, "b": 1, "c": 1}]}', "Row 0: feature 'a' is Infinity"),
        (
            "plain",
            b'{"columns": ["a", "b", "c"], "data": [[1, 2, 3], [1, null, 3]]}',
            "Row 1: feature 'b' is null",
        ),
        ("plain", b'{"rows": [{"a": 1e39, "b": 1, "c": 1}]}', "too large for the model's float32 input"),
        ("plain", b'{"rows": [{"a": 1' + b"0" * 400 + b', "b": 1, "c": 1}]}', "a 401-digit number"),
        ("imputed", b'{"rows": [{"a": 1, "b": null, "c": 1}]}', "Row 0: feature 'b' is null"),
        ("imputed", b'{"rows": [{"a": NaN, "b": 1, "c": 1}]}', "or null for a missing value"),
    ],
)
def test_bad_numbers_get_400_naming_row_and_feature(
    gateway: str, endpoint: str, body: bytes, needle: str
) -> None:
    url = f"{gateway}/v1/endpoints/{endpoint}/predict"
    before = rejected(gateway, endpoint)
    response = httpx.post(url, content=body, timeout=5)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert needle in error and error.count(".") <= 2 and error.endswith("."), error
    assert rejected(gateway, endpoint) == before + 1
    assert httpx.post(url, content=GOOD, timeout=5).status_code == 200  # still serving
    assert rejected(gateway, endpoint) == before + 1


def test_null_is_served_where_the_model_imputes_it(gateway: str) -> None:
    """Column "a" of the imputed model had gaps in training: null there gets the imputed answer."""
    url = f"{gateway}/v1/endpoints/imputed/predict"
    response = httpx.post(url, json={"rows": [{"a": None, "b": 0.5, "c": 0.0}]}, timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] in ([0], [1])


def test_only_loopback_host_names_are_answered(gateway: str) -> None:
    port = gateway.rsplit(":", 1)[1]
    for path in ("/healthz", "/metrics"):
        refused = httpx.get(f"{gateway}{path}", headers={"Host": "evil.example"}, timeout=5)
        assert refused.status_code == 421 and "not a loopback name" in refused.json()["error"]
    refused = httpx.post(
        f"{gateway}/v1/endpoints/plain/predict",
        content=GOOD,
        headers={"Host": f"evil.example:{port}"},
        timeout=5,
    )
    assert refused.status_code == 421 and '"evil.example:' in refused.json()["error"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.1"):
        served = httpx.post(
            f"{gateway}/v1/endpoints/plain/predict", content=GOOD, headers={"Host": host}, timeout=5
        )
        assert served.status_code == 200, (host, served.text)


@pytest.mark.parametrize(
    ("header", "loopback"),
    [
        ("127.0.0.1:8780", True),
        ("LOCALHOST", True),
        ("[::1]:8780", True),
        ("", False),
        ("evil.example:8780", False),
        ("127.0.0.1.evil.example", False),
        ("localhost:", False),
    ],
)
def test_host_name(header: str, loopback: bool) -> None:
    assert is_loopback(host_name(header)) is loopback
