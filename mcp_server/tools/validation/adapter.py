"""Great Expectations 1.x behind plain functions. The only module of the area that imports GX or pandas.

Layout under the home (GX's own file-backed project, `gx.get_context(mode="file", project_root_dir=home)`):

    <home>/gx/great_expectations.yml        the context: one pandas data source `mlops_pandas`, a dataframe
                                            asset `dataframe`, a whole-dataframe batch definition `whole`
    <home>/gx/expectations/<name>@<N>.json   suite version N of `<name>` (GX's suite store)
    <home>/gx/validation_definitions/...     one validation definition per suite version, same name

Runs validate a batch (`validate`), so GX stores no results of its own: ours live in the metadata store.

Versioning: every save of `<name>` stores a new GX suite named `<name>@<N+1>`; `<name>` resolves to the
highest N. Ad-hoc integrity checks run on a separate ephemeral context, so they leave nothing behind.
A context is not thread-safe: every use goes through `GxEngine.lock`. Several processes share one project
(servers on one home, the killable workers): `<home>/gx/.mlops.lock` is held exclusively while one of
them writes (opening the project, saving or deleting a suite) and shared while one reads, and GX's store
files are written through core/files.py (temporary name, fsync, rename), never in place.

Nothing here imports the MCP SDK; errors are the project's own (mcp_server.core.errors).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.conditions import mask
from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.files import write_bytes_atomic
from mcp_server.core.store._locks import FileLock
from mcp_server.core.tables import TableLimits, id_like
from mcp_server.core.values import number, plain
from mcp_server.core.workspace import NAME_RE, check_name

if TYPE_CHECKING:
    import pandas as pd

    from mcp_server.core.boundary import Control

DATASOURCE = "mlops_pandas"
ASSET = "dataframe"
BATCH = "whole"
REF_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:@(?P<version>[0-9]{1,9}))?$")
TYPE_RE = re.compile(r"^expect_[a-z0-9_]{1,120}$")
SAMPLE_VALUES = 5
SAMPLE_CHARS = 120
OBSERVED_ITEMS = 20
SAMPLE_ITEMS = 8  # keys kept of a sampled row
MAX_EXPECTATIONS = 2000
# Arguments holding a regular expression: a suite with any of them runs in a killable worker process.
REGEX_KWARGS = ("regex", "regex_list")
# Expectations that evaluate other patterns of the caller's (a JSON schema's `pattern`s, LIKE patterns)
# run in that worker too.
PATTERN_TYPES = frozenset(
    {
        "expect_column_values_to_match_json_schema",
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_match_like_pattern_list",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern_list",
    }
)
# Expectations about which columns exist: a missing column is their result, not a bad suite.
COLUMN_PRESENCE_TYPES = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
    }
)
# GX's pandas engine turns row conditions into `DataFrame.query` strings: refused (SECURITY.md 9).
REFUSED_KWARGS = {
    "row_condition": "row conditions become pandas query strings inside GX",
    "condition_parser": "row conditions become pandas query strings inside GX",
    "result_format": "the server chooses the result format",
}
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)
RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": SAMPLE_VALUES,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}

# Engine-neutral logical types -> the dtype names GX's pandas type check accepts for them.
TYPE_LISTS: dict[str, list[str]] = {
    "integer": [
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "Int8Dtype",
        "Int16Dtype",
        "Int32Dtype",
        "Int64Dtype",
        "UInt8Dtype",
        "UInt16Dtype",
        "UInt32Dtype",
        "UInt64Dtype",
    ],
    "float": ["float16", "float32", "float64", "Float32Dtype", "Float64Dtype"],
    "string": ["str", "StringDtype"],
    "boolean": ["bool", "BooleanDtype"],
    "timestamp": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
}
# The same logical types on Spark: pyspark.sql.types class names, as GX's Spark type check takes them.
SPARK_TYPE_LISTS: dict[str, list[str]] = {
    "integer": ["ByteType", "ShortType", "IntegerType", "LongType"],
    "float": ["FloatType", "DoubleType"],
    "string": ["StringType", "VarcharType", "CharType"],
    "boolean": ["BooleanType"],
    "timestamp": ["TimestampType", "TimestampNTZType"],
    "date": ["DateType"],
}
# The same logical types on DuckDB: the SQL type names GX's SQL type check resolves through the DuckDB
# dialect's type module (duckdb_adapter.type_module).
DUCKDB_TYPE_LISTS: dict[str, list[str]] = {
    "integer": [
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    ],
    "float": ["FLOAT", "DOUBLE", "REAL", "DOUBLE_PRECISION"],
    "string": ["VARCHAR", "TEXT", "CHAR"],
    "boolean": ["BOOLEAN"],
    "timestamp": ["TIMESTAMP"],
    "date": ["DATE"],
}
# Engine-neutral type names a suite may use, mapped per engine. pandas has no date dtype: dates read as
# datetime64 columns, so `date` checks the timestamp dtypes there.
ENGINE_TYPES: dict[str, dict[str, list[str]]] = {
    "pandas": {**TYPE_LISTS, "date": TYPE_LISTS["timestamp"]},
    "spark": SPARK_TYPE_LISTS,
    "duckdb": DUCKDB_TYPE_LISTS,
}
TYPE_EXPECTATIONS = ("expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type")
# The GX project's lock across processes (under <home>/gx), and how long a call waits for it.
STORE_LOCK = ".mlops.lock"
STORE_LOCK_TIMEOUT_S = 30.0
STORE_BUSY = "The Great Expectations suite store is locked by another server process; retry in a moment."

log = logging.getLogger("mlops_mcp.validation")


def quiet_gx() -> None:
    """Analytics off, INFO floods off. Some GX modules set their own logger to INFO on import, so every
    logger under `great_expectations` that exists by now is raised to WARNING too."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name, item in list(logging.root.manager.loggerDict.items()):
        if not (name.startswith("great_expectations.") and isinstance(item, logging.Logger)):
            continue
        if logging.NOTSET < item.level < logging.WARNING:
            item.setLevel(logging.WARNING)


def gx_version() -> str:
    from importlib.metadata import version

    return f"great_expectations {version('great_expectations')}"


# -- engine-neutral types: the one place a suite's type names are mapped to an engine's ------------


def _logical_of(name: str) -> str | None:
    """`integer` -> integer; an engine's own name (int64, LongType) -> its logical type; else None."""
    if name in ENGINE_TYPES["spark"]:
        return name
    for table in ENGINE_TYPES.values():
        for logical, names in table.items():
            if name in names:
                return logical
    return None


def engine_specs(specs: list[dict[str, Any]], engine: str) -> list[dict[str, Any]]:
    """A suite's expectations with their type checks in `engine`'s names.

    Type expectations may name engine-neutral types (integer, float, string, boolean, timestamp, date) or
    either engine's own names. A name the target engine knows is kept; a neutral name, or the other
    engine's name, becomes the target's list for that logical type (`meta.logical_type`, set by
    validation_suggest_suite, decides for names of no known type). A `to_be_of_type` check that needs
    mapping becomes `to_be_in_type_list`. Everything else is returned unchanged (the same objects), so a
    suite written in pandas names runs on pandas exactly as before.
    """
    table = ENGINE_TYPES[engine]
    out: list[dict[str, Any]] = []
    for spec in specs:
        etype = spec.get("type")
        kwargs = spec.get("kwargs") or {}
        if etype not in TYPE_EXPECTATIONS:
            out.append(spec)
            continue
        given = kwargs.get("type_list") if etype == TYPE_EXPECTATIONS[0] else [kwargs.get("type_")]
        if not isinstance(given, list) or not all(isinstance(n, str) for n in given):
            out.append(spec)
            continue
        hint = (spec.get("meta") or {}).get("logical_type")
        own = {n for names in table.values() for n in names}
        mapped: list[str] = []
        for name in given:
            logical = None if name in own else _logical_of(name)
            if logical is None and name not in own and isinstance(hint, str) and hint in table:
                logical = hint
            mapped.extend(table[logical] if logical is not None else [name])
        names = list(dict.fromkeys(mapped))
        if names == given:
            out.append(spec)
            continue
        new_kwargs = {k: v for k, v in kwargs.items() if k not in ("type_", "type_list")}
        new_kwargs["type_list"] = names
        converted = {"type": TYPE_EXPECTATIONS[0], "kwargs": new_kwargs}
        if spec.get("meta"):
            converted["meta"] = spec["meta"]
        out.append(converted)
    return out


# -- suite references and expectation checks ----------------------------------------------------


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`name` -> (name, None) meaning the latest; `name@N` -> (name, N)."""
    m = REF_RE.match(ref) if isinstance(ref, str) else None
    if m is None:
        raise InvalidInput(
            f"{_show(ref)} is not a suite reference; use 'name' for the latest version or 'name@N' for "
            "version N (names: letters, digits, '.', '_', '-')."
        )
    version = m.group("version")
    if version is not None and int(version) < 1:
        raise InvalidInput("Suite versions start at 1; use 'name@1' or later.")
    return m.group("name"), None if version is None else int(version)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_pydantic(err: Any) -> str:
    """One phrase from a pydantic (v1, as GX uses it) validation error: unknown, missing, then wrong."""
    extra, missing, wrong = [], [], {}
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "kwargs"
        kind = e.get("type", "")
        if kind == "value_error.extra":
            extra.append(loc)
        elif kind == "value_error.missing":
            missing.append(loc)
        elif loc not in wrong:
            wrong[loc] = e.get("msg", "is not valid")
    if extra:
        return f"unknown argument(s) {', '.join(repr(x) for x in extra[:5])}"
    if missing:
        return f"missing required argument(s) {', '.join(repr(x) for x in missing[:5])}"
    if len(wrong) > 1:  # a field's own error explains the cross-field one that follows from it
        wrong.pop("__root__", None)
    parts = [f"{loc if loc != '__root__' else 'kwargs'}: {msg}" for loc, msg in list(wrong.items())[:3]]
    return "; ".join(parts) or "its arguments are not valid"


def build_expectations(specs: list[dict[str, Any]]) -> list[Any]:
    """GX expectation objects from `{"type", "kwargs", "meta"}` dicts; one clear error for the first bad one.

    GX's own ExpectationSuite constructor logs and DROPS an invalid expectation, so each one is built
    here first and a bad one is refused instead of silently lost.
    """
    quiet_gx()
    from great_expectations import exceptions as gx_exc
    from great_expectations.compatibility import pydantic as gx_pydantic
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    if not specs:
        raise InvalidInput("A suite needs at least one expectation.")
    if len(specs) > MAX_EXPECTATIONS:
        raise InvalidInput(f"A suite holds at most {MAX_EXPECTATIONS} expectations; split it.")
    built = []
    for i, spec in enumerate(specs):
        etype = spec.get("type")
        kwargs = dict(spec.get("kwargs") or {})
        where = f"Expectation {i} ({_show(etype)})"
        if not isinstance(etype, str) or not TYPE_RE.match(etype):
            raise InvalidInput(
                f"{where}: the type must be a GX expectation name such as 'expect_column_to_exist'."
            )
        for key, why in REFUSED_KWARGS.items():
            if key in kwargs:
                raise InvalidInput(f"{where}: the argument '{key}' is not accepted ({why}).")
        for key in REGEX_KWARGS:
            if key in kwargs:
                patterns = kwargs[key] if isinstance(kwargs[key], list) else [kwargs[key]]
                for pattern in patterns:
                    _check_regex(pattern, where, key)
        if "partition_object" in kwargs:
            _check_partition(kwargs["partition_object"], where)
        if isinstance(kwargs.get("strftime_format"), str):
            _check_strftime(kwargs["strftime_format"], where)
        if "json_schema" in kwargs:
            _check_json_schema(kwargs["json_schema"], where)
        try:
            config = ExpectationConfiguration(type=etype, kwargs=kwargs, meta=spec.get("meta") or {})
            built.append(config.to_domain_obj())
        except gx_exc.ExpectationNotFoundError:
            raise InvalidInput(
                f"{where}: unknown expectation type; use a Great Expectations 1.x type such as "
                "'expect_column_values_to_be_between'."
            ) from None
        except gx_pydantic.ValidationError as err:
            raise InvalidInput(f"{where}: {_describe_pydantic(err)}.") from None
        except (gx_exc.InvalidExpectationConfigurationError, gx_exc.InvalidExpectationKwargsError) as err:
            raise InvalidInput(f"{where}: {str(err).splitlines()[0][:200]}.") from None
        except (TypeError, ValueError) as err:
            raise InvalidInput(f"{where}: {str(err).splitlines()[0][:200]}.") from None
    return built


def _check_regex(pattern: Any, where: str, key: str) -> None:
    if not isinstance(pattern, str):
        raise InvalidInput(f"{where}: '{key}' must be a string regular expression.")
    try:
        re.compile(pattern)
    except re.error as err:
        raise InvalidInput(f"{where}: '{key}' is not a valid regular expression ({err}).") from None


def _check_strftime(fmt: str, where: str) -> None:
    """GX checks a strftime format by a round trip through strptime, whose re.error ("%Y%Y": a directive
    twice) escapes its pydantic validator as a crash; the same round trip here gives one sentence."""
    try:
        dt.datetime.strptime(dt.datetime.now(dt.UTC).strftime(fmt), fmt)
    except (ValueError, re.error) as err:
        raise InvalidInput(
            f"{where}: 'strftime_format' {_show(fmt)} cannot parse the dates it formats ({str(err)[:120]}); "
            "use each directive (such as %Y) at most once."
        ) from None


REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def check_stored(sv: SuiteVersion) -> None:
    """What saving checks now and did not always: a suite saved before runs only if it still passes
    (a json_schema referring outside itself would make the run fetch that URL)."""
    for i, spec in enumerate(sv.expectations):
        kwargs = spec.get("kwargs") or {}
        if "json_schema" in kwargs:
            _check_json_schema(kwargs["json_schema"], f"Suite '{sv.ref}', expectation {i}")


def _check_json_schema(schema: Any, where: str) -> None:
    """Only references inside the schema itself ('#...'): jsonschema fetches any other `$ref` over the
    network while it validates, which would let a suite make the server request any URL it can reach."""
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            for key in REF_KEYWORDS:
                ref = node.get(key)
                if ref is not None and not (isinstance(ref, str) and ref.startswith("#")):
                    raise InvalidInput(
                        f"{where}: 'json_schema' refers to {_show(ref)} outside itself; only references "
                        "within the schema ('#/$defs/...') are allowed, so put the referenced schema under $defs."
                    )
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_partition(partition: Any, where: str) -> None:
    """A KL-divergence partition GX can evaluate; checked here because GX only finds out during every run.

    JSON has no Infinity (an infinite bin edge arrives as null), so open end bins are written the way GX
    documents them: `tail_weights` [below the first edge, above the last]."""
    from great_expectations.execution_engine.util import is_valid_partition_object

    if partition is None:  # GX builds the partition from the data
        return
    if isinstance(partition, dict) and "bins" in partition:
        bins = partition["bins"]
        if not isinstance(bins, list) or not all(_is_number(b) for b in bins):
            raise InvalidInput(
                f"{where}: partition_object bins must be finite numbers (JSON has no Infinity); give the "
                "weight below the first and above the last edge as tail_weights [below, above] instead."
            )
    numbers = ("weights", "tail_weights")
    try:
        valid = isinstance(partition, dict) and is_valid_partition_object(partition)
        valid = valid and all(
            isinstance(partition.get(k, []), list) and all(_is_number(w) for w in partition.get(k, []))
            for k in numbers
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise InvalidInput(
            f"{where}: partition_object must be {{bins, weights[, tail_weights]}} with increasing bins, one "
            "more bin than weights and all weights summing to 1, or {values, weights} with weights summing "
            "to 1."
        )


def has_regex(specs: list[dict[str, Any]]) -> bool:
    """True when a spec evaluates a pattern of the caller's (it must run where it can be killed)."""
    return any(
        s.get("type") in PATTERN_TYPES or any(key in (s.get("kwargs") or {}) for key in REGEX_KWARGS)
        for s in specs
    )


def referenced_columns(specs: list[dict[str, Any]]) -> list[str]:
    """The columns the specs need the data to have (checked before a run); expectations about which
    columns exist are left out, as a missing column is what they report."""
    cols: list[str] = []
    for s in specs:
        if s.get("type") in COLUMN_PRESENCE_TYPES:
            continue
        kw = s.get("kwargs") or {}
        for key in COLUMN_KWARGS:
            if isinstance(kw.get(key), str):
                cols.append(kw[key])
        for key in COLUMN_LIST_KWARGS:
            if isinstance(kw.get(key), list):
                cols.extend(c for c in kw[key] if isinstance(c, str))
    return list(dict.fromkeys(cols))


def serialize(expectation: Any) -> dict[str, Any]:
    """An expectation object -> `{"type", "kwargs"[, "meta"]}` (GX's serialized form, store ids dropped)."""
    config = expectation.configuration.to_json_dict()
    out: dict[str, Any] = {"type": config["type"], "kwargs": config.get("kwargs") or {}}
    if config.get("meta"):
        out["meta"] = config["meta"]
    return out


# -- the engine: one file-backed context per process --------------------------------------------


@dataclass
class SuiteVersion:
    name: str
    version: int
    gx_name: str
    expectations: list[dict[str, Any]]
    created_at: dt.datetime | None
    description: str | None
    versions: list[int] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class GxEngine:
    """The file-backed GX context under `<home>/gx`, its batch definition and a lock (contexts are not thread-safe)."""

    def __init__(self, home: Path) -> None:
        quiet_gx()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        quiet_gx()  # again: importing GX created loggers that set themselves to INFO
        self.home = Path(home)
        self.lock = threading.RLock()
        self._file_lock = FileLock(self.home / "gx" / STORE_LOCK) if FileLock.available() else None
        self._held: str | None = None  # "shared" or "exclusive" while this engine holds the file lock
        self._gx = gx
        self._adhoc: Any = None
        # Exclusive: opening a project writes great_expectations.yml in place (creating it, saving the
        # variables, adding the data source), and another process must not read it half written.
        with self._store_lock(exclusive=True):
            self.context = gx.get_context(mode="file", project_root_dir=str(self.home))
            _atomic_store_writes(self.context)
            bars = self.context.variables.progress_bars
            if (
                not bars
                or _get(bars, "globally") is not False
                or _get(bars, "metric_calculations") is not False
            ):
                self.context.variables.progress_bars = ProgressBarsConfig(
                    globally=False, metric_calculations=False
                )
                self.context.variables.save()
            if self.context.config.analytics_enabled is not False:
                self.context.enable_analytics(False)
            self.batch_definition = _batch_definition(self.context)

    @contextlib.contextmanager
    def _store_lock(self, *, exclusive: bool) -> Iterator[None]:
        """This process's threads (`self.lock`), then the other processes on the project (the file lock:
        exclusive to write, shared to read). Conflict when another process holds it past the timeout."""
        with self.lock:
            if self._held == "exclusive" or (self._held == "shared" and not exclusive):
                yield  # the outer hold covers it
                return
            if self._held == "shared":  # pragma: no cover - a programming error, not a state
                raise RuntimeError("the GX store lock cannot be upgraded from shared to exclusive")
            if self._file_lock is None:  # no flock (Windows): only this process's threads are coordinated
                yield
                return
            deadline = time.monotonic() + STORE_LOCK_TIMEOUT_S
            fds: tuple[int, ...] | None
            if exclusive:
                fds = self._file_lock.acquire_exclusive(deadline)
            else:
                fd = self._file_lock.acquire_shared(deadline)
                fds = None if fd is None else (fd,)
            if fds is None:
                raise Conflict(STORE_BUSY)
            self._held = "exclusive" if exclusive else "shared"
            try:
                yield
            finally:
                self._held = None
                for fd in reversed(fds):
                    os.close(fd)

    # -- suites --

    def _versions_by_name(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for key in self.context.expectations_store.list_keys():
            name, at, version = str(key.to_tuple()[0]).rpartition("@")
            if at and NAME_RE.match(name) and version.isdigit():
                found.setdefault(name, []).append(int(version))
        return {k: sorted(v) for k, v in sorted(found.items())}

    def versions(self, name: str) -> list[int]:
        with self._store_lock(exclusive=False):
            return self._versions_by_name().get(name, [])

    def list_suites(self) -> list[SuiteVersion]:
        with self._store_lock(exclusive=False):
            out = []
            for name, versions in self._versions_by_name().items():
                suite = self._load(name, versions[-1], versions)
                out.append(suite)
            return out

    def create_suite(
        self, name: str, specs: list[dict[str, Any]], description: str | None = None, used_up_to: int = 0
    ) -> SuiteVersion:
        """Save `specs` as the next version of `name`. `used_up_to` is the highest version any stored result
        recorded: a deleted version's number is never given to different expectations.

        Choosing the number and writing the version happen under the exclusive store lock, so writers in
        other processes each get their own next version instead of writing the same file at once."""
        from great_expectations import exceptions as gx_exc
        from great_expectations.core.expectation_suite import ExpectationSuite

        check_name(name, "suite name")
        expectations = build_expectations(specs)
        created = dt.datetime.now(dt.UTC)
        with self._store_lock(exclusive=True):
            versions = self._versions_by_name().get(name, [])
            version = max(versions[-1] if versions else 0, used_up_to) + 1
            gx_name = f"{name}@{version}"
            meta = {
                "mlops": {
                    "name": name,
                    "version": version,
                    "created_at": created.isoformat(),
                    "description": description,
                }
            }
            try:
                suite = self.context.suites.add(
                    ExpectationSuite(name=gx_name, expectations=expectations, meta=meta)
                )
                self.context.validation_definitions.add(
                    self._gx.ValidationDefinition(name=gx_name, data=self.batch_definition, suite=suite)
                )
            except gx_exc.DataContextError:
                # Another process saved it first: only where no file lock coordinates the processes.
                if version in self._versions_by_name().get(name, []):
                    raise Conflict(
                        f"Another writer saved suite '{gx_name}' at the same moment; save again to get the "
                        "next version."
                    ) from None
                raise
            if len(suite.expectations) != len(expectations):  # GX dropped one: never silently
                self._delete_version(gx_name)
                raise InvalidInput(
                    "Great Expectations refused one of the expectations; check them one by one."
                )
            return SuiteVersion(
                name,
                version,
                gx_name,
                [serialize(e) for e in suite.expectations],
                created,
                description,
                [*versions, version],
            )

    def resolve(self, ref: str) -> SuiteVersion:
        name, version = parse_ref(ref)
        with self._store_lock(exclusive=False):
            versions = self._versions_by_name().get(name, [])
            if not versions:
                raise NotFound(
                    f"No suite named '{name}'; create one with validation_create_suite or list them."
                )
            if version is None:
                version = versions[-1]
            elif version not in versions:
                raise NotFound(
                    f"Suite '{name}' has no version {version}; its versions are "
                    f"{', '.join(str(v) for v in versions)}."
                )
            return self._load(name, version, versions)

    def _load(self, name: str, version: int, versions: list[int]) -> SuiteVersion:
        suite = self.context.suites.get(f"{name}@{version}")
        info = (suite.meta or {}).get("mlops") or {}
        created = None
        with contextlib.suppress(TypeError, ValueError):
            created = dt.datetime.fromisoformat(str(info.get("created_at")))
        return SuiteVersion(
            name,
            version,
            suite.name,
            [serialize(e) for e in suite.expectations],
            created,
            info.get("description"),
            list(versions),
        )

    def delete(self, ref: str) -> tuple[str, list[int], list[int]]:
        """Delete one version (`name@N`) or every version (`name`); returns (name, deleted, remaining)."""
        name, version = parse_ref(ref)
        with self._store_lock(exclusive=True):
            versions = self._versions_by_name().get(name, [])
            if not versions:
                raise NotFound(f"No suite named '{name}'; list the suites with validation_list_suites.")
            if version is not None and version not in versions:
                raise NotFound(
                    f"Suite '{name}' has no version {version}; its versions are "
                    f"{', '.join(str(v) for v in versions)}."
                )
            doomed = versions if version is None else [version]
            for v in doomed:
                self._delete_version(f"{name}@{v}")
            return name, doomed, [v for v in versions if v not in doomed]

    def _delete_version(self, gx_name: str) -> None:
        from great_expectations import exceptions as gx_exc

        with contextlib.suppress(gx_exc.DataContextError):
            self.context.validation_definitions.delete(gx_name)
        self.context.suites.delete(gx_name)

    # -- running --

    def run_stored(
        self, gx_name: str, df: pd.DataFrame, check: Callable[[], None] | None = None
    ) -> tuple[list[Any], list[str]]:
        from great_expectations import exceptions as gx_exc

        with self.lock:
            try:
                with self._store_lock(exclusive=False):  # only while reading: a run may take long
                    suite = self.context.suites.get(gx_name)
            except gx_exc.DataContextError:
                raise NotFound(
                    f"Suite version '{gx_name}' was deleted while the run started; run again."
                ) from None
            return validate(self.batch_definition, df, suite, check), [str(e.id) for e in suite.expectations]

    def run_adhoc(
        self, expectations: list[Any], df: pd.DataFrame, check: Callable[[], None] | None = None
    ) -> tuple[list[Any], list[str]]:
        """Run expectations once on an ephemeral context (integrity checks); nothing is stored."""
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.data_context.types.base import ProgressBarsConfig

        with self.lock:
            if self._adhoc is None:
                ctx = self._gx.get_context(mode="ephemeral")
                ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
                bd = _batch_definition(ctx)
                self._adhoc = (ctx, bd)
            ctx, bd = self._adhoc
            name = f"adhoc-{uuid.uuid4().hex}"
            # Added to the (in-memory) store only so that each expectation gets the id results map back by.
            suite = ctx.suites.add(ExpectationSuite(name=name, expectations=expectations))
            try:
                return validate(bd, df, suite, check), [str(e.id) for e in suite.expectations]
            finally:
                ctx.suites.delete(name)


def validate(
    batch_definition: Any, df: Any, suite: Any, check: Callable[[], None] | None = None
) -> list[Any]:
    """GX's result of each expectation of `suite` on `df` (a pandas or Spark DataFrame).

    GX's validator runs the suite rather than a ValidationDefinition: a run also stores GX's own copy of
    the results, which GX 1.24 cannot serialise for some expectations (the numpy booleans of
    expect_column_quantile_values_to_be_between), and that failure would lose every result. It is the
    validator `Batch.validate` builds, made directly: a Batch from `get_batch` would load the data (and hash
    every row for its batch id) once more before its validator loads it again. An error that escapes GX's
    per-expectation handling is pinned on its expectation by running each on its own (after `check`, which
    stops a late or cancelled call), on the same validator and its loaded batch.
    """
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(batch_definition, result_format=RESULT_FORMAT, batch_parameters={"dataframe": df})
    try:
        try:
            return list(validator.validate_expectation_suite(suite).results)
        except Exception:
            log.warning("a GX run failed as a whole; validating its expectations one by one", exc_info=True)
        results = []
        for expectation in suite.expectations:
            if check is not None:
                check()
            try:
                results.append(validator.validate_expectation(expectation))
            except Exception as err:
                info = {"raised_exception": True, "exception_message": f"{type(err).__name__}: {err}"}
                results.append(
                    ExpectationValidationResult(
                        success=False, expectation_config=expectation.configuration, exception_info=info
                    )
                )
        return results
    finally:
        _release_batches(batch_definition)


def _release_batches(batch_definition: Any) -> None:
    """Drop the data GX's execution engine keeps of every batch it loaded.

    The data source's engine lives as long as the context, and its BatchManager keeps each batch's data
    (here: the whole DataFrame) by batch id and never lets it go: in a server that validates file after
    file, every file would stay in memory, and the next run's read would sit on top of the last one's."""
    manager = batch_definition.data_asset.datasource.get_execution_engine().batch_manager
    manager.batch_data_cache.clear()
    manager.reset_batch_cache()


def _atomic_store_writes(context: Any) -> None:
    """Route the suite and validation-definition stores' file writes through core/files.py.

    GX's filesystem backend writes a file in place (`open(path, "wb")`): a reader sees it half written, a
    crash leaves it so, and two writers of one name interleave their bytes into a file that no longer
    parses. Its `_set` is replaced, on these backends only, by the same write to a temporary name, fsynced
    and renamed over the file; keys and paths stay GX's own."""
    from great_expectations.data_context.store.tuple_store_backend import TupleFilesystemStoreBackend

    for store in (context.expectations_store, context.validation_definition_store):
        backend = store.store_backend
        if not isinstance(backend, TupleFilesystemStoreBackend):
            continue

        def _set(key: Any, value: Any, _backend: Any = backend, **kwargs: Any) -> str:
            parts = key if isinstance(key, tuple) else key.to_tuple()
            path = Path(_backend.full_base_directory) / _backend._convert_key_to_filepath(parts)
            write_bytes_atomic(path, value.encode("utf-8") if isinstance(value, str) else value)
            return str(path)

        backend._set = _set  # type: ignore[method-assign]


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _batch_definition(context: Any) -> Any:
    try:
        source = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(ASSET)
    except LookupError:
        asset = source.add_dataframe_asset(ASSET)
    try:
        return asset.get_batch_definition(BATCH)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH)


# -- jobs: read, check, run, convert (the same code in a thread or in a worker process) --------


@dataclass
class Job:
    """Everything a run needs, picklable for the worker process."""

    home: str
    path: str
    limits: TableLimits
    include_samples: bool
    gx_name: str | None = None  # a stored suite version
    expectations: list[dict[str, Any]] = field(default_factory=list)  # the suite's or the rules'
    rules: list[dict[str, Any]] = field(default_factory=list)  # integrity rules (kind, ...)
    references: dict[str, str] = field(default_factory=dict)  # rule reference path -> resolved path
    # A part of a stored suite (engine=duckdb sends the expectations it must not run to pandas):
    # `expectations` are that part, `indices` their positions in the suite, `columns` the ones read.
    indices: list[int] | None = None
    columns: list[str] | None = None


def read(path: str, limits: TableLimits, columns: list[str] | None = None) -> pd.DataFrame:
    from mcp_server.core.tables import read_table

    return read_table(Path(path), limits, columns=columns)


def check_columns(df: Any, wanted: list[str], what: str, path: str) -> None:
    """Refuse a suite or rule naming columns the data (pandas or Spark) does not have."""
    present = [str(c) for c in df.columns]
    missing = [c for c in wanted if c not in set(present)]
    if missing:
        shown = ", ".join(repr(c) for c in list(present)[:12])
        raise InvalidInput(
            f"{what} refers to column(s) {', '.join(repr(c) for c in missing[:5])} that "
            f"'{Path(path).name}' does not have; its columns are {shown}."
        )


def _no_step(done: float, total: float | None = None, message: str | None = None) -> None:
    return None


def run_job(
    engine: GxEngine, job: Job, control: Control | None = None, frame: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Read the dataset (or take `frame`), run a stored suite (job.gx_name) or integrity rules, return
    plain results."""
    step = control.step if control is not None else _no_step
    check = control.check if control is not None else None
    started = time.perf_counter()
    step(0, 4, "reading the dataset")
    df = read(job.path, job.limits, job.columns) if frame is None else frame
    step(1, 4, f"validating {len(df)} rows with Great Expectations")
    labels: dict[int, tuple[str | None, str | None]] = {}
    if job.gx_name is not None:
        check_columns(df, referenced_columns(job.expectations), f"Suite '{job.gx_name}'", job.path)
        specs = engine_specs(job.expectations, "pandas")
        if job.indices is not None:  # a part of the suite: its outcomes keep their places in the suite
            results, ids = engine.run_adhoc(build_expectations(specs), df, check)
            out = summary(results, ids, labels, job.include_samples, len(df), started, "pandas")
            for o in out["outcomes"]:
                o["index"] = job.indices[o["index"]]
            return out
        if specs == job.expectations:
            results, ids = engine.run_stored(job.gx_name, df, check)
        else:  # engine-neutral type names: the suite's expectations in pandas names, run once
            results, ids = engine.run_adhoc(build_expectations(specs), df, check)
    else:
        checked, specs, labels = integrity(PandasRules(df, job))
        results, ids = engine.run_adhoc(build_expectations(engine_specs(specs, "pandas")), checked, check)
    step(3, 4, "collecting results")
    return summary(results, ids, labels, job.include_samples, len(df), started, "pandas")


# A warm worker's engines (core/blocking.WorkerPool): built on its first job for a home, kept for the next.
_WORKER_ENGINES: dict[str, GxEngine] = {}


def warm_worker() -> None:
    """A validation worker's start: GX imported (seconds) before its first job."""
    quiet_gx()
    import great_expectations  # noqa: F401

    quiet_gx()


def run_job_isolated(job: Job) -> dict[str, Any]:
    """Entry point of a worker process (`control.run_killable`): its own engine on the same GX project,
    kept for the worker's next job (it reads the suite from the store on every job)."""
    engine = _WORKER_ENGINES.get(job.home)
    if engine is None:
        engine = _WORKER_ENGINES[job.home] = GxEngine(Path(job.home))
    return run_job(engine, job)


def summary(
    results: list[Any],
    ids: list[str],
    labels: dict[int, tuple[str | None, str | None]],
    include_samples: bool,
    rows: int,
    started: float,
    engine: str,
) -> dict[str, Any]:
    """GX's results as plain data: counts and one outcome per expectation (failures first)."""
    return counted(convert(results, ids, labels, include_samples), rows, started, engine)


def counted(outcomes: list[dict[str, Any]], rows: int, started: float, engine: str) -> dict[str, Any]:
    """A run's plain result from its outcomes: their counts, the rows, the time since `started`."""
    successful = sum(1 for o in outcomes if o["success"])
    return {
        "success": successful == len(outcomes),
        "row_count": rows,
        "evaluated": len(outcomes),
        "successful": successful,
        "failed": len(outcomes) - successful,
        "outcomes": outcomes,
        "seconds": time.perf_counter() - started,
        "engine": engine,
    }


def convert(
    results: list[Any],
    ids: list[str],
    labels: dict[int, tuple[str | None, str | None]],
    include_samples: bool,
) -> list[dict[str, Any]]:
    """GX's results -> one outcome per expectation, failures first, then by position in the suite.

    GX groups results by domain, so each is put back at its expectation's position through its id. A
    result this code cannot read becomes that expectation's error, not the whole run's.
    """
    position_of = {eid: i for i, eid in enumerate(ids)}
    outcomes = []
    for position, r in enumerate(results):
        cfg = r.expectation_config
        index = position_of.get(cfg.id, position)
        try:
            out = _outcome(r, index, labels, include_samples)
        except Exception as err:
            log.warning("could not read GX's result of expectation %s", index, exc_info=True)
            out = {
                "index": index,
                "type": cfg.type,
                "column": column_of(cfg.kwargs or {}),
                "success": False,
                "error": f"the server could not read GX's result ({type(err).__name__})",
            }
        outcomes.append(out)
    outcomes.sort(key=lambda o: (o["success"], o["index"]))
    return outcomes


def _outcome(
    r: Any, index: int, labels: dict[int, tuple[str | None, str | None]], include_samples: bool
) -> dict[str, Any]:
    cfg = r.expectation_config
    kwargs = {k: v for k, v in (cfg.kwargs or {}).items() if k != "batch_id"}
    res = r.result or {}
    column, rule = labels.get(index, (None, None))
    unexpected = number(res.get("unexpected_count"))
    out: dict[str, Any] = {
        "index": index,
        "type": cfg.type,
        "column": column or column_of(kwargs),
        "rule": rule,
        "success": bool(r.success),
        "observed_value": plain(res.get("observed_value"), chars=SAMPLE_CHARS, items=OBSERVED_ITEMS),
        "unexpected_count": None if unexpected is None else int(unexpected),
        "unexpected_percent": number(res.get("unexpected_percent"), 6),
        "sample": None,
        "sample_rows": None,
        "error": _exception_message(r.exception_info),
    }
    if out["error"]:
        out["success"] = False
    if include_samples and not r.success and res.get("partial_unexpected_list") is not None:
        out["sample"] = _cap_sample(list(res["partial_unexpected_list"])[:SAMPLE_VALUES])
        rows = res.get("partial_unexpected_index_list")
        if isinstance(rows, list) and all(isinstance(x, int) for x in rows):
            out["sample_rows"] = [int(x) for x in rows[:SAMPLE_VALUES]]
    return out


def _cap_sample(values: list[Any], max_chars: int = 800) -> list[Any]:
    """Failing values, JSON-safe; rows (multi-column expectations) keep their first columns only."""
    sample = plain(values, chars=SAMPLE_CHARS, items=SAMPLE_ITEMS)
    while len(sample) > 1 and len(json.dumps(sample, default=str)) > max_chars:
        sample.pop()
    return list(sample)


def column_of(kwargs: dict[str, Any]) -> str | None:
    if isinstance(kwargs.get("column"), str):
        return str(kwargs["column"])
    if isinstance(kwargs.get("column_A"), str):
        return f"{kwargs['column_A']}, {kwargs.get('column_B')}"
    if isinstance(kwargs.get("column_list"), list):
        cols = [str(c) for c in kwargs["column_list"]]
        return ", ".join(cols[:6]) + (f", ... ({len(cols)} columns)" if len(cols) > 6 else "")
    return None


def _exception_message(info: Any) -> str | None:
    if not isinstance(info, dict):
        return None
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for item in infos:
        if item.get("raised_exception"):
            text = str(item.get("exception_message") or "GX raised an error").splitlines()[0]
            return text[:300]
    return None


# -- integrity rules -> GX expectations on the dataset (plus derived columns the engine builds) ---


def compare_spec(a: str, op: str, b: str) -> dict[str, Any]:
    """A `compare` integrity rule as one GX column-pair expectation (the same on every engine)."""
    if op == "==":
        return {
            "type": "expect_column_pair_values_to_be_equal",
            "kwargs": {"column_A": a, "column_B": b, "ignore_row_if": "either_value_is_missing"},
        }
    big, small = (a, b) if op in (">", ">=") else (b, a)
    return {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {
            "column_A": big,
            "column_B": small,
            "or_equal": op in (">=", "<="),
            "ignore_row_if": "either_value_is_missing",
        },
    }


class Rules:
    """What an engine gives the integrity rules: its data, the values of a foreign key's reference and the
    derived columns (a sum minus its target; a target kept only where a condition holds). The columns are
    built from an allowlist of the engine's operators, never from a string the caller wrote."""

    def __init__(self, df: Any, job: Job) -> None:
        self.df = df
        self.job = job
        self.derived: dict[str, Any] = {}

    def need(self, columns: list[str], i: int) -> None:
        check_columns(self.df, columns, f"Rule {i}", self.job.path)

    def column_name(self, i: int) -> str:
        name = f"__rule_{i}__"
        while name in set(self.df.columns):
            name = "_" + name
        return name

    def reference_values(self, path: str, column: str, i: int) -> list[Any]:
        raise NotImplementedError

    def difference(self, columns: list[str], target: str, i: int) -> Any:
        """sum(columns) - target, null when any part is null; refuses columns that are not numeric."""
        raise NotImplementedError

    def required(self, target: str, cond: dict[str, Any], i: int) -> Any:
        """Null exactly where the condition holds and the target is null; elsewhere a non-null filler."""
        raise NotImplementedError

    def frame(self) -> Any:
        raise NotImplementedError


def integrity(rules: Rules) -> tuple[Any, list[dict[str, Any]], dict[int, tuple[str | None, str | None]]]:
    """Each rule becomes one GX expectation: (the data with derived columns, the specs, index -> labels)."""
    specs: list[dict[str, Any]] = []
    labels: dict[int, tuple[str | None, str | None]] = {}
    for i, rule in enumerate(rules.job.rules):
        kind = rule["kind"]
        if kind == "foreign_key":
            rules.need([rule["column"]], i)
            ref_path = rules.job.references[rule["reference"]]
            values = rules.reference_values(ref_path, rule["reference_column"], i)
            specs.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": rule["column"], "value_set": values},
                }
            )
            label = f"{rule['column']} in {Path(ref_path).name}.{rule['reference_column']}"
            labels[i] = (rule["column"], label)
        elif kind == "compare":
            a, op, b = rule["left"], rule["op"], rule["right"]
            rules.need([a, b], i)
            specs.append(compare_spec(a, op, b))
            labels[i] = (f"{a}, {b}", f"{a} {op} {b}")
        elif kind == "sum_equals":
            cols, target, tol = list(rule["columns"]), rule["equals"], float(rule.get("tolerance") or 0.0)
            rules.need([*cols, target], i)
            name = rules.column_name(i)
            rules.derived[name] = rules.difference(cols, target, i)
            specs.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": name, "min_value": -tol, "max_value": tol},
                }
            )
            text = f"{' + '.join(cols)} == {target} (tolerance {tol:g})"
            labels[i] = (f"{' + '.join(cols)} - {target}", text)
        elif kind == "required_if":
            cond, target = rule["when"], rule["column"]
            rules.need([cond["column"], target], i)
            name = rules.column_name(i)
            rules.derived[name] = rules.required(target, cond, i)
            specs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": name}})
            shown = (
                cond["op"] if cond["op"] in ("not_null", "is_null") else f"{cond['op']} {cond.get('value')!r}"
            )
            labels[i] = (target, f"{target} not null when {cond['column']} {shown}")
        elif kind == "expectation":
            spec = {"type": rule["type"], "kwargs": dict(rule.get("kwargs") or {})}
            if rule.get("meta"):
                spec["meta"] = rule["meta"]
            rules.need(referenced_columns([spec]), i)
            specs.append(spec)
            labels[i] = (None, f"business rule {rule['type']}")
        else:  # pragma: no cover - the argument model allows only the kinds above
            raise InvalidInput(f"Rule {i}: unknown kind {_show(kind)}.")
    return rules.frame(), specs, labels


class PandasRules(Rules):
    def reference_values(self, path: str, column: str, i: int) -> list[Any]:
        import pandas as pd

        ref = read(path, self.job.limits)
        check_columns(ref, [column], f"Rule {i}", path)
        return list(plain(pd.unique(ref[column].dropna()).tolist(), chars=None, items=10**9))

    def difference(self, columns: list[str], target: str, i: int) -> Any:
        import pandas as pd

        df = self.df
        numeric = [c for c in [*columns, target] if not pd.api.types.is_numeric_dtype(df[c])]
        if numeric:
            raise InvalidInput(f"Rule {i}: column(s) {numeric} are not numeric, so they cannot be summed.")
        return df[columns].sum(axis=1, min_count=len(columns)) - df[target]

    def required(self, target: str, cond: dict[str, Any], i: int) -> Any:
        holds = mask(self.df, cond["column"], cond["op"], cond.get("value"), f"Rule {i}")
        return self.df[target].astype(object).where(holds, other=True)

    def frame(self) -> pd.DataFrame:
        return self.df.assign(**self.derived) if self.derived else self.df


# -- suggesting a suite from a profile of the data ----------------------------------------------


def logical_type(series: pd.Series) -> str | None:
    import pandas as pd

    t = pd.api.types
    dtype = series.dtype
    if t.is_bool_dtype(dtype):
        return "boolean"
    if t.is_integer_dtype(dtype):
        return "integer"
    if t.is_float_dtype(dtype):
        return "float"
    if t.is_datetime64_dtype(dtype):  # tz-naive only: GX's pandas type check has no tz-aware names
        return "timestamp"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if t.is_object_dtype(dtype):
        values = series.dropna()
        if len(values) and values.map(type).eq(str).all():
            return "string"
    return None


def suggest(df: pd.DataFrame, max_categories: int = 20) -> list[dict[str, Any]]:
    """Profile with pandas and propose GX expectations that hold on `df` itself."""
    n = len(df)
    columns = [c for c in df.columns if isinstance(c, str)]
    out: list[dict[str, Any]] = [
        {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": columns, "exact_match": True}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": None}},
    ]
    unique_cols = []
    for col in columns:
        s = df[col]
        kind = logical_type(s)
        nulls = int(s.isna().sum())
        nonnull = n - nulls
        if kind is not None:
            out.append(
                {
                    "type": "expect_column_values_to_be_in_type_list",
                    "kwargs": {"column": col, "type_list": TYPE_LISTS[kind]},
                    "meta": {"logical_type": kind},
                }
            )
        if nonnull == 0:
            continue
        if nulls == 0:
            out.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": col}})
        else:
            mostly = math.floor(max(0.0, nonnull / n - 0.02) * 100) / 100
            if mostly > 0:
                out.append(
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": col, "mostly": mostly},
                    }
                )
        values = s.dropna()
        try:
            nunique = int(values.nunique())
        except TypeError:  # unhashable cells (lists in JSON)
            continue
        all_distinct = nunique == nonnull
        named_like_id = id_like(col)
        is_id = (
            all_distinct
            and nonnull >= 10
            and kind in ("integer", "string")
            and (named_like_id or (kind == "integer" and bool(values.is_monotonic_increasing)))
        )
        if is_id:
            out.append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": col}})
            unique_cols.append(col)
        categorical = kind in ("integer", "string", "boolean") and not is_id and nunique <= max_categories
        categorical = categorical and nonnull >= 2 * nunique
        if categorical:
            value_set = sorted(plain(values.unique().tolist(), chars=None, items=max_categories), key=repr)
            out.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": col, "value_set": value_set},
                }
            )
        if kind in ("integer", "float") and not categorical:
            out.append(_range(col, float(values.min()), float(values.max()), kind == "integer"))
        if kind == "timestamp" and not categorical:
            margin = (values.max() - values.min()) * 0.1
            lo, hi = values.min() - margin, values.max() + margin
            out.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": col, "min_value": lo.isoformat(), "max_value": hi.isoformat()},
                }
            )
        if kind == "string" and not categorical:
            pattern = string_pattern(values)
            if pattern is not None:
                out.append(
                    {
                        "type": "expect_column_values_to_match_regex",
                        "kwargs": {"column": col, "regex": pattern},
                    }
                )
    if n >= 2 and len(columns) >= 2 and not unique_cols:
        with contextlib.suppress(TypeError):
            if not bool(df[columns].duplicated().any()):
                out.append(
                    {
                        "type": "expect_compound_columns_to_be_unique",
                        "kwargs": {"column_list": columns},
                        "meta": {"checks": "no duplicate rows"},
                    }
                )
    return out


def _range(col: str, lo: float, hi: float, integer: bool) -> dict[str, Any]:
    span = hi - lo
    margin = 0.1 * span if span > 0 else max(abs(lo) * 0.1, 1.0)
    if integer:
        low, high = math.floor(lo - margin), math.ceil(hi + margin)
        kwargs: dict[str, Any] = {"column": col, "min_value": int(low), "max_value": int(high)}
    else:
        digits = max(0, 1 - math.floor(math.log10(margin)))
        scale = 10.0**digits
        low_f = math.floor((lo - margin) * scale) / scale
        high_f = math.ceil((hi + margin) * scale) / scale
        kwargs = {"column": col, "min_value": low_f, "max_value": high_f}
    return {"type": "expect_column_values_to_be_between", "kwargs": kwargs}


def string_pattern(values: pd.Series, max_distinct: int = 200_000, max_len: int = 64) -> str | None:
    """A regex for strings that all share one shape (digits, letters, the same punctuation), else None."""
    distinct = values.unique()
    if len(distinct) > max_distinct:
        return None
    shape: list[list[Any]] | None = None  # [[class, min, max], ...]
    for v in distinct:
        if not isinstance(v, str) or not v or len(v) > max_len:
            return None
        runs = _runs(v)
        if runs is None:
            return None
        if shape is None:
            shape = [[c, k, k] for c, k in runs]
        elif len(runs) != len(shape) or any(r[0] != s[0] for r, s in zip(runs, shape, strict=True)):
            return None
        else:
            for r, s in zip(runs, shape, strict=True):
                s[1], s[2] = min(s[1], r[1]), max(s[2], r[1])
    if shape is None or all(c == "a" for c, _, _ in shape):  # only letters: not a pattern worth keeping
        return None
    parts = []
    for c, lo, hi in shape:
        atom = {"d": "[0-9]", "a": "[A-Za-z]"}.get(c, re.escape(c))
        parts.append(atom + ("" if lo == hi == 1 else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"))
    return "^" + "".join(parts) + "$"


def _runs(value: str) -> list[tuple[str, int]] | None:
    runs: list[tuple[str, int]] = []
    for ch in value:
        if "0" <= ch <= "9":
            c = "d"
        elif "a" <= ch.lower() <= "z":
            c = "a"
        elif ch.isprintable() and ch.isascii():
            c = ch
        else:
            return None
        if runs and runs[-1][0] == c and c in ("d", "a"):
            runs[-1] = (c, runs[-1][1] + 1)
        else:
            runs.append((c, 1))
    return runs
