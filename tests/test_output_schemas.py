"""Output schemas are published lean (core/output.lean_schema): the same JSON Schema, cheaper for a client to
check each result against. Checked here against what pydantic derives, on every tool of every area."""

from __future__ import annotations

import itertools
from typing import Any

from jsonschema import Draft202012Validator
from mcp import Client
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.output import lean_schema

SCALARS: list[Any] = [None, "x", "", 0, -3, 2.5, True, [], {}, ["x"], [1], {"k": "v"}, {"k": 1}]


def _candidates(schema: Any, defs: dict[str, Any], depth: int = 0) -> list[Any]:
    """Values that match `schema` (built from its properties and items) and values that do not."""
    out = list(SCALARS)
    if not isinstance(schema, dict) or depth > 3:
        return out
    if "$ref" in schema:
        return _candidates(defs.get(schema["$ref"].rsplit("/", 1)[-1]), defs, depth + 1)
    out += list(schema.get("enum", [])) + ([schema["const"]] if "const" in schema else [])
    for branch in schema.get("anyOf", []):
        out += _candidates(branch, defs, depth + 1)[len(SCALARS) :]
    if isinstance(schema.get("items"), dict):
        for item in _candidates(schema["items"], defs, depth + 1)[:: max(1, depth + 3)]:
            out.append([item])
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        per_field = {name: _candidates(sub, defs, depth + 1) for name, sub in props.items()}
        # Each field in turn takes each of its candidates, the others their first one that fits.
        base = {name: _first_valid(sub, defs, per_field[name]) for name, sub in props.items()}
        out.append(dict(base))
        for name, values in per_field.items():
            for value in values[:: max(1, depth + 2)]:
                out.append({**base, name: value})
        out.append({k: v for k, v in base.items() if k != next(iter(base))})  # a field missing
    if isinstance(schema.get("additionalProperties"), dict):
        for value in _candidates(schema["additionalProperties"], defs, depth + 1)[:: depth + 2]:
            out.append({"extra": value})
    return out


def _first_valid(schema: dict[str, Any], defs: dict[str, Any], values: list[Any]) -> Any:
    check = Draft202012Validator({**schema, "$defs": defs})
    return next((v for v in values if check.is_valid(v)), None)


async def test_every_tools_lean_output_schema_accepts_exactly_what_pydantic_s_schema_does(
    settings: Settings,
) -> None:
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        tools = [t for t in (await client.list_tools()).tools if t.output_schema is not None]
    for spec in list(server._unregistered.values()):  # tools/list may have come from the definitions cache
        server._register(spec)
    server.app.close()
    assert len(tools) > 90
    cheaper = unreached = 0
    for listed in tools:
        tool = server._tool_manager.get_tool(listed.name)
        assert tool is not None
        derived = FuncMetadata(
            arg_model=ArgModelBase, output_model=tool.fn_metadata.output_model
        ).output_schema
        assert derived is not None
        assert listed.output_schema == lean_schema(derived)
        defs = derived.get("$defs", {})
        original, lean = Draft202012Validator(derived), Draft202012Validator(listed.output_schema)
        values = _candidates(derived, defs)
        accepted = 0
        for value in values:
            verdict = original.is_valid(value)
            assert lean.is_valid(value) == verdict, (listed.name, value)
            accepted += verdict
        unreached += accepted == 0
        cheaper += listed.output_schema != derived
    assert cheaper > len(tools) // 2
    assert unreached < len(tools) // 10  # the candidates reached inside most schemas


def test_lean_schema_rewrites_only_what_a_null_cannot_fail() -> None:
    schema: dict[str, Any] = {
        "$defs": {
            "Once": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            "Twice": {"type": "object", "properties": {"b": {"type": "string"}}},
            "Tree": {
                "type": "object",
                "properties": {"child": {"anyOf": [{"$ref": "#/$defs/Tree"}, {"type": "null"}]}},
            },
        },
        "type": "object",
        "properties": {
            "once": {"anyOf": [{"$ref": "#/$defs/Once"}, {"type": "null"}], "default": None},
            "two": {"$ref": "#/$defs/Twice"},
            "again": {"items": {"$ref": "#/$defs/Twice"}, "type": "array"},
            "tree": {"$ref": "#/$defs/Tree"},
            "level": {"anyOf": [{"enum": ["low", "high"], "type": "string"}, {"type": "null"}]},
            "text": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}], "title": "Text"},
            "num": {"anyOf": [{"type": "number"}, {"type": "integer"}, {"type": "null"}]},
        },
    }
    lean = lean_schema(schema)
    props = lean["properties"]
    assert isinstance(props, dict)
    assert props["once"] == {
        "default": None,
        "type": ["object", "null"],
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
    }
    assert props["two"] == {"$ref": "#/$defs/Twice"}  # used twice: stays a reference
    assert props["tree"] == {"$ref": "#/$defs/Tree"}  # recursive
    assert props["level"] == schema["properties"]["level"]  # enum applies to null too: kept as anyOf
    assert props["text"] == {"title": "Text", "type": ["string", "null"], "maxLength": 3}
    assert props["num"] == schema["properties"]["num"]
    assert set(lean["$defs"]) == {"Twice", "Tree"}
    checks = (Draft202012Validator(schema), Draft202012Validator(lean))
    values = [None, {"a": 1}, {"a": "1"}, {}, "ab", "abcd", "low", "mid", 1, 2.5]
    for field in schema["properties"]:
        for value in itertools.chain(
            values, [{"child": {"child": None}}, {"child": 3}, [{"b": 1}], [{"b": "x"}]]
        ):
            instance = {field: value}
            assert checks[0].is_valid(instance) == checks[1].is_valid(instance), instance


N = {"type": "null"}
TRICKY: list[tuple[dict[str, Any], list[Any]]] = [
    # The schema around the anyOf constrains too: its keywords and the branch's work together.
    (
        {"properties": {"x": {}}, "anyOf": [{"type": "object", "additionalProperties": False}, N]},
        [{"x": 1}, {}, None, {"y": 1}],
    ),
    (
        {"additionalProperties": False, "anyOf": [{"type": "object", "properties": {"a": {}}}, N]},
        [{"a": 1}, {"b": 1}, None],
    ),
    ({"contains": {"const": 1}, "anyOf": [{"type": "array", "minContains": 2}, N]}, [[1], [1, 1], None]),
    ({"minContains": 2, "anyOf": [{"type": "array", "contains": {"const": 1}}, N]}, [[1], [1, 1], [2], None]),
    ({"prefixItems": [{}], "anyOf": [{"type": "array", "items": False}, N]}, [[1], [1, 2], [], None]),
    # Data is not schema: const, enum, default and examples stay as written; property names are names.
    (
        {"const": {"$defs": 1, "anyOf": [{"type": "string"}, N]}},
        [{"$defs": 1, "anyOf": [{"type": "string"}, N]}, {}],
    ),
    ({"enum": [{"$ref": "#/$defs/A"}], "$defs": {"A": {"type": "string"}}}, [{"$ref": "#/$defs/A"}, "x"]),
    (
        {"type": "object", "properties": {"$defs": {"type": "string"}}, "required": ["$defs"]},
        [{"$defs": "x"}, {"$defs": 1}, {}],
    ),
    # References of other shapes: published as they are.
    (
        {
            "$defs": {"A": {"type": "object", "properties": {"p": {"type": "integer"}}}},
            "properties": {"q": {"$ref": "#/$defs/A/properties/p"}, "r": {"$ref": "#/$defs/A"}},
        },
        [{"q": 1}, {"q": "1"}, {"r": {"p": "x"}}],
    ),
    (
        {"properties": {"a": {"$defs": {"B": {"type": "string"}}, "$ref": "#/properties/a/$defs/B"}}},
        [{"a": "x"}, {"a": 1}],
    ),
    (
        {
            "$defs": {"C": {"type": "object", "properties": {"k": {"const": "c"}}}, "D": {"type": "object"}},
            "oneOf": [{"$ref": "#/$defs/C"}, {"$ref": "#/$defs/D"}],
            "discriminator": {"propertyName": "k", "mapping": {"c": "#/$defs/C"}},
        },
        [{"k": "c"}, {"k": "d"}, 1],
    ),
    ({"anyOf": [True, N]}, [1, None]),
    ({"anyOf": [{"type": ["string", "integer"]}, N]}, ["x", 1, None, 1.5]),
]


def test_lean_schema_keeps_the_meaning_of_schemas_pydantic_does_not_write() -> None:
    for schema, instances in TRICKY:
        lean = lean_schema(schema)
        before, after = Draft202012Validator(schema), Draft202012Validator(lean)
        for instance in instances:
            assert before.is_valid(instance) == after.is_valid(instance), (schema, instance)
    unchanged = [TRICKY[i][0] for i in (0, 1, 2, 3, 4, 8, 9, 10)]
    assert all(lean_schema(schema) == schema for schema in unchanged)
    data = lean_schema(TRICKY[5][0])
    assert data == TRICKY[5][0]
