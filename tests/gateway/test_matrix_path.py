"""The one-matrix fast path (app.Matrix): a version whose graph takes every column in one float [N, k] input
gets a batch of clean numbers as one matrix, whatever the format (v1 rows, MLflow's formats, Open Inference v2
JSON tensors read in one pass by protocols._fast_tensors, v2 binary tensors). Over real HTTP against a gateway
process: the answers equal onnxruntime's on the same rows, columns in any order, one row or many; a bad value
still gets the general path's sentence; tritonclient's binary tensors (inputs and outputs) on a 1,000-row
batch equal onnxruntime's. In process: the direct dispatch of the prediction routes answers as Starlette
would (405, 404, a handler's unexpected error as a plain 500), the monitor sketches a matrix as it sketches
the same rows, and start-up freezes its heap out of the collector's way."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from mcp_server.core.config import Settings
from mcp_server.gateway.app import Gateway, build_app
from tests.gateway.process import gateway_process, serve_plain
from tests.gateway.test_protocols import reference

pytestmark = pytest.mark.timeout(120)
COLUMNS = ["a", "b", "c"]  # "plain": a LogisticRegression on one float32 [N, 3] input "X"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("matrix")
    routes = serve_plain(root)
    with gateway_process(routes, root / "home", versions=1) as gw:
        yield gw.url, root


def rows_of(n: int, seed: int = 11) -> list[dict[str, float]]:
    X = np.round(np.random.default_rng(seed).normal(size=(n, 3)), 5)
    return [dict(zip(COLUMNS, map(float, r), strict=True)) for r in X]


def per_feature(rows: list[dict[str, Any]], order: list[str], datatype: str = "FP64") -> dict[str, Any]:
    n = len(rows)
    return {
        "inputs": [
            {"name": c, "shape": [n, 1], "datatype": datatype, "data": [r[c] for r in rows]} for c in order
        ]
    }


@pytest.mark.parametrize("n", [1, 50])
def test_every_format_equals_onnxruntime_with_columns_in_any_order(served: tuple[str, Path], n: int) -> None:
    url, root = served
    rows = rows_of(n)
    want = reference(root / "plain1", rows)
    labels = want["label"].tolist()
    shuffled = ["c", "a", "b"]
    with httpx.Client(timeout=10) as http:
        v1 = [
            {"rows": [{c: r[c] for c in shuffled} for r in rows]},
            {"columns": shuffled, "data": [[r[c] for c in shuffled] for r in rows]},
        ]
        for body in v1:
            answer = http.post(f"{url}/v1/endpoints/plain/predict", json=body)
            assert answer.status_code == 200 and answer.json()["predictions"] == labels, answer.text
        mlflow = [
            {"dataframe_split": {"columns": shuffled, "data": [[r[c] for c in shuffled] for r in rows]}},
            {"dataframe_records": rows},
            {"instances": [[r[c] for c in COLUMNS] for r in rows]},
        ]
        for body in mlflow:
            answer = http.post(f"{url}/v1/endpoints/plain/invocations", json=body)
            assert answer.status_code == 200 and answer.json()["predictions"] == labels, answer.text
        whole = {
            "name": "X",
            "shape": [n, 3],
            "datatype": "FP32",
            "data": [r[c] for r in rows for c in COLUMNS],
        }
        for body in (per_feature(rows, shuffled), per_feature(rows, COLUMNS, "FP32"), {"inputs": [whole]}):
            answer = http.post(f"{url}/v2/models/plain/infer", json=body)
            assert answer.status_code == 200, answer.text
            outputs = {o["name"]: o for o in answer.json()["outputs"]}
            assert outputs["label"]["data"] == labels and outputs["label"]["shape"] == [n]
            got = np.array(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"])
            np.testing.assert_allclose(got, want["probabilities"], rtol=1e-6)


def test_a_bad_value_in_a_v2_tensor_gets_the_general_sentence(served: tuple[str, Path]) -> None:
    url, _ = served
    rows = rows_of(20)
    with httpx.Client(timeout=10) as http:
        for value, needle in (
            (None, "Row 7: feature 'b' is NaN (a missing value)"),
            ("NaN", "Row 7: feature 'b' is NaN (a missing value)"),
            ("Infinity", "Row 7: feature 'b' is Infinity"),
            (1e39, "Row 7: feature 'b' is 1e+39, too large for the model's float32 input"),
            ("x", "Input 'b': data does not match datatype FP64"),
            ([1.0], "Input 'b': data does not match datatype FP64"),
        ):
            body = per_feature(rows, COLUMNS)
            if value in ("NaN", "Infinity"):  # literals only the stdlib parser reads (as the gateway does)
                text = json.dumps(body).replace(json.dumps(rows[7]["b"]), value, 1)
                content = text.encode()
            else:
                body["inputs"][1]["data"][7] = value
                content = json.dumps(body).encode()
            answer = http.post(f"{url}/v2/models/plain/infer", content=content)
            assert answer.status_code == 400, (value, answer.text)
            error = answer.json()["error"]
            assert error.startswith(needle) and error.endswith("."), (value, error)
        # Shapes the one-pass reader leaves to the general loop are still read by it.
        body = per_feature(rows, COLUMNS)
        body["inputs"][0]["shape"] = [20]  # [N] beside [N, 1]
        body["inputs"][2]["data"] = [[v] for v in body["inputs"][2]["data"]]  # nested data
        body["inputs"][1]["parameters"] = {"note": "ignored"}
        answer = http.post(f"{url}/v2/models/plain/infer", json=body)
        assert answer.status_code == 200, answer.text


def test_tritonclient_binary_tensors_on_a_1000_row_batch_equal_onnxruntime(served: tuple[str, Path]) -> None:
    import tritonclient.http as triton

    url, root = served
    rows = rows_of(1000, seed=3)
    want = reference(root / "plain1", rows)
    X = np.array([[r[c] for c in COLUMNS] for r in rows])
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    try:
        wanted = [triton.InferRequestedOutput(n, binary_data=True) for n in ("label", "probabilities")]
        whole = triton.InferInput("X", list(X.shape), "FP32")
        whole.set_data_from_numpy(X.astype(np.float32), binary_data=True)
        features = []
        for j, c in enumerate(COLUMNS):  # each feature its own [N, 1] input, FP64, in binary
            tensor = triton.InferInput(c, [len(rows), 1], "FP64")
            tensor.set_data_from_numpy(X[:, j : j + 1], binary_data=True)
            features.append(tensor)
        for inputs in ([whole], features):
            result = client.infer("plain", inputs, outputs=wanted)
            raw = result.get_response()
            assert all(o["parameters"]["binary_data_size"] > 0 for o in raw["outputs"])  # sent in binary
            assert result.as_numpy("label").tolist() == want["label"].tolist()
            np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)
    finally:
        client.close()


def test_direct_dispatch_answers_as_starlette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    routes = serve_plain(tmp_path)
    gateway = Gateway(Settings(home=tmp_path / "home"), routes_file=routes)
    app: Any = build_app(gateway)
    with TestClient(app, raise_server_exceptions=False) as http:
        assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's walks
        good = {"rows": rows_of(1)}
        assert http.post("/v1/endpoints/plain/predict", json=good).status_code == 200
        assert http.get("/v1/endpoints/plain/predict").status_code == 405
        assert http.post("/v1/endpoints/plain/nope", json=good).status_code == 404
        answer = http.post("/v2/models/plain/versions/1/infer", json=per_feature(rows_of(2), COLUMNS))
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"

        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(gateway, "predict", broken)
        answer = http.post("/v1/endpoints/plain/predict", json=good)
        assert answer.status_code == 500 and answer.text == "Internal Server Error"
    assert gc.get_freeze_count() == 0  # given back at shutdown


def test_the_monitor_sketches_a_matrix_as_the_same_rows() -> None:
    from mcp_server.gateway.monitoring import WindowSketches

    rows = rows_of(150)  # under the KLL's k: no compaction, so the sketches are exact and comparable
    labels = [int(r["a"] > 0) for r in rows]
    by_rows, by_matrix = WindowSketches(COLUMNS, [], False, 200), WindowSketches(COLUMNS, [], False, 200)
    by_rows.add(rows, labels)
    matrix = np.array([[r[c] for c in COLUMNS] for r in rows])
    by_matrix.add_matrix(COLUMNS, matrix[:100], labels[:100])
    by_matrix.add_matrix(COLUMNS, matrix[100:], labels[100:])
    assert by_matrix.rows == by_rows.rows == 150
    for a, b in zip(by_rows.entries(), by_matrix.entries(), strict=True):
        assert (a.name, a.n, a.nulls, a.data) == (b.name, b.n, b.nulls, b.data)
