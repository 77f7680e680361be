"""The single-row fast paths of the Open Inference v2 infer route (and the shared dispatch) answer exactly as
the general ones: `protocols._fast_tensors` against the general tensor loop of `v2_batch` (forced by
patching the fast reader away), `v2_answer`'s branch for a request of "inputs" alone against the general
branch, the request id header as MutableHeaders writes it, and the direct dispatch's skip of routes a path
cannot match. Same status, body, headers, metrics and monitor queue, on good and on odd input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.responses import Response
from starlette.testclient import TestClient

from mcp_server.core.config import Settings
from mcp_server.gateway import monitoring, protocols
from mcp_server.gateway.app import REQUEST_ID, Gateway, Matrix, _add_request_id, _literal_tail, build_app
from tests.gateway.process import serve_plain

pytestmark = pytest.mark.timeout(120)
COLUMNS = ["a", "b", "c"]  # "plain": a LogisticRegression on one float32 [N, 3] input "X"
ROW = {"a": 0.25, "b": -1.5, "c": 2.0}


def per_feature(n: int = 1, datatype: str = "FP64", shape: list[int] | None = None) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": c,
                "shape": list(shape) if shape is not None else [n, 1],
                "datatype": datatype,
                "data": [ROW[c] + i for i in range(n)],
            }
            for c in COLUMNS
        ]
    }


def edited(change: Any, body: dict[str, Any] | None = None) -> bytes:
    body = body if body is not None else per_feature()
    change(body)
    return json.dumps(body).encode()


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


BODIES: dict[str, bytes] = {
    "good one row": edited(lambda b: None),
    "good FP32": json.dumps(per_feature(datatype="FP32")).encode(),
    "good [N] shapes": json.dumps(per_feature(shape=[1])).encode(),
    "good 2 rows": json.dumps(per_feature(2)).encode(),
    "good other order": edited(lambda b: b["inputs"].reverse()),
    "good whole input": json.dumps(
        {"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [0.25, -1.5, 2.0]}]}
    ).encode(),
    "good int and bool values": edited(_set(("inputs", 0, "data"), [True])),
    "good int value": edited(_set(("inputs", 1, "data"), [3])),
    "good text number": edited(_set(("inputs", 1, "data"), ["1.5"])),
    "good mixed FP32 FP64": edited(_set(("inputs", 2, "datatype"), "FP32")),
    "good with id": edited(_set(("id",), "r-1")),
    "good outputs asked": edited(_set(("outputs",), [{"name": "label"}])),
    "good binary output asked": edited(
        _set(("outputs",), [{"name": "probabilities", "parameters": {"binary_data": True}}])
    ),
    "good parameters": edited(_set(("parameters",), {"binary_data_output": False})),
    "datatype INT64": edited(_set(("inputs", 0, "datatype"), "INT64")),
    "datatype BYTES": edited(_set(("inputs", 0, "datatype"), "BYTES")),
    "datatype unknown": edited(_set(("inputs", 0, "datatype"), "FP99")),
    "datatype missing": edited(lambda b: b["inputs"][0].pop("datatype")),
    "datatype number": edited(_set(("inputs", 0, "datatype"), 64)),
    "datatype list": edited(_set(("inputs", 1, "datatype"), [1])),
    "datatype object": edited(_set(("inputs", 0, "datatype"), {"FP64": 1})),
    "shape [2, 1], one value": edited(_set(("inputs", 0, "shape"), [2, 1])),
    "shape [1, 2]": edited(_set(("inputs", 0, "shape"), [1, 2])),
    "shapes [1, 1] and [1]": edited(_set(("inputs", 2, "shape"), [1])),
    "shape [1.0, 1] on a later input": edited(_set(("inputs", 1, "shape"), [1.0, 1])),
    "shape [True, 1] on a later input": edited(_set(("inputs", 2, "shape"), [True, 1])),
    "shape [1, 1.0] on the first input": edited(_set(("inputs", 0, "shape"), [1, 1.0])),
    "shape [1, null]": edited(_set(("inputs", 1, "shape"), [1, None])),
    "shape [[1], 1]": edited(_set(("inputs", 0, "shape"), [[1], 1])),
    "shape [0, 1]": json.dumps(per_feature(0)).encode(),
    "shape [-1, 1]": edited(_set(("inputs", 0, "shape"), [-1, 1])),
    "shape text": edited(_set(("inputs", 0, "shape"), "11")),
    "shape number": edited(_set(("inputs", 0, "shape"), 1)),
    "shape 3-D": edited(_set(("inputs", 0, "shape"), [1, 1, 1])),
    "shape huge": edited(_set(("inputs", 1, "shape"), [2**70, 1])),
    "too many rows": json.dumps(per_feature(3)).encode(),
    "missing input": edited(lambda b: b["inputs"].pop(1)),
    "extra input": edited(
        lambda b: b["inputs"].append({"name": "d", "shape": [1, 1], "datatype": "FP64", "data": [1.0]})
    ),
    "name twice": edited(_set(("inputs", 1, "name"), "a")),
    "name not text": edited(_set(("inputs", 1, "name"), 7)),
    "data text": edited(_set(("inputs", 1, "data"), ["x"])),
    "data null": edited(_set(("inputs", 1, "data"), [None])),
    "data nested": edited(_set(("inputs", 1, "data"), [[1.0]])),
    "data object": edited(_set(("inputs", 1, "data"), [{"v": 1}])),
    "data not a list": edited(_set(("inputs", 1, "data"), 1.5)),
    "data too long": edited(_set(("inputs", 1, "data"), [1.0, 2.0])),
    "data empty": edited(_set(("inputs", 1, "data"), [])),
    "data missing": edited(lambda b: b["inputs"][1].pop("data")),
    "data too large for float32": edited(_set(("inputs", 1, "data"), [1e39])),
    "data huge integer": edited(_set(("inputs", 1, "data"), [10**400])),
    "extra key parameters": edited(_set(("inputs", 1, "parameters"), {"note": "x"})),
    "input not an object": edited(_set(("inputs", 1), [1, 2])),
    "inputs empty": json.dumps({"inputs": []}).encode(),
    "inputs not a list": json.dumps({"inputs": {"a": 1}}).encode(),
    "no inputs": json.dumps({"outputs": []}).encode(),
    "body a list": b"[1, 2]",
    "bad JSON": b'{"inputs": [',
    "not UTF-8": b'{"inputs": "\xff"}',
    "NaN literal": json.dumps(per_feature()).replace("-1.5", "NaN").encode(),
    "Infinity literal": json.dumps(per_feature()).replace("2.0", "-Infinity").encode(),
    "output unknown": edited(_set(("outputs",), [{"name": "nope"}])),
}


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serve_plain(tmp_path_factory.mktemp("v2fast"))


def answers(routes: Path, home: Path, path: str) -> Iterator[tuple[str, Any]]:
    """(name, (status, body, headers but the request id's value, metrics, monitor queue)) for every body."""
    settings = Settings(home=home, gateway_max_batch=2)
    gateway = Gateway(settings, routes_file=routes)
    monitor = monitoring.Monitor(settings, object(), "r1")  # enabled (a store), never flushed
    gateway._monitor = monitor  # type: ignore[attr-defined]
    with TestClient(build_app(gateway), raise_server_exceptions=False) as http:
        for name, body in BODIES.items():
            answer = http.post(path, content=body, headers={"content-type": "application/json"})
            headers = [(k, "<id>" if k == REQUEST_ID.lower() else v) for k, v in answer.headers.items()]
            assert (REQUEST_ID.lower() in dict(headers)) == (answer.status_code == 200), (name, headers)
            queued = []
            for item in monitor.drain():
                data = item.data.bind(item.loaded) if hasattr(item.data, "bind") else item.data
                values = data.values.tolist() if isinstance(data, Matrix) else data
                queued.append((item.endpoint, item.version, item.size, item.outputs, values))
            stats = {k: (s.requests, s.errors, s.rejected, s.rows) for k, s in gateway.metrics.stats.items()}
            yield name, (answer.status_code, answer.content, headers, stats, queued)


@pytest.mark.parametrize("path", ["/v2/models/plain/infer", "/v2/models/plain/versions/1/infer"])
def test_the_fast_reader_answers_as_the_general_loop(
    routes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    fast = dict(answers(routes, tmp_path / "fast", path))
    monkeypatch.setattr(protocols, "_fast_tensors", lambda *_: None)
    general = dict(answers(routes, tmp_path / "general", path))
    for name in BODIES:
        assert fast[name] == general[name], name
    ok = {name for name, got in fast.items() if got[0] == 200}
    assert {n for n in BODIES if n.startswith("good")} <= ok
    refused = {n for n in BODIES if not n.startswith("good")} - ok
    assert len(refused) >= 40 and "data nested" in ok  # the general loop reads [[v]] for shape [1, 1]
    assert fast["shape [1.0, 1] on a later input"][0] == 400  # equal shapes that are not all ints
    assert b"shape must be [N] or [N, k]" in fast["shape [True, 1] on a later input"][1]
    for odd in ("datatype list", "datatype object"):  # unhashable: one 400 sentence, not a 500
        assert fast[odd][0] == 400 and b"datatype must be one of" in fast[odd][1], fast[odd]


def test_the_fast_reader_takes_the_common_shapes_only() -> None:
    read = protocols._fast_tensors
    for name in ("good one row", "good FP32", "good [N] shapes", "good 2 rows", "good whole input"):
        block = read(json.loads(BODIES[name])["inputs"], 1000)
        assert block is not None, name
    single = read(json.loads(BODIES["good one row"])["inputs"], 1000)
    assert single is not None
    names, shapes, values, by_input = single
    assert names == COLUMNS and shapes == [[1, 1]] * 3 and by_input
    assert values.dtype == np.float64 and values.tolist() == [[0.25], [-1.5], [2.0]]
    # Read as the general loop reads them (np.asarray: null is NaN), refused later, when bound to the input.
    taken = {"data too large for float32", "data null"}
    for name, body in BODIES.items():
        if name.startswith(("shape", "data", "datatype", "name")) and name not in taken:
            inputs = json.loads(body)["inputs"]
            assert read(inputs, 2) is None, name
    assert read(json.loads(BODIES["too many rows"])["inputs"], 2) is None
    assert protocols._all_ints([[1, 1], [1, 1]]) and protocols._all_ints([[2**63 + 1]])
    assert not protocols._all_ints([[1, 1], [1.0, 1]]) and not protocols._all_ints([[1], [True]])


def test_the_answer_of_inputs_alone_is_the_general_answer() -> None:
    outputs: dict[str, Any] = {
        "label": np.array([1, 0], dtype=np.int64),
        "probabilities": np.array([[0.25, 0.75], [0.5, 0.5]]),
        "text": np.array(["x", "yz"]),
        "objects": np.array(["p", None], dtype=object),
        "half": np.array([1.5], dtype=np.float16),
        "big endian": np.array([3], dtype=">i4"),
        "complex": np.array([1j]),  # no v2 type: left out
        "zipmap": [{"0": 0.5}],  # not a tensor: left out
    }
    alone = protocols.v2_answer("plain", "1", outputs, {"inputs": []})
    general = protocols.v2_answer("plain", "1", outputs, {"inputs": [], "parameters": {}})
    assert alone.body == general.body and alone.raw_headers == general.raw_headers
    answer = json.loads(alone.body)
    assert [(o["name"], o["datatype"], o["shape"]) for o in answer["outputs"]] == [
        ("label", "INT64", [2]),
        ("probabilities", "FP64", [2, 2]),
        ("text", "BYTES", [2]),
        ("objects", "BYTES", [2]),
        ("half", "FP16", [1]),
        ("big endian", "INT32", [1]),
    ]
    assert answer["outputs"][3]["data"] == ["p", "None"]


def test_the_request_id_header_is_the_one_mutable_headers_writes() -> None:
    mine, theirs = (
        Response(b"{}", media_type="application/json"),
        Response(b"{}", media_type="application/json"),
    )
    _add_request_id(mine, "0123abcd")
    theirs.headers[REQUEST_ID] = "0123abcd"
    assert mine.raw_headers == theirs.raw_headers


def test_direct_dispatch_skips_only_routes_a_path_cannot_match(routes: Path, tmp_path: Path) -> None:
    assert _literal_tail("/v1/endpoints/{endpoint}/predict") == "/predict"
    assert _literal_tail("/v2/models/{endpoint}/versions/{version}") == ""
    gateway = Gateway(Settings(home=tmp_path / "home"), routes_file=routes)
    app: Any = build_app(gateway)
    assert [tail for tail, _ in app.direct] == ["/predict", "/invocations", "/infer", "/infer"]
    body = {"rows": [ROW]}
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.post("/v1/endpoints/plain/predict", json=body).status_code == 200
        split = {"dataframe_split": {"columns": COLUMNS, "data": [[0.25, -1.5, 2.0]]}}
        answer = http.post("/v1/endpoints/plain/invocations", json=split)
        assert answer.status_code == 200 and len(answer.headers[REQUEST_ID]) == 24
        assert http.post("/v1/endpoints/plain/predictx", json=body).status_code == 404
        assert http.post("/v1/endpoints/plain/predict/x", json=body).status_code == 404
        assert http.post("/v2/models/plain/infer", json=per_feature()).status_code == 200
        assert http.post("/v2/models/plain/versions/1/infer", json=per_feature()).status_code == 200
        assert http.post("/v2/models/plain/versions/2/infer", json=per_feature()).status_code == 404
        # no direct route matches: Starlette's router answers (its redirect to the path without the slash)
        slash = http.post("/v2/models/plain/infer/", json=per_feature(), follow_redirects=False)
        assert slash.status_code == 307 and slash.headers["location"].endswith("/v2/models/plain/infer")
