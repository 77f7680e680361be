"""Batches bound whole columns at a time (app.COLUMNAR_ROWS rows or more: numpy checks, `column_feed`) over real
HTTP against a gateway process: a bad value in row k gets the same sentence as the row-wise path gives it (the
same bad row sent alone, renumbered), in every JSON format, and good batches get onnxruntime's answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mcp_server.gateway.app import COLUMNAR_ROWS
from tests.gateway.process import gateway_process, serve_plain
from tests.gateway.test_protocols import MIXED, reference, write_mixed_twin
from tests.gateway.test_row_values import write_imputed_twin

pytestmark = pytest.mark.timeout(120)
N, K = COLUMNAR_ROWS + 12, COLUMNAR_ROWS + 5  # a columnar batch, and the bad row's index in it


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("batch-values")
    write_imputed_twin(root / "imputed1")
    write_mixed_twin(root / "mixed1")
    routes = serve_plain(root, "imputed", "mixed")
    with gateway_process(routes, root / "home", versions=3) as gw:
        yield gw.url, root


def good_rows(n: int = N) -> list[dict[str, Any]]:
    X = np.round(np.random.default_rng(7).normal(size=(n, 3)), 4)
    return [dict(zip("abc", map(float, r), strict=True)) for r in X]


def bodies(rows: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """The same rows in each JSON format (path, raw body: NaN/Infinity literals and big numbers kept as given)."""
    cols = list(rows[0])
    lists = [[r.get(c) for c in cols] for r in rows]

    def raw(value: Any) -> str:
        return value if isinstance(value, str) and value[:1] in "-1IN" else json.dumps(value)

    def obj(r: dict[str, Any]) -> str:
        return "{" + ", ".join(f'"{k}": {raw(v)}' for k, v in r.items()) + "}"

    def arr(values: list[Any]) -> str:
        return "[" + ", ".join(raw(v) for v in values) + "]"

    records = "[" + ", ".join(map(obj, rows)) + "]"
    data = "[" + ", ".join(map(arr, lists)) + "]"
    columns = "{" + ", ".join(f'"{c}": {arr([r.get(c) for r in rows])}' for c in cols) + "}"
    return [
        ("predict", f'{{"rows": {records}}}'.encode()),
        ("predict", f'{{"columns": {json.dumps(cols)}, "data": {data}}}'.encode()),
        ("invocations", f'{{"dataframe_records": {records}}}'.encode()),
        ("invocations", f'{{"dataframe_split": {{"columns": {json.dumps(cols)}, "data": {data}}}}}'.encode()),
        ("invocations", f'{{"inputs": {columns}}}'.encode()),
    ]


def error(url: str, endpoint: str, route: str, body: bytes) -> tuple[int, str]:
    answer = httpx.post(
        f"{url}/v1/endpoints/{endpoint}/{route}",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    data = answer.json()
    return answer.status_code, data.get("error") or data.get("message") or ""


# Values as they appear in the body: strings starting with "-", "1", "I" or "N" are written raw.
BAD = [
    ("plain", "a", "NaN"),
    ("plain", "b", "Infinity"),
    ("plain", "c", "-Infinity"),
    ("plain", "a", "1e999999"),
    ("plain", "b", "1e39"),
    ("plain", "a", "1" + "0" * 400),
    ("plain", "c", None),
    ("plain", "b", "x"),
    ("plain", "a", [1.0]),
    ("imputed", "b", None),
    ("imputed", "a", "NaN"),
]


@pytest.mark.parametrize(("endpoint", "column", "value"), BAD)
def test_a_bad_value_in_row_k_gets_the_row_wise_sentence(
    gateway: tuple[str, Path], endpoint: str, column: str, value: Any
) -> None:
    url, _ = gateway
    alone = [{**good_rows(1)[0], column: value}]
    rows = good_rows()
    rows[K] = {**rows[K], column: value}
    for (route, one), (_, many) in zip(bodies(alone), bodies(rows), strict=True):
        status, want = error(url, endpoint, route, one)
        if status == 200:  # [1.0] in MLflow's columns format is an [N, 1] value, row by row too
            assert (value, route) == ([1.0], "invocations") and b'"inputs"' in one
            assert error(url, endpoint, route, many)[0] == 200
            continue
        assert status == 400 and "Row 0" in want, (one, want)
        status, got = error(url, endpoint, route, many)
        assert status == 400 and got == want.replace("Row 0", f"Row {K}"), (route, got, want)


def test_missing_and_extra_columns_in_row_k(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    rows = good_rows()
    rows[K] = {"a": 1.0, "b": 2.0}
    status, got = error(url, "plain", "predict", json.dumps({"rows": rows}).encode())
    assert status == 400 and got.startswith(f"Row {K} lacks column 'c'; the model needs"), got
    rows[K] = {"a": 1.0, "b": 2.0, "c": 3.0, "z": 4.0}
    status, got = error(url, "plain", "invocations", json.dumps({"dataframe_records": rows}).encode())
    assert status == 400 and got == f"Row {K} has column 'z', which the model does not take.", got
    status, got = error(
        url, "plain", "invocations", json.dumps({"instances": [[1.0, 2.0, 3.0]] * N + [[1.0]]}).encode()
    )
    assert status == 400 and got.startswith(f"Row {N} has 1 values, and the model takes 3 columns"), got
    mixed = [{"age": 30.0, "income": 40.0, "segment": "a"}] * N
    mixed[K] = {**mixed[K], "segment": 5}
    status, got = error(url, "mixed", "predict", json.dumps({"rows": mixed}).encode())
    assert status == 400 and got == f"Row {K}: column 'segment' takes text, not 5.", got


def test_columnar_batches_equal_onnxruntime(gateway: tuple[str, Path]) -> None:
    url, root = gateway
    plain = good_rows()
    plain[3] = {**plain[3], "a": True, "b": 2}  # booleans and integers are numbers, as row by row
    imputed = [{**r, "a": None} if i % 3 == 0 else r for i, r in enumerate(good_rows())]
    segments = ["a", "b", "c"]
    mixed = [{"age": 20.0 + i, "income": 30.0 + 2 * i, "segment": segments[i % 3]} for i in range(N)]
    for endpoint, rows in (("plain", plain), ("imputed", imputed), ("mixed", mixed)):
        want = reference(root / f"{endpoint}1", rows)["label"].tolist()
        for route, body in bodies(rows):
            answer = httpx.post(
                f"{url}/v1/endpoints/{endpoint}/{route}",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert answer.status_code == 200, (endpoint, route, answer.text)
            assert answer.json()["predictions"] == want, (endpoint, route)
    assert list(mixed[0]) == MIXED
