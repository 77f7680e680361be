"""Keeping results small: size caps, pagination cursors and `mlops://` links to artifacts under the home."""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from mcp_server.core.errors import InvalidInput, NotFound

T = TypeVar("T")
ARTIFACT_SCHEME = "mlops://artifacts/"
ARTIFACT_TEMPLATE = "mlops://artifacts/{+path}"  # {+path}: the path spans several segments
REPORTS_DIR = "reports"  # artifacts live under <home>/reports
MAX_LIMIT = 500

# The result field of every paginated tool.
NextCursor = Annotated[
    str | None, Field(description="Pass as `cursor` to get the next page; null at the end.")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    next_cursor: NextCursor = None


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        offset = -1
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(
            "The cursor is not one this server returned; omit it to start from the first page."
        )
    return offset


def paginate(items: Sequence[T], cursor: str | None, limit: int) -> Page[T]:
    """One page of `items`; `limit` is clamped to 1..MAX_LIMIT."""
    offset = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    chunk = list(items[offset : offset + limit])
    more = offset + limit < len(items)
    return Page[T](items=chunk, total=len(items), next_cursor=encode_cursor(offset + limit) if more else None)


M = TypeVar("M", bound=BaseModel)
PAGE_SHARE = 0.8  # share of the output cap a page may fill


def fit_page(build: Callable[[int], M], limit: int, max_bytes: int) -> M:
    """The page `build(n)` with the most items up to `limit` whose JSON fills at most PAGE_SHARE of the cap.

    For paginated results: halving n keeps the page's own `next_cursor` right, where `fit` (which cuts
    any result's longest list) cannot.
    """
    budget = int(max_bytes * PAGE_SHARE)
    while True:
        model = build(limit)
        if limit <= 1 or len(model.model_dump_json()) <= budget:
            return model
        limit = max(1, limit // 2)


def fit(payload: BaseModel, max_bytes: int) -> BaseModel:
    """Shape a result to fit the output cap; never an error (ARCHITECTURE "Output size").

    A result over the cap loses the tail of its longest list (or dict) field, halving until it fits;
    the model's `truncated` field, where it has one, says so. Lists come failures first, so what is cut
    is the least important part; the full result stays behind its id, cursor or resource link.
    """
    for _ in range(64):
        if len(payload.model_dump_json(by_alias=True)) <= max_bytes:
            return payload
        name = _largest_collection(payload)
        if name is None:
            return payload  # nothing left to shorten: a completed call still returns what it did
        value = getattr(payload, name)
        keep = len(value) // 2
        shorter = value[:keep] if isinstance(value, list) else dict(list(value.items())[:keep])
        update: dict[str, object] = {name: shorter}
        if "truncated" in type(payload).model_fields:
            update["truncated"] = True
        payload = payload.model_copy(update=update)
    return payload


def _largest_collection(payload: BaseModel) -> str | None:
    best, best_size = None, 0
    for name in type(payload).model_fields:
        value = getattr(payload, name)
        if isinstance(value, list | dict) and len(value) > 0:
            size = len(json.dumps(value, default=str)) if not _has_models(value) else _model_size(value)
            if size > best_size:
                best, best_size = name, size
    return best


def _has_models(value: list[object] | dict[object, object]) -> bool:
    items = value if isinstance(value, list) else list(value.values())
    return any(isinstance(v, BaseModel) for v in items[:1])


def _model_size(value: list[object] | dict[object, object]) -> int:
    items = value if isinstance(value, list) else list(value.values())
    return sum(len(v.model_dump_json()) if isinstance(v, BaseModel) else len(str(v)) for v in items)


def artifact_uri(home: Path, path: Path) -> str:
    """The `mlops://artifacts/...` link for a file written under the home."""
    return ARTIFACT_SCHEME + path.resolve().relative_to(home.resolve()).as_posix()


# Types the mimetypes module does not know.
_MIME = {".parquet": "application/vnd.apache.parquet", ".jsonl": "application/jsonl", ".md": "text/markdown"}


def artifact_mime(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _MIME.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def is_text_mime(mime: str) -> bool:
    """Served as text (resources/read `text`), not base64: reports, JSON, CSV, Markdown."""
    return mime.startswith("text/") or mime in ("application/json", "application/jsonl")


def read_artifact(home: Path, relative: str) -> tuple[bytes, str]:
    """Serve `resources/read` for an artifact link: files under `<home>/reports` only.

    The rest of the home (the metadata store, MLflow's database, backups) is never served this way.
    """
    from mcp_server.core.workspace import Workspace

    reports = (home / REPORTS_DIR).resolve()
    resolved = Workspace([home], home).resolve(relative)
    if not resolved.is_relative_to(reports) or not resolved.is_file():
        raise NotFound(f"No artifact '{relative}' among the server's reports.")
    return resolved.read_bytes(), artifact_mime(resolved.name)


# Where JSON Schema 2020-12 keeps subschemas: maps of them, lists of them, one of them. Nothing else is
# walked (`const`, `enum`, `default` and `examples` hold data, `properties` keys are names).
_SCHEMA_MAPS = frozenset(("properties", "patternProperties", "dependentSchemas", "$defs"))
_SCHEMA_LISTS = frozenset(("anyOf", "allOf", "oneOf", "prefixItems"))
_SCHEMA_ONE = frozenset(
    "additionalProperties items contains propertyNames not if then else unevaluatedItems "  # noqa: SIM905
    "unevaluatedProperties".split()
)
_ANNOTATIONS = frozenset(
    ("title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment")
)
# Keywords that constrain one JSON type only (a null passes them all), besides the annotations.
_ONE_TYPE_KEYWORDS = _ANNOTATIONS | frozenset(
    "type properties additionalProperties patternProperties propertyNames required minProperties "  # noqa: SIM905
    "maxProperties items prefixItems contains minContains maxContains minItems maxItems uniqueItems "
    "minLength maxLength pattern format contentEncoding contentMediaType minimum maximum "
    "exclusiveMinimum exclusiveMaximum multipleOf".split()
)
# References this rewrite does not follow: with any of them, a schema is published as it is.
_OTHER_REFERENCES = frozenset(
    "$id $anchor $dynamicRef $dynamicAnchor $recursiveRef $recursiveAnchor discriminator".split()  # noqa: SIM905
)
_DEFS_PREFIX = "#/$defs/"


def _subschemas(node: dict[str, Any]) -> Iterator[Any]:
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            yield from value.values()
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            yield from value
        elif key in _SCHEMA_ONE:
            yield value


def _map_subschemas(node: dict[str, Any], f: Callable[[Any], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: f(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [f(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = f(value)
        else:
            out[key] = value
    return out


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same JSON Schema, cheaper for a client to check a result against (the MCP client validates every
    structured result with jsonschema, about 3 µs a subschema it enters).

    - A `$defs` entry used once, not recursively, is written in place of its `$ref`.
    - `anyOf: [{type: T, ...}, {type: null}]` (pydantic's `T | None`) becomes `type: [T, null]` with the
      branch's keywords when each of them only constrains a T and the schema around it only annotates:
      jsonschema no longer builds an error for the branch a value fails.

    Only pydantic's shape of references is followed (`#/$defs/<name>`, one `$defs` at the root); a schema
    with any other is returned as it is.
    """
    defs = schema.get("$defs", {})
    uses: dict[str, int] = {}

    def count(node: Any, root: bool = False) -> bool:
        """Count the `$ref`s to `$defs`; False when the schema holds a reference of another kind."""
        if not isinstance(node, dict):
            return isinstance(node, bool)
        if node.keys() & _OTHER_REFERENCES or ("$defs" in node and not root):
            return False
        ref = node.get("$ref")
        if ref is not None:
            name = ref[len(_DEFS_PREFIX) :] if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX) else ""
            if not name or any(c in name for c in "/~%") or not isinstance(defs.get(name), dict | bool):
                return False
            uses[name] = uses.get(name, 0) + 1
        return all(count(sub) for sub in _subschemas(node))

    if not isinstance(defs, dict) or not count(schema, root=True):
        return schema
    inlined: set[str] = set()

    def lean(node: Any, inside: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if ref is not None and len(node) == 1:
            name = ref[len(_DEFS_PREFIX) :]
            if uses[name] == 1 and name not in inside and isinstance(defs[name], dict):
                inlined.add(name)
                return lean(defs[name], (*inside, name))
            return node
        out = _map_subschemas(node, lambda sub: lean(sub, inside))
        branches = out.get("anyOf")
        if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
            other = branches[1 - branches.index({"type": "null"})]
            around = out.keys() - {"anyOf"}
            if (
                isinstance(other, dict)
                and isinstance(other.get("type"), str)
                and other["type"] != "null"
                and other.keys() <= _ONE_TYPE_KEYWORDS
                and around <= _ANNOTATIONS
                and not other.keys() & around
            ):
                del out["anyOf"]
                out.update(other)
                out["type"] = [other["type"], "null"]
        return out

    result: dict[str, Any] = lean({k: v for k, v in schema.items() if k != "$defs"}, ())
    bodies = {name: lean(body, (name,)) for name, body in defs.items()}  # may inline more defs
    kept = {name: body for name, body in bodies.items() if name not in inlined}
    if kept:
        result["$defs"] = kept
    uses.clear()
    count(result, root=True)
    return result if uses.keys() <= kept.keys() else schema  # no reference left without its definition
