"""Issue #26 items 2-4 over real HTTP against a gateway process (`mlops-mcp gateway --routes`), with clients
this project did not write: MLflow's own ScoringServerClient on /v1/endpoints/{e}/invocations (plus every
MLflow body format and CSV with httpx) and tritonclient's InferenceServerClient on the Open Inference
Protocol v2 routes. Each answer equals onnxruntime's on the same rows, and every format counts in the one
set of per-version metrics (what canary windows are judged on)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from mcp_server.core.config import Settings
from mcp_server.gateway.app import Gateway, HealthOpen, build_app
from tests.gateway.process import GatewayProcess, gateway_process, serve_plain

pytestmark = pytest.mark.timeout(120)
MIXED = ["age", "income", "segment"]


def write_mixed_twin(folder: Path) -> None:
    """A Pipeline (one-hot segment, numbers passed through) converted as the onnx area converts registered
    models: one [N, 1] input per column, text among them."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mcp_server.core.twin import OnnxTwin, write_twin
    from mcp_server.tools.onnx.adapter import convert_model

    rng = np.random.default_rng(5)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300).astype(float),
            "income": rng.normal(50, 10, 300),
            "segment": rng.choice(["a", "b", "c"], 300),
        }
    )
    y = ((X["age"] > 45) ^ (X["segment"] == "b")).astype(int)
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("seg", OneHotEncoder(), ["segment"]), ("num", "passthrough", ["age", "income"])]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)
    data, spec, _ = convert_model(model, MIXED, "classification", None, "mixed", "1")
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(data)
    write_twin(folder, OnnxTwin("mixed", "1", folder / "model.onnx", "classification", MIXED, spec))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("protocols")
    write_mixed_twin(root / "mixed1")
    serve_plain(root, "mixed")
    return root


@pytest.fixture(scope="module")
def gateway(root: Path) -> Iterator[GatewayProcess]:
    with gateway_process(root / "routes.json", root / "home", versions=2) as gw:
        yield gw


def reference(folder: Path, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """onnxruntime in this process on the same rows: the raw outputs by name."""
    from mcp_server.core import twin as rt

    twin = rt.load_twin(folder)
    return rt.run(rt.open_session(twin), twin, rt.make_feed(twin, rows))


def plain_rows(n: int = 7) -> list[dict[str, float]]:
    X = np.round(np.random.default_rng(1).normal(size=(n, 3)), 5)
    return [dict(zip("abc", map(float, r), strict=True)) for r in X]


def mixed_rows() -> list[dict[str, Any]]:
    return [
        {"age": 30.0, "income": 41.5, "segment": "a"},
        {"age": 61.0, "income": 55.0, "segment": "b"},
        {"age": 47.0, "income": 60.25, "segment": "c"},
        {"age": 22.0, "income": 38.0, "segment": "b"},
    ]


def version_rows(url: str, endpoint: str) -> int:
    stats = httpx.get(f"{url}/v1/stats", params={"endpoint": endpoint}).json()
    metrics = stats["endpoints"][endpoint]["versions"][0]["metrics"]
    return 0 if metrics is None else int(metrics["rows"])  # None: the version has served nothing yet


# -- MLflow's scoring protocol ----------------------------------------------------------------------


def test_mlflow_scoring_server_client_gets_onnxruntime_predictions(
    gateway: GatewayProcess, root: Path
) -> None:
    import pandas as pd
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    for endpoint, rows in (("plain", plain_rows()), ("mixed", mixed_rows())):
        client = ScoringServerClient("127.0.0.1", gateway.url.rsplit(":", 1)[1])
        client.url_prefix = f"{gateway.url}/v1/endpoints/{endpoint}"  # its /invocations under the endpoint
        got = client.invoke(pd.DataFrame(rows))  # posts {"dataframe_split": {index, columns, data}}
        want = reference(root / f"{endpoint}1", rows)["label"]
        assert got.get_predictions(predictions_format="ndarray").tolist() == want.tolist()


def test_every_mlflow_body_format_and_csv_answer_the_same(gateway: GatewayProcess, root: Path) -> None:
    rows = mixed_rows()
    want = reference(root / "mixed1", rows)["label"].tolist()
    values = [[r[c] for c in MIXED] for r in rows]
    bodies = [
        {"dataframe_split": {"columns": MIXED, "data": values}},
        {"dataframe_split": {"data": values}},  # no columns: the model's column order
        {"dataframe_records": rows},
        {"instances": rows},
        {"instances": values},
        {"inputs": {c: [r[c] for r in rows] for c in MIXED}},
        {"inputs": {c: [[r[c]] for r in rows] for c in MIXED}},  # [N, 1] per column
        {"inputs": values, "params": {"ignored": True}},
    ]
    url = f"{gateway.url}/v1/endpoints/mixed/invocations"
    before = version_rows(gateway.url, "mixed")
    with httpx.Client(timeout=10) as http:
        for body in bodies:
            answer = http.post(url, json=body)
            assert answer.status_code == 200, (body, answer.text)
            assert answer.json() == {"predictions": want}, body
        csv = "segment,age,income\n" + "".join(f"{r['segment']},{r['age']},{r['income']}\n" for r in rows)
        answer = http.post(url, content=csv, headers={"Content-Type": "text/csv; charset=utf-8"})
        assert answer.status_code == 200 and answer.json() == {"predictions": want}, answer.text
    assert version_rows(gateway.url, "mixed") - before == len(rows) * (len(bodies) + 1)


def test_mlflow_bad_input_gets_mlflows_error_shape(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/v1/endpoints/plain/invocations"
    cases: list[tuple[Any, int, str, str]] = [
        ([{"a": 1}], 400, "BAD_REQUEST", "Received a list"),
        ({"instances": [], "inputs": []}, 400, "BAD_REQUEST", "exactly one of the input fields"),
        ({"rows": [{"a": 1}]}, 400, "BAD_REQUEST", "exactly one of the input fields"),
        ({"dataframe_split": {"data": [[1, 2, 3]], "extra": 1}}, 400, "BAD_REQUEST", "'data' field"),
        (
            {"dataframe_records": [{"a": 1.0, "b": 2.0}]},
            400,
            "BAD_REQUEST",
            "lacks column 'c'; the model needs",
        ),
        ({"inputs": {"a": [1.0], "b": [1.0, 2.0], "c": [1.0]}}, 400, "BAD_REQUEST", "not the same"),
        ({"instances": [[1.0, 2.0]]}, 400, "BAD_REQUEST", "takes 3 columns in this order: ['a', 'b', 'c']"),
        ({"instances": [[0.0, 0.0, 0.0]] * 1001}, 400, "BAD_REQUEST", "over the limit of 1000"),
    ]
    with httpx.Client(timeout=10) as http:
        for body, status, code, text in cases:
            answer = http.post(url, json=body)
            assert answer.status_code == status, (body, answer.text)
            assert answer.json()["error_code"] == code and text in answer.json()["message"], answer.json()
        answer = http.post(
            url, content=b'{"instances": [[NaN, 1, 2]]}', headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400 and "feature 'a' is NaN" in answer.json()["message"]
        answer = http.post(url, content=b"{", headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error_code"] == "BAD_REQUEST"
        answer = http.post(url, content=b"a,b,c\n1,x,3\n", headers={"Content-Type": "text/csv"})
        assert answer.status_code == 400 and "takes a number, not 'x'" in answer.json()["message"]
        for content_type in (
            "application/xml",
            "application/json; charset=latin-1",
            "text/csv; format=pandas",
        ):
            answer = http.post(url, content=b"{}", headers={"Content-Type": content_type})
            assert answer.status_code == 415 and answer.headers["content-type"].startswith("text/plain"), (
                answer.text
            )
        answer = http.post(f"{gateway.url}/v1/endpoints/nope/invocations", json={"instances": [[1, 2, 3]]})
        assert answer.status_code == 404 and answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        huge = b'{"instances": [' + b"[1.0, 2.0, 3.0]," * 400_000 + b"[1, 2, 3]]}"
        answer = http.post(url, content=huge, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413 and "over the limit" in answer.json()["message"]
        assert http.post(url, json={"instances": [[1.0, 2.0, 3.0]]}).status_code == 200  # still serving


# -- Open Inference Protocol v2 ---------------------------------------------------------------------


def test_tritonclient_health_metadata_and_infer_equal_onnxruntime(
    gateway: GatewayProcess, root: Path
) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(gateway.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("plain") and client.is_model_ready("mixed", "1")
        assert not client.is_model_ready("nope")
        meta = client.get_model_metadata("plain")
        assert meta["name"] == "plain" and meta["versions"] == ["1"]
        assert [(i["datatype"], i["shape"]) for i in meta["inputs"]] == [("FP32", [-1, 3])]
        assert {o["name"] for o in meta["outputs"]} == {"label", "probabilities"}
        mixed = client.get_model_metadata("mixed", "1")
        assert {(i["name"], i["datatype"], tuple(i["shape"])) for i in mixed["inputs"]} == {
            ("age", "FP32", (-1, 1)),
            ("income", "FP32", (-1, 1)),
            ("segment", "BYTES", (-1, 1)),
        }

        rows = plain_rows(9)
        want = reference(root / "plain1", rows)
        X = np.array([[r[c] for c in "abc"] for r in rows], dtype=np.float32)
        for binary in (True, False):  # tritonclient's default binary tensors, and plain JSON
            tensor = triton.InferInput(meta["inputs"][0]["name"], list(X.shape), "FP32")
            tensor.set_data_from_numpy(X, binary_data=binary)
            outputs = (
                None
                if binary
                else [triton.InferRequestedOutput(n, binary_data=False) for n in ("label", "probabilities")]
            )
            result = client.infer("plain", [tensor], outputs=outputs, request_id="r-1")
            assert result.as_numpy("label").tolist() == want["label"].tolist()
            np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)
            assert result.get_response()["id"] == "r-1" and result.get_response()["model_version"] == "1"
        # Each feature as its own [N, 1] input, on a graph that takes one [N, 3] input.
        per_feature = []
        for j, c in enumerate("abc"):
            tensor = triton.InferInput(c, [len(rows), 1], "FP32")
            tensor.set_data_from_numpy(X[:, j : j + 1])
            per_feature.append(tensor)
        result = client.infer("plain", per_feature, model_version="1")
        assert result.as_numpy("label").tolist() == want["label"].tolist()

        # Text and numbers, one input per column (the graph's own inputs), binary BYTES included.
        rows = mixed_rows()
        want = reference(root / "mixed1", rows)
        tensors = []
        for c in MIXED:
            if c == "segment":
                data = np.array([[r[c].encode()] for r in rows], dtype=object)
                tensor = triton.InferInput(c, [len(rows), 1], "BYTES")
            else:
                data = np.array([[r[c]] for r in rows], dtype=np.float64)
                tensor = triton.InferInput(c, [len(rows), 1], "FP64")
            tensor.set_data_from_numpy(data)
            tensors.append(tensor)
        result = client.infer("mixed", tensors, outputs=[triton.InferRequestedOutput("label")])
        assert result.as_numpy("label").tolist() == want["label"].tolist()
        assert result.as_numpy("probabilities") is None  # only what was asked for
    finally:
        client.close()


def test_v2_refuses_bad_tensors_with_one_sentence(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/v2/models/plain/infer"

    def one(name: str = "a", **kw: Any) -> dict[str, Any]:
        return {"name": name, "shape": [1, 1], "datatype": "FP32", "data": [1.0], **kw}

    cases: list[tuple[Any, int, str]] = [
        ({"inputs": []}, 400, '"inputs" is empty'),
        ({"inputs": [one(datatype="FP128")]}, 400, "datatype must be one of"),
        ({"inputs": [one(shape=[1, 1, 1])]}, 400, "shape must be [N] or [N, k]"),
        ({"inputs": [one(shape=[2, 1])]}, 400, "1 values for shape [2, 1]"),
        ({"inputs": [one(data=["x"])]}, 400, "does not match datatype FP32"),
        ({"inputs": [one(), one("b")]}, 400, "Input 'c' is missing"),
        (
            {"inputs": [one(), one("b"), one("c"), one("zzz")]},
            400,
            "Input 'zzz' is not an input of the model",
        ),
        (
            {"inputs": [one(), one("b"), one("c", datatype="BYTES", data=["q"])]},
            400,
            "takes a number, not text",
        ),
        ({"inputs": [one(), one("b", data=[1e39]), one("c")]}, 400, "too large for the model's float32"),
        ({"inputs": [one(shape=[1001, 1], data=[0.0] * 1001)]}, 400, "over the limit of 1000"),
        ({"inputs": [one(), one("b"), one("c")], "outputs": [{"name": "nope"}]}, 400, "has no output 'nope'"),
    ]
    with httpx.Client(timeout=10) as http:
        for body, status, text in cases:
            answer = http.post(url, json=body)
            assert answer.status_code == status and text in answer.json()["error"], (body, answer.text)
        good = {"inputs": [one(), one("b"), one("c")]}
        answer = http.post(f"{gateway.url}/v2/models/plain/versions/9/infer", json=good)
        assert answer.status_code == 404 and "no loaded version '9'" in answer.json()["error"]
        header = json.dumps(good).encode()
        answer = http.post(
            url, content=header + b"xyz", headers={"Inference-Header-Content-Length": str(len(header))}
        )
        assert answer.status_code == 400 and "binary data that no input" in answer.json()["error"]
        assert http.post(url, json=good).status_code == 200
        assert http.get(f"{gateway.url}/v2/models/nope").status_code == 404


def test_all_formats_share_one_version_counter(gateway: GatewayProcess) -> None:
    before = version_rows(gateway.url, "plain")
    with httpx.Client(timeout=10) as http:
        assert (
            http.post(f"{gateway.url}/v1/endpoints/plain/predict", json={"rows": plain_rows(2)}).status_code
            == 200
        )
        body = {"instances": [[1.0, 2.0, 3.0]] * 3}
        assert http.post(f"{gateway.url}/v1/endpoints/plain/invocations", json=body).status_code == 200
        tensor = {"name": "X", "shape": [4, 3], "datatype": "FP64", "data": [0.5] * 12}
        infer = http.post(f"{gateway.url}/v2/models/plain/infer", json={"inputs": [tensor]})
        assert infer.status_code == 200 and infer.json()["outputs"][0]["shape"] == [4], infer.text
    assert version_rows(gateway.url, "plain") - before == 2 + 3 + 4


def test_token_guards_the_new_routes_but_not_the_v2_health_probes(root: Path, tmp_path: Path) -> None:
    app: Any = build_app(Gateway(Settings(home=tmp_path / "home"), routes_file=root / "routes.json"))
    with TestClient(HealthOpen(app, "s3cret")) as http:
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/health/ready").json() == {"ready": True}
        for method, path in (
            ("GET", "/v2/models/plain"),
            ("GET", "/v2/models/plain/ready"),
            ("POST", "/v2/models/plain/infer"),
            ("POST", "/v1/endpoints/plain/invocations"),
            ("GET", "/v2"),
        ):
            assert http.request(method, path).status_code == 401, path
        auth = {"Authorization": "Bearer s3cret"}
        assert http.get("/v2/models/plain/ready", headers=auth).json() == {"name": "plain", "ready": True}
        answer = http.post("/v1/endpoints/plain/invocations", json={"instances": [[1, 2, 3]]}, headers=auth)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1
