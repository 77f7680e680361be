"""Identifiers, record_edge and the lineage query, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from mcp_server.core.errors import InvalidInput
from mcp_server.core.lineage import (
    KINDS,
    MAX_DEPTH,
    LineageGraph,
    dataset_id,
    make_id,
    neighbourhood,
    parse_id,
    query_lineage,
    record_edge,
)
from mcp_server.core.store import MetadataStore
from mcp_server.core.store.models import LineageEdge

SHA = "0123456789abcdef" * 4
RAW = dataset_id("raw.csv", SHA)
CLEAN = dataset_id("clean", "fedcba9876543210" * 4)
VALIDATION = make_id("validation", "3f2a")
RUN = make_id("run", "a1b2c3d4e5f60718293a4b5c6d7e8f90")
MODEL = make_id("model", "churn", "3")
ONNX = make_id("onnx", "churn", "3")
ENDPOINT = make_id("endpoint", "churn-web")


def edges(graph: LineageGraph) -> set[tuple[str, str]]:
    return {(e.upstream, e.downstream) for e in graph.edges}


def nodes(graph: LineageGraph) -> dict[str, int]:
    return {n.id: n.distance for n in graph.nodes}


def build_chain(store: MetadataStore) -> None:
    record_edge(store, RAW, VALIDATION, "validated_by", {"success": True, "failed": 0})
    record_edge(store, RAW, CLEAN, "cleaned_to")
    record_edge(store, CLEAN, MODEL, "trained_on")
    record_edge(store, RUN, MODEL, "logged_by")
    record_edge(store, MODEL, ONNX, "exported_to")
    record_edge(store, ONNX, ENDPOINT, "deployed_to", {"weight": 100})


# -- identifiers --------------------------------------------------------------------------------


def test_identifier_forms() -> None:
    assert RAW == "dataset:raw.csv@0123456789ab"
    assert dataset_id("/data/in put@v2.csv", SHA.upper()) == "dataset:/data/in put@v2.csv@0123456789ab"
    assert make_id("dataset", "iris", SHA) == "dataset:iris@0123456789ab"
    assert make_id("suite", "iris_checks", 2) == "suite:iris_checks@2"
    assert MODEL == "model:churn/3" and ONNX == "onnx:churn/3"
    assert make_id("featureview", "shop", "user_stats") == "featureview:shop/user_stats"
    assert ENDPOINT == "endpoint:churn-web"
    assert make_id("rollout", "r-17") == "rollout:r-17" and make_id("backup", "20250101T000000Z")
    assert parse_id("dataset:/data/in put@v2.csv@0123456789ab").name == "/data/in put@v2.csv"
    assert parse_id(MODEL).version == "3"
    assert set(KINDS) == {p.split(":")[0] for p in (RAW, VALIDATION, RUN, MODEL, ONNX, ENDPOINT)} | {
        "suite",
        "featureview",
        "rollout",
        "workflow",
        "backup",
        "drift",
    }


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: make_id("experiment", "x"), "Unknown identifier kind"),
        (lambda: make_id("model", "churn"), "needs two parts"),
        (lambda: make_id("endpoint", "web", "2"), "one part"),
        (lambda: make_id("model", "../etc", "1"), "not a valid model identifier"),
        (lambda: make_id("endpoint", "-rm"), "not a valid endpoint identifier"),
        (lambda: make_id("dataset", "iris"), "SHA-256"),
        (lambda: dataset_id("iris", "xyz"), "SHA-256"),
        (lambda: dataset_id("bad\nname", SHA), "control characters"),
        (lambda: dataset_id("x" * 2000, SHA), "longer than 1024 bytes"),
        (lambda: parse_id("dataset:iris@0123"), "expected dataset:<name-or-path>@<sha256-prefix>"),
        (lambda: parse_id("model:churn/3/4"), "expected model:<name>/<version>"),
        (lambda: parse_id("churn"), "not a lineage identifier"),
        (lambda: parse_id(""), "non-empty"),
    ],
)
def test_bad_identifiers_are_invalid_input(call: object, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        call()  # type: ignore[operator]
    assert needle in str(err.value)
    assert str(err.value).count("\n") == 0


# -- record_edge --------------------------------------------------------------------------------


def test_record_edge_is_idempotent(store: MetadataStore) -> None:
    assert record_edge(store, RAW, VALIDATION, "validated_by", {"n": 1}) is True
    assert record_edge(store, RAW, VALIDATION, "validated_by", {"n": 2}) is False
    assert record_edge(store, RAW, VALIDATION, "checked_by") is True  # another kind is another edge
    with store.read_session() as s:
        assert s.scalar(select(func.count()).select_from(LineageEdge)) == 2
    graph = query_lineage(store, VALIDATION)
    assert {(e.kind, str(e.details)) for e in graph.edges} == {
        ("validated_by", "{'n': 1}"),
        ("checked_by", "None"),
    }
    assert all(e.created_at.tzinfo is not None for e in graph.edges)


@pytest.mark.parametrize(
    ("up", "down", "kind", "details", "needle"),
    [
        ("dataset:x", VALIDATION, "validated_by", None, "not a valid dataset identifier"),
        (RAW, "validation:", "validated_by", None, "not a valid validation identifier"),
        (RAW, RAW, "derived", None, "two different ends"),
        (RAW, VALIDATION, "Validated By", None, "snake_case"),
        (RAW, VALIDATION, "validated_by", {"x": float("nan")}, "plain JSON"),
        (RAW, VALIDATION, "validated_by", {"x": object()}, "plain JSON"),
        (RAW, VALIDATION, "validated_by", {"x": "y" * 20_000}, "store a reference"),
    ],
)
def test_record_edge_refuses_bad_input(
    store: MetadataStore, up: str, down: str, kind: str, details: dict[str, object] | None, needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle):
        record_edge(store, up, down, kind, details)
    assert not store.opened  # refused before touching the store


def test_record_edge_inside_a_callers_transaction(store: MetadataStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as s:
        record_edge(store, MODEL, ONNX, "exported_to", session=s)
        raise RuntimeError("boom")
    assert query_lineage(store, ONNX).edges == []  # rolled back with the caller's work
    with store.transaction() as s:
        assert record_edge(store, MODEL, ONNX, "exported_to", session=s) is True
    assert edges(query_lineage(store, ONNX)) == {(MODEL, ONNX)}


# -- query_lineage ------------------------------------------------------------------------------


def test_where_did_this_deployment_come_from(store: MetadataStore) -> None:
    build_chain(store)
    graph = query_lineage(store, ENDPOINT, "upstream", depth=5)
    assert nodes(graph) == {ENDPOINT: 0, ONNX: 1, MODEL: 2, CLEAN: 3, RUN: 3, RAW: 4}
    assert edges(graph) == {(ONNX, ENDPOINT), (MODEL, ONNX), (CLEAN, MODEL), (RUN, MODEL), (RAW, CLEAN)}
    assert graph.nodes[0].id == ENDPOINT and graph.nodes[0].kind == "endpoint"
    assert not graph.truncated
    deployed = next(e for e in graph.edges if e.kind == "deployed_to")
    assert deployed.details == {"weight": 100}
    as_dict = graph.to_dict()
    assert len(as_dict["nodes"]) == 6 and len(as_dict["edges"]) == 5


def test_depth_bounds_the_walk(store: MetadataStore) -> None:
    build_chain(store)
    assert nodes(query_lineage(store, ENDPOINT, depth=2)) == {ENDPOINT: 0, ONNX: 1, MODEL: 2}
    assert len(query_lineage(store, ENDPOINT, depth=2).edges) == 2
    assert query_lineage(store, ENDPOINT, depth=0).edges == []
    for bad in (-1, MAX_DEPTH + 1):
        with pytest.raises(InvalidInput, match="depth must be"):
            query_lineage(store, ENDPOINT, depth=bad)


def test_downstream_and_both(store: MetadataStore) -> None:
    build_chain(store)
    down = query_lineage(store, RAW, "downstream", depth=10)
    assert nodes(down) == {RAW: 0, VALIDATION: 1, CLEAN: 1, MODEL: 2, ONNX: 3, ENDPOINT: 4}
    assert len(down.edges) == 5  # RUN -> MODEL is not downstream of RAW
    both = query_lineage(store, MODEL, "both", depth=1)
    assert nodes(both) == {MODEL: 0, CLEAN: 1, RUN: 1, ONNX: 1}
    assert len(both.edges) == 3


def test_neighbourhood_is_both_ways_two_steps_in_one_query(store: MetadataStore) -> None:
    build_chain(store)
    a, b = make_id("validation", "a"), make_id("validation", "b")
    record_edge(store, MODEL, a, "checked_by")  # a cycle two steps out: MODEL -> a -> b -> MODEL
    record_edge(store, a, b, "derived")
    record_edge(store, b, MODEL, "derived")
    for root in (MODEL, ONNX, RAW, ENDPOINT, a, make_id("endpoint", "nobody")):
        walked = query_lineage(store, root, "both", 2)
        one = neighbourhood(store, root)
        assert (nodes(one), edges(one), one.truncated) == (nodes(walked), edges(walked), walked.truncated)
        assert [e.created_at for e in one.edges] == [e.created_at for e in walked.edges]
        assert [n.id for n in one.nodes] == [n.id for n in walked.nodes]  # the same order
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        neighbourhood(store, MODEL)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_cycles_end_the_walk(store: MetadataStore) -> None:
    a, b, c = make_id("validation", "a"), make_id("validation", "b"), make_id("validation", "c")
    record_edge(store, a, b, "derived")
    record_edge(store, b, c, "derived")
    record_edge(store, c, a, "derived")
    graph = query_lineage(store, a, "downstream", depth=MAX_DEPTH)
    assert nodes(graph) == {a: 0, b: 1, c: 2}
    assert len(graph.edges) == 3


def test_unknown_identifier_is_an_empty_graph(store: MetadataStore) -> None:
    build_chain(store)
    graph = query_lineage(store, make_id("endpoint", "nobody"), "both")
    assert (graph.nodes, graph.edges, graph.truncated) == ([], [], False)
    with pytest.raises(InvalidInput):
        query_lineage(store, "endpoint:", "both")
    with pytest.raises(InvalidInput, match="direction"):
        query_lineage(store, ENDPOINT, "sideways")  # type: ignore[arg-type]


def test_wide_graph_is_cut_and_says_so(store: MetadataStore) -> None:
    from mcp_server.core import lineage

    with store.transaction() as s:
        for i in range(lineage.MAX_EDGES + 5):
            record_edge(store, RAW, make_id("validation", f"v{i}"), "validated_by", session=s)
    graph = query_lineage(store, RAW, "downstream")
    assert graph.truncated
    assert len(graph.edges) == lineage.MAX_EDGES
