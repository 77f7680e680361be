"""pymongo behind the mongo tools: one process-wide client with explicit timeouts and write concern.

Plain functions, no MCP imports. `build_client(settings)` is the one place a client is made; the tools
reach it through `client_for(app)` (AppContext.client caches it under the key "mongo", which is also
where tests place a mongomock client). Every expected pymongo failure becomes a project error here: an
unreachable server is BackendUnavailable within the configured timeouts, a refused command InvalidInput,
a duplicate key Conflict. Filters and pipelines are checked by guard.py before they get here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput, LimitExceeded, MlopsError
from mcp_server.core.tables import check_json_depth

if TYPE_CHECKING:
    import pyarrow as pa

    from mcp_server.core.boundary import Control
    from mcp_server.core.config import Settings
    from mcp_server.core.context import AppContext

CLIENT_KEY = "mongo"
MAX_IDS_SHOWN = 20
INSERT_BATCH = 1000
NOT_CONFIGURED = (
    "MongoDB is not configured; set MLOPS_MCP_MONGO_URI (e.g. mongodb://127.0.0.1:27017) and optionally "
    "MLOPS_MCP_MONGO_DATABASE, then restart the server."
)


# -- the client ------------------------------------------------------------------------------------


def hosts(settings: Settings) -> str:
    """host:port list of the configured URI (never the credentials), for messages."""
    if settings.mongo_uri is None:
        return "MongoDB"
    uri = settings.mongo_uri.get_secret_value()
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri

    try:
        nodes = parse_uri(uri, connect_timeout=None)["nodelist"] if not uri.startswith("mongodb+srv") else []
    except (PyMongoError, ValueError, TypeError):
        nodes = []
    if not nodes:
        m = re.match(r"^mongodb(?:\+srv)?://(?:[^@/]*@)?([^/?]+)", uri)
        return m.group(1) if m else "the configured MongoDB"
    return ",".join(f"{h}:{p}" for h, p in nodes)


def configured(app: AppContext) -> bool:
    return app.settings.mongo_uri is not None or CLIENT_KEY in app._clients


def build_client(settings: Settings) -> Any:
    """A pymongo MongoClient for these settings: explicit timeouts, write concern and tz-aware dates."""
    if settings.mongo_uri is None:
        raise InvalidInput(NOT_CONFIGURED)
    import pymongo
    from pymongo.errors import ConfigurationError, InvalidURI

    w: str | int = settings.mongo_write_concern
    w = int(w) if isinstance(w, str) and w.isdigit() else w
    try:
        return pymongo.MongoClient(
            settings.mongo_uri.get_secret_value(),
            serverSelectionTimeoutMS=int(settings.mongo_server_selection_timeout_s * 1000),
            connectTimeoutMS=int(settings.mongo_connect_timeout_s * 1000),
            socketTimeoutMS=int(settings.mongo_socket_timeout_s * 1000),
            timeoutMS=int(settings.mongo_timeout_s * 1000),
            w=w,
            journal=settings.mongo_journal,
            retryReads=True,
            retryWrites=True,
            tz_aware=True,
            appname="mlops-mcp",
        )
    except InvalidURI:
        raise InvalidInput(
            "MLOPS_MCP_MONGO_URI is not a valid MongoDB URI; use mongodb://host:port or mongodb+srv://host."
        ) from None
    except (ConfigurationError, ValueError, TypeError) as err:
        text = str(err).replace(settings.mongo_uri.get_secret_value(), "<uri>")[:160].rstrip(".")
        if "://" in text or "@" in text:  # never echo anything that may carry credentials
            text = "invalid option"
        raise InvalidInput(
            f"The MongoDB settings are not usable ({text}); check MLOPS_MCP_MONGO_URI and "
            "MLOPS_MCP_MONGO_WRITE_CONCERN / MLOPS_MCP_MONGO_JOURNAL."
        ) from None


def client_for(app: AppContext) -> Any:
    """The process-wide client (built on first use, or the one a test placed under CLIENT_KEY)."""
    return app.client(CLIENT_KEY, lambda: build_client(app.settings))


def database(app: AppContext) -> Any:
    """The configured database with the configured write concern (majority + journal by default)."""
    from pymongo import WriteConcern

    s = app.settings
    w: str | int = int(s.mongo_write_concern) if s.mongo_write_concern.isdigit() else s.mongo_write_concern
    return client_for(app).get_database(s.mongo_database, write_concern=WriteConcern(w=w, j=s.mongo_journal))


def write_concern_text(settings: Settings) -> str:
    return f"w={settings.mongo_write_concern}, j={str(settings.mongo_journal).lower()}"


@contextlib.contextmanager
def mongo_errors(settings: Settings, what: str, collection: str | None = None) -> Iterator[None]:
    """pymongo's exceptions -> one actionable sentence each, by exception class."""
    from pymongo import errors as pe

    where = f" on '{collection}'" if collection else ""
    try:
        yield
    except MlopsError:
        raise
    except pe.DuplicateKeyError:
        raise Conflict(
            f"The {what}{where} hit a unique index: a document with the same key already exists."
        ) from None
    except pe.BulkWriteError as err:
        details = err.details or {}
        done = int(details.get("nInserted", 0))
        dup = any(e.get("code") == 11000 for e in details.get("writeErrors", []))
        reason = "a unique index refused a duplicate key" if dup else "the server refused a document"
        raise Conflict(
            f"The {what}{where} stopped after {done} documents: {reason}; the documents before it were written."
        ) from None
    except (pe.ExecutionTimeout, pe.WTimeoutError) as err:
        raise BackendUnavailable(
            f"MongoDB at {hosts(settings)} did not finish the {what}{where} in time ({type(err).__name__}); "
            "narrow the filter, add an index or raise MLOPS_MCP_MONGO_TIMEOUT_S."
        ) from None
    except pe.ConnectionFailure as err:  # ServerSelectionTimeoutError and NetworkTimeout among them
        kind = "timed out" if err.timeout else "failed"
        raise BackendUnavailable(
            f"MongoDB at {hosts(settings)} did not answer ({kind} within {settings.mongo_timeout_s:g}s); "
            "start the server or fix MLOPS_MCP_MONGO_URI."
        ) from None
    except pe.OperationFailure as err:
        if err.code in (13, 18, 8000):  # Unauthorized, AuthenticationFailed, Atlas auth
            raise BackendUnavailable(
                f"MongoDB at {hosts(settings)} refused the credentials or the permission for the {what}; "
                "check the user in MLOPS_MCP_MONGO_URI."
            ) from None
        message = str((err.details or {}).get("errmsg") or err)[:200].rstrip(".")
        raise InvalidInput(f"MongoDB refused the {what}{where}: {message}.") from None
    except (pe.InvalidDocument, pe.InvalidOperation, pe.InvalidName) as err:
        raise InvalidInput(
            f"The {what}{where} is not valid for MongoDB: {str(err)[:200].rstrip('.')}."
        ) from None
    except pe.PyMongoError as err:
        raise BackendUnavailable(
            f"MongoDB at {hosts(settings)} failed the {what}{where} ({type(err).__name__}); "
            "run health_check to see whether it answers."
        ) from None
    except NotImplementedError as err:  # a partial MongoDB implementation (e.g. mongomock in tests)
        raise InvalidInput(
            f"This MongoDB does not implement part of the {what}: {str(err)[:160].rstrip('.')}."
        ) from None


# -- values in and out -----------------------------------------------------------------------------


def convert(value: Any) -> Any:
    """Checked JSON -> BSON-ready values: Extended JSON {"$oid"} and {"$date"} become ObjectId/datetime."""
    if isinstance(value, dict):
        if len(value) == 1:
            key, inner = next(iter(value.items()))
            if key == "$oid" and isinstance(inner, str):
                from bson import ObjectId

                if not ObjectId.is_valid(inner):
                    raise InvalidInput(f"'{inner[:40]}' is not an ObjectId (24 hex digits).")
                return ObjectId(inner)
            if key == "$date" and isinstance(inner, str):
                try:
                    parsed = dt.datetime.fromisoformat(inner.replace("Z", "+00:00"))
                except ValueError:
                    raise InvalidInput(f"'{inner[:40]}' is not an ISO-8601 date.") from None
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v) for v in value]
    return value


def to_json(doc: Any) -> Any:
    """A BSON document as relaxed Extended JSON (ObjectId -> {"$oid"}, dates -> {"$date"})."""
    from bson import json_util

    return json.loads(json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS))


@dataclass
class Page:
    documents: list[Any]
    next_offset: int | None
    truncated: bool  # stopped early by the size budget


def _collect(cursor: Any, limit: int, offset: int, budget: int) -> Page:
    docs: list[Any] = []
    used = 0
    more = False
    for raw in cursor:
        if len(docs) == limit:
            more = True
            break
        doc = to_json(raw)
        size = len(json.dumps(doc, separators=(",", ":"))) + 1
        if used + size > budget:
            if not docs:
                raise LimitExceeded(
                    f"One document is {size} bytes, over the {budget}-byte result budget; "
                    "return fewer fields with a projection."
                )
            return Page(docs, offset + len(docs), True)
        docs.append(doc)
        used += size
    return Page(docs, offset + len(docs) if more else None, False)


def _limit(app: AppContext, control: Control) -> contextlib.AbstractContextManager[Any]:
    """The operations inside end within MLOPS_MCP_MONGO_TIMEOUT_S and never past the call's deadline.

    Under a pymongo.timeout (timeoutMS) pymongo ignores serverSelectionTimeoutMS, so an unreachable server
    would cost the whole operation timeout: while no server is known, a ping under the server-selection
    timeout goes first and fails fast."""
    import pymongo

    client = client_for(app)
    if isinstance(client, pymongo.MongoClient) and not client.topology_description.has_readable_server():
        selection = min(app.settings.mongo_server_selection_timeout_s, app.settings.mongo_timeout_s)
        with pymongo.timeout(control.timeout(selection)):
            client.admin.command("ping")
    return pymongo.timeout(control.timeout(app.settings.mongo_timeout_s))


def _find(
    app: AppContext,
    collection: str,
    filter_: dict[str, Any],
    projection: dict[str, Any] | None,
    sort: list[tuple[str, int]] | None = None,
) -> Any:
    """A find cursor over checked (Extended JSON) arguments, in `sort` order (default by _id)."""
    coll = database(app)[collection]
    return coll.find(convert(filter_), convert(projection) if projection else None).sort(sort or [("_id", 1)])


def find_page(
    app: AppContext,
    control: Control,
    collection: str,
    filter_: dict[str, Any],
    projection: dict[str, Any] | None,
    sort: list[tuple[str, int]] | None,
    offset: int,
    limit: int,
    budget: int,
) -> Page:
    with mongo_errors(app.settings, "find", collection), _limit(app, control):
        cursor = _find(app, collection, filter_, projection, sort).skip(offset).limit(limit + 1)
        return _collect(cursor, limit, offset, budget)


def aggregate_page(
    app: AppContext,
    control: Control,
    collection: str,
    pipeline: list[dict[str, Any]],
    offset: int,
    limit: int,
    budget: int,
) -> Page:
    with mongo_errors(app.settings, "aggregation", collection), _limit(app, control):
        coll = database(app)[collection]
        paged = [*convert(pipeline), *([{"$skip": offset}] if offset else []), {"$limit": limit + 1}]
        return _collect(coll.aggregate(paged), limit, offset, budget)


def read_documents(path: Path, max_docs: int, max_bytes: int) -> list[Any]:
    """Documents from a .json (an array or one object) or .jsonl/.ndjson file, bounded."""
    suffix = path.suffix.lower()
    if suffix not in (".json", ".jsonl", ".ndjson"):
        raise InvalidInput(f"'{path.name}' is not a .json, .jsonl or .ndjson file of documents.")
    size = path.stat().st_size
    if size > max_bytes:
        raise LimitExceeded(f"'{path.name}' is {size} bytes, over the {max_bytes}-byte limit.")
    check_json_depth(path, lines=suffix != ".json")  # before json.loads and BSON, which recurse per level

    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            data = json.loads(text, parse_constant=reject)
            docs = data if isinstance(data, list) else [data]
        else:
            docs = []
            for line in text.splitlines():
                if line.strip():
                    docs.append(json.loads(line, parse_constant=reject))
                    if len(docs) > max_docs:
                        break
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidInput(f"'{path.name}' is not valid JSON: {str(err)[:120]}.") from None
    if len(docs) > max_docs:
        raise LimitExceeded(
            f"'{path.name}' holds more than {max_docs} documents; split it or raise MLOPS_MCP_MONGO_MAX_INSERT."
        )
    return docs


def insert(app: AppContext, control: Control, collection: str, docs: list[dict[str, Any]]) -> list[str]:
    """insert_many in ordered batches; the ids (as strings) of the documents written."""
    ids: list[str] = []
    with mongo_errors(app.settings, "insert", collection):
        coll = database(app)[collection]
        for start in range(0, len(docs), INSERT_BATCH):
            control.step(start, len(docs), f"inserting into {collection}")
            batch = convert(docs[start : start + INSERT_BATCH])
            with _limit(app, control):
                result = coll.insert_many(batch, ordered=True)
            ids.extend(str(i) for i in result.inserted_ids)
    return ids


@dataclass
class CollectionInfo:
    name: str
    documents: int


def list_collections(app: AppContext, control: Control) -> list[CollectionInfo]:
    with mongo_errors(app.settings, "listing of collections"), _limit(app, control):
        db = database(app)
        names = sorted(n for n in db.list_collection_names() if not n.startswith("system."))
        return [CollectionInfo(n, int(db[n].estimated_document_count())) for n in names]


def create_index(
    app: AppContext,
    control: Control,
    collection: str,
    keys: list[tuple[str, Any]],
    unique: bool,
    name: str | None,
) -> tuple[str, bool]:
    """(index name, created) - an identical existing index is reported, not an error."""
    with mongo_errors(app.settings, "index creation", collection), _limit(app, control):
        coll = database(app)[collection]
        before = set(coll.index_information())
        options: dict[str, Any] = {"unique": unique}
        if name:
            options["name"] = name
        made = coll.create_index(keys, **options)
        return str(made), str(made) not in before


def ping(app: AppContext, timeout_s: float) -> None:
    import pymongo

    with mongo_errors(app.settings, "ping"), pymongo.timeout(timeout_s):
        database(app).command("ping")


# -- export ---------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """A BSON value as a table cell: ObjectId/Decimal128/… -> str, nested documents and lists -> JSON text."""
    from bson import Decimal128, ObjectId

    if value is None or isinstance(value, (bool, int, str, dt.datetime)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (ObjectId, Decimal128)):
        return str(value)
    return json.dumps(to_json(value), separators=(",", ":"), sort_keys=True)


def _column(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one field: keep them as text
        return pa.array(
            [None if v is None else (v if isinstance(v, str) else json.dumps(to_json(v))) for v in values],
            type=pa.string(),
        )


def export_table(
    app: AppContext,
    control: Control,
    collection: str,
    filter_: dict[str, Any],
    projection: dict[str, Any] | None,
    max_rows: int,
) -> tuple[pa.Table, str]:
    """The matching documents as an Arrow table (one column per top-level field, in first-seen order)
    and the SHA-256 of their canonical Extended JSON (the source's lineage digest). Each request to the
    server has the client's timeout; the call's deadline is checked between batches of documents."""
    import pyarrow as pa

    rows: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    with mongo_errors(app.settings, "export", collection):
        for raw in _find(app, collection, filter_, projection).limit(max_rows + 1):
            if len(rows) == max_rows:
                raise LimitExceeded(
                    f"More than {max_rows} documents match; narrow the filter or raise MLOPS_MCP_MAX_ROWS."
                )
            digest.update(json.dumps(to_json(raw), sort_keys=True, separators=(",", ":")).encode())
            rows.append({k: _cell(v) for k, v in raw.items()})
            if len(rows) % 10_000 == 0:
                control.step(len(rows), None, f"read {len(rows)} documents")
    if not rows:
        raise InvalidInput(f"No document in '{collection}' matches the filter; nothing to export.")
    names: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                names.append(key)
    table = pa.table({n: _column([row.get(n) for row in rows]) for n in names})
    return table, digest.hexdigest()
