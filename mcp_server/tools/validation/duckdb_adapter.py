"""Great Expectations' SQL engine on DuckDB (engine=duckdb): the same suites and integrity rules as
adapter.py, run by GX's own SqlAlchemyExecutionEngine against a DuckDB view over the Parquet/CSV file.

The file is never copied nor loaded into pandas: each run opens a fresh in-memory DuckDB database (its
memory_limit, threads and spill folder from the settings), creates the view `data` over the file
(`read_parquet` / `read_csv`, float NaN read as NULL as pandas reads it), and hands GX a SQL data source
whose connections are cursors of that database. GX builds and runs its SQL; DuckDB streams the file.

Two things GX 1.x does not do for DuckDB are done here:
  - `SqlAlchemyExecutionEngine.execute_query` returns the CursorResult after its `with
    self.get_connection()` block closed the connection, and its callers fetch afterwards (`.fetchall()` in
    `resolve_metric_bundle`). A DuckDB result does not outlive that close (returning the connection to
    the pool runs a ROLLBACK on the same DuckDB connection), so GX saw no rows: `IndexError: list index
    out of range` in `resolve_metric_bundle`. `DuckDBExecutionEngine.execute_query` fetches inside the block.
  - GX's dialect switches (regex, LIKE, type names) do not know `duckdb`, whose SQLAlchemy dialect
    (duckdb_engine) is PostgreSQL's: the engine's `dialect_module` names it as a PostgreSQL dialect whose
    type module also has DuckDB's type names, and column types are read with DuckDB's DESCRIBE (SQLAlchemy
    2.1's PostgreSQL reflection queries a pg_collation table DuckDB does not have).
And two metrics are computed faster, for this engine only, with the same values and GX's own conditions
(nothing else of GX is changed):
  - the per-value count of expect_column_values_to_be_unique (GX: a window read twice) is found once
    (`_register_unique_check`);
  - a map expectation's unexpected count (GX: `sum(CASE WHEN ... THEN 1 ELSE 0 END)`) is `count_if`
    (`_register_count_if`).

What GX's SQL would answer differently from its pandas engine runs on pandas instead, for that suite
(`routes`): expectations GX has no SQL implementation for, a regular expression this module cannot
rewrite into an RE2 pattern with the very same matches as Python's `re` (`re2_pattern`), a regex on a
column that is not text (pandas matches the numbers' str()), a raw SQL query (never on this database).
Each outcome says which engine ran it; an expectation DuckDB could not evaluate is run again on pandas.

GX, DuckDB and pandas are imported inside the functions; the GX subclasses are built on first use.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import BackendUnavailable, InvalidInput, LimitExceeded, MlopsError, NotFound
from mcp_server.core.values import plain
from mcp_server.tools.validation import adapter

if TYPE_CHECKING:
    import duckdb

    from mcp_server.core.boundary import Control
    from mcp_server.core.config import Settings

DATASOURCE_TYPE = "mlops_duckdb"
VIEW = "data"
FORMATS = ("parquet", "csv", "tsv")
MAX_REFERENCE_VALUES = 1_000_000  # distinct values a foreign_key rule collects from its reference
# pandas' read_csv default missing-value markers: the same cells are NULL on DuckDB.
PANDAS_NA = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]
# pandas' CSV reader infers these kinds only (no dates): DuckDB's sniffer is held to the same.
CSV_TYPES = ["BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR"]
# Expectation types GX has no SQL implementation of (1.x), or whose SQL answer differs from pandas'.
PANDAS_ONLY: dict[str, str] = {
    "expect_column_values_to_match_strftime_format": "GX has no SQL implementation of strftime formats",
    "expect_column_values_to_be_dateutil_parseable": "GX has no SQL implementation of dateutil parsing",
    "expect_column_values_to_be_json_parseable": "GX has no SQL implementation of JSON parsing",
    "expect_column_values_to_match_json_schema": "GX has no SQL implementation of JSON schemas",
    "expect_column_values_to_be_increasing": "GX has no SQL implementation of row order checks",
    "expect_column_values_to_be_decreasing": "GX has no SQL implementation of row order checks",
    "unexpected_rows_expectation": "a raw SQL query never runs on this database",
}
SQL_KWARGS = ("unexpected_rows_query", "query")
REGEX_TYPES = frozenset(
    {
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_not_match_regex_list",
    }
)
# Not silent: GX's SQL type check has no per-value count, its pandas one counts text columns' values.
TYPE_NOTE = "checks the column's DuckDB type (no per-value count, as pandas gives for text columns)"
TEXT_TYPES = ("VARCHAR", '"NULL"')  # a column of nulls only (Parquet's null type) has no value to match


# -- when DuckDB can run -------------------------------------------------------------------------


def installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("duckdb", "duckdb_engine"))


def file_format(path: Path) -> str | None:
    from mcp_server.core.tables import FORMATS as TABLE_FORMATS

    fmt = TABLE_FORMATS.get(path.suffix.lower())
    return fmt if fmt in FORMATS else None


def check_usable(path: Path) -> None:
    """engine=duckdb as asked: DuckDB installed and a Parquet, CSV or TSV file."""
    if not installed():
        raise BackendUnavailable(
            "engine=duckdb needs DuckDB: pip install 'mlops-mcp[duckdb]' (duckdb and duckdb-engine)."
        )
    if file_format(path) is None:
        raise InvalidInput(
            f"engine=duckdb reads Parquet, CSV or TSV files, not '{path.name}'; use engine=pandas."
        )


def auto_fits(settings: Settings, path: Path, rows: int | None, size: int) -> bool:
    """engine=auto takes DuckDB for a Parquet/CSV file above the DuckDB size settings (Spark's are
    checked first by the caller)."""
    if file_format(path) is None or not installed():
        return False
    return (rows is not None and rows > settings.duckdb_auto_rows) or size > settings.duckdb_auto_bytes


# -- regular expressions: Python's re, rewritten for RE2 only where the matches are the same ----------


class NotPortable(Exception):
    """A pattern (or part of one) RE2 would not match as Python's re does."""


_MAX_RE2_REPEAT = 1000
_SURROGATES = (0xD800, 0xDFFF)


@functools.lru_cache(maxsize=8)
def _category(name: str, ascii_only: bool) -> tuple[tuple[int, int], ...]:
    """The code points Python's `re` puts in \\d, \\s or \\w (str patterns), as ranges: found by running
    `re` itself over every code point, so they are Python's own sets whatever RE2's Unicode tables say."""
    every = "".join(map(chr, range(0x110000)))
    found = re.findall("\\" + name, every, flags=re.ASCII if ascii_only else 0)
    return _ranges(ord(c) for c in found)


def _ranges(points: Any) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for p in sorted(set(points)):
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return tuple((a, b) for a, b in out)


def _complement(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out, start = [], 0
    for a, b in ranges:
        if a > start:
            out.append((start, a - 1))
        start = b + 1
    if start <= 0x10FFFF:
        out.append((start, 0x10FFFF))
    return tuple(out)


def _char(cp: int) -> str:
    """One code point as both RE2 and Python read it literally: ASCII letters and digits as they are, the
    rest of Latin-1 as \\xHH, anything above as the character itself (no regex syntax is above ASCII)."""
    if _SURROGATES[0] <= cp <= _SURROGATES[1]:
        raise NotPortable("it holds a lone surrogate, which UTF-8 text never contains")
    if cp < 0x80 and chr(cp).isalnum():
        return chr(cp)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return chr(cp)


def _class_text(ranges: tuple[tuple[int, int], ...], negate: bool) -> str:
    parts = []
    for a, b in ranges:
        # Surrogates never occur in UTF-8 text (RE2 refuses them in a class): left out.
        pieces = [(a, b)]
        if a <= _SURROGATES[1] and b >= _SURROGATES[0]:
            pieces = [(a, _SURROGATES[0] - 1), (_SURROGATES[1] + 1, b)]
        for lo, hi in pieces:
            if lo > hi:
                continue
            parts.append(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}")
    if not parts:  # matches nothing ([^\s\S]) or anything
        return "(?s:.)" if negate else f"[^\\x00-{chr(0x10FFFF)}]"
    return ("[^" if negate else "[") + "".join(parts) + "]"


def re2_pattern(pattern: str) -> str:
    """An RE2 pattern (DuckDB's regexp_matches, GX's `~` on it) with exactly the matches `re.search(pattern)`
    has, built from Python's own parse of the pattern; NotPortable names the first construct that has no
    such rewrite (backreferences, look-arounds, \\b, flags other than DOTALL/ASCII/VERBOSE, ...).

    Literals and classes are written as code points; \\d, \\s, \\w are Python's own sets; `$` (end, or before
    a final newline, in Python) becomes RE2's `\\n?$` (its `$` is the very end), where nothing can follow
    it. The result is valid Python syntax too (GX's expectation checks compile it), though only RE2 runs it."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as parser  # type: ignore[attr-defined]

    try:
        parsed = parser.parse(pattern, 0)
    except re.error as err:
        raise NotPortable(f"not a valid pattern ({err})") from None
    flags = parsed.state.flags
    unsupported = flags & ~(c.SRE_FLAG_UNICODE | c.SRE_FLAG_DOTALL | c.SRE_FLAG_ASCII | c.SRE_FLAG_VERBOSE)
    if unsupported:
        raise NotPortable("it sets flags (case-insensitive or multi-line matching) RE2 applies differently")
    dotall = bool(flags & c.SRE_FLAG_DOTALL)
    ascii_only = bool(flags & c.SRE_FLAG_ASCII)
    categories = {
        c.CATEGORY_DIGIT: ("d", False),
        c.CATEGORY_NOT_DIGIT: ("d", True),
        c.CATEGORY_SPACE: ("s", False),
        c.CATEGORY_NOT_SPACE: ("s", True),
        c.CATEGORY_WORD: ("w", False),
        c.CATEGORY_NOT_WORD: ("w", True),
    }

    def char_set(items: list[Any]) -> str:
        negate = False
        points: list[tuple[int, int]] = []
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                points.append((av, av))
            elif op is c.RANGE:
                points.append((av[0], av[1]))
            elif op is c.CATEGORY and av in categories:
                name, inverted = categories[av]
                own = _category(name, ascii_only)
                points.extend(_complement(own) if inverted else own)
            else:
                raise NotPortable(f"its character class holds {op}")
        merged = _ranges(p for a, b in points for p in range(a, b + 1)) if points else ()
        return _class_text(merged, negate)

    def seq(items: Any, tail: bool) -> str:
        items = list(items)
        return "".join(node(op, av, tail and i == len(items) - 1) for i, (op, av) in enumerate(items))

    def node(op: Any, av: Any, tail: bool) -> str:
        if op is c.LITERAL:
            return _char(av)
        if op is c.NOT_LITERAL:
            return _class_text(((av, av),), True)
        if op is c.ANY:
            return "(?s:.)" if dotall else "."
        if op is c.IN:
            return char_set(av)
        if op is c.BRANCH:
            return "(?:" + "|".join(seq(alt, tail) for alt in av[1]) + ")"
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise NotPortable("it sets flags inside a group")
            return "(?:" + seq(sub, tail) + ")"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, sub = av
            if low > _MAX_RE2_REPEAT or (high is not c.MAXREPEAT and high > _MAX_RE2_REPEAT):
                raise NotPortable(f"it repeats more than {_MAX_RE2_REPEAT} times (RE2's limit)")
            inner = "(?:" + seq(sub, False) + ")"
            count = f"{{{low},}}" if high is c.MAXREPEAT else f"{{{low},{high}}}"
            return inner + count + ("?" if op is c.MIN_REPEAT else "")
        if op is c.AT:
            # RE2 (not multi-line): ^ and \\A are the start of the text, $ its very end (Python's \\Z).
            if av is c.AT_BEGINNING or av is c.AT_BEGINNING_STRING:
                return "\\A"
            if av is c.AT_END_STRING:
                return "$"
            if av is c.AT_END:
                if not tail:
                    raise NotPortable("'$' is followed by more of the pattern")
                return "(?:\\x0a?$)"
            raise NotPortable("it uses a word boundary (\\b, \\B), which RE2 reads in ASCII only")
        raise NotPortable(f"it uses {str(op).lower()}, which RE2 does not have")

    return seq(parsed, True)


def _regex_rewrite(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its pattern(s) rewritten for RE2 (NotPortable when one cannot be)."""
    kwargs = dict(spec.get("kwargs") or {})
    if isinstance(kwargs.get("regex"), str):
        kwargs["regex"] = re2_pattern(kwargs["regex"])
    if isinstance(kwargs.get("regex_list"), list):
        kwargs["regex_list"] = [re2_pattern(p) for p in kwargs["regex_list"]]
    return {**spec, "kwargs": kwargs}


def routes(specs: list[dict[str, Any]], types: dict[str, str]) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The specs as DuckDB runs them (type names in DuckDB's, regexes in RE2's) and, by position, why an
    expectation runs on pandas instead. `types`: the view's column -> DuckDB type."""
    out: list[dict[str, Any]] = []
    pandas: dict[int, str] = {}
    for i, spec in enumerate(adapter.engine_specs(specs, "duckdb")):
        etype = str(spec.get("type"))
        kwargs = spec.get("kwargs") or {}
        if etype in PANDAS_ONLY:
            pandas[i] = PANDAS_ONLY[etype]
        elif any(k in kwargs for k in SQL_KWARGS):
            pandas[i] = "a raw SQL query never runs on this database"
        elif etype in REGEX_TYPES or any(k in kwargs for k in adapter.REGEX_KWARGS):
            column = kwargs.get("column")
            base = str(types.get(column, "")).split("(")[0] if isinstance(column, str) else ""
            if isinstance(column, str) and column in types and base not in TEXT_TYPES:
                pandas[i] = f"a regex on a {types[column]} column (pandas matches the values' text)"
            else:
                try:
                    spec = _regex_rewrite(spec)
                except NotPortable as why:
                    pandas[i] = f"DuckDB's RE2 would not match this pattern as Python's re does: {why}"
        out.append(spec)
    return out, pandas


# -- GX's SQL engine, fixed for DuckDB --------------------------------------------------------------

# DuckDB's type names (DESCRIBE) -> the SQLAlchemy types GX's SQL type check compares.
_TYPE_NAMES = {
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "HUGEINT": "HUGEINT",
    "UTINYINT": "UTINYINT",
    "USMALLINT": "USMALLINT",
    "UINTEGER": "UINTEGER",
    "UBIGINT": "UBIGINT",
    "UHUGEINT": "UHUGEINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DECIMAL": "NUMERIC",
    "VARCHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "INTERVAL": "INTERVAL",
    "UUID": "UUID",
    "BLOB": "BYTEA",
}


@functools.lru_cache(maxsize=1)
def type_module() -> Any:
    """GX's `dialect_module` for DuckDB: PostgreSQL's dialect module (duckdb_engine's dialect is one, and
    DuckDB reads PostgreSQL's regex operators `~`, `!~` and LIKE), with DuckDB's own type names added
    (TINYINT, HUGEINT, the unsigned ones, FLOAT for its 4-byte REAL, DOUBLE). GX's switches recognise
    PostgreSQL by `dialect_module.dialect` being PostgreSQL's dialect class, which the module keeps."""
    import types

    import sqlalchemy.dialects.postgresql as pg
    from duckdb_engine import datatypes as dt

    module = types.ModuleType("mlops_duckdb_dialect")
    module.__dict__.update({k: v for k, v in vars(pg).items() if not k.startswith("_")})
    module.__dict__.update(
        TINYINT=dt.TinyInteger,
        UTINYINT=dt.UTinyInteger,
        USMALLINT=dt.USmallInteger,
        UINTEGER=dt.UInteger,
        UBIGINT=dt.UBigInteger,
        HUGEINT=dt.HugeInteger,
        UHUGEINT=dt.UHugeInteger,
        FLOAT=pg.REAL,
        DOUBLE=pg.DOUBLE_PRECISION,
    )
    return module


def sa_type(duck_type: str) -> Any:
    import sqlalchemy as sa

    base = duck_type.upper().split("(")[0].strip()
    name = _TYPE_NAMES.get(base)
    cls = getattr(type_module(), name, None) if name else None
    if cls is None:
        return sa.types.NullType()
    if base == "TIMESTAMP WITH TIME ZONE":
        return cls(timezone=True)
    return cls()


class _Inspector:
    """What GX's column-type metric asks an inspector: the view's columns and types from DESCRIBE."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.dialect = engine.dialect

    def get_columns(self, table_name: Any, schema: str | None = None, **kw: Any) -> list[dict[str, Any]]:
        name = str(table_name)
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(f"DESCRIBE {quote(name)}").fetchall()
        return [
            {"name": r[0], "type": sa_type(str(r[1])), "nullable": r[2] != "NO", "default": None}
            for r in rows
        ]

    def get_pk_constraint(self, table_name: Any, schema: str | None = None, **kw: Any) -> dict[str, Any]:
        return {"constrained_columns": [], "name": None}


@functools.lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    import duckdb

    with duckdb.connect() as con:
        return frozenset(
            str(r[0]).lower() for r in con.execute("SELECT keyword_name FROM duckdb_keywords()").fetchall()
        )


@functools.lru_cache(maxsize=1)
def _gx_types() -> tuple[type, type]:
    """GX's SQL engine and SQL data source with the DuckDB fixes (built once; importing GX is slow)."""
    from typing import Literal

    from great_expectations.datasource.fluent.sql_datasource import SQLDatasource
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
        """GX's SqlAlchemyExecutionEngine, two methods changed (see the module's docstring)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # GX picks regex/LIKE SQL and type names by this module; it knows no `duckdb` dialect.
            self.dialect_module = type_module()
            # duckdb_engine quotes DuckDB's reserved keywords only, but DuckDB's parser refuses some of
            # the others as bare column names in GX's SQL (a column `at`): every keyword is quoted.
            preparer = self.engine.dialect.identifier_preparer
            preparer.reserved_words = set(preparer.reserved_words) | _keywords()

        def execute_query(self, query: Any) -> Any:
            # GX 1.x returns the CursorResult after its `with self.get_connection()` block has closed
            # the connection and fetches afterwards; DuckDB's rows do not survive that close. Fetched here,
            # inside the block (the rows GX would fetch anyway: its queries are aggregates or LIMITed).
            with self.get_connection() as connection:
                result = self._execute_query_with_recovery(connection, query)
                return result.freeze()() if result.returns_rows else result

        def get_inspector(self) -> Any:
            return _Inspector(self.engine)

    class MlopsDuckDBDatasource(SQLDatasource):
        """A SQL data source whose execution engine is DuckDBExecutionEngine."""

        type: Literal["mlops_duckdb"] = "mlops_duckdb"  # type: ignore[assignment]

        @property
        def execution_engine_type(self) -> Any:
            return DuckDBExecutionEngine

    _register_unique_check(DuckDBExecutionEngine)
    _register_count_if(DuckDBExecutionEngine)
    return DuckDBExecutionEngine, MlopsDuckDBDatasource


def _register_count_if(engine_cls: type) -> None:
    """GX's unexpected count of a column map expectation on DuckDB as `count_if(condition)`.

    GX 1.x (map_condition_auxilliary_methods._sqlalchemy_map_condition_unexpected_count_aggregate_fn)
    bundles `sum(CASE WHEN condition THEN 1 ELSE 0 END)` per expectation into one SELECT; DuckDB's
    `count_if(condition)` counts the same rows (those where the condition is true: not false, not NULL)
    and spends about a quarter less on that SELECT (0.15 s of 0.6 s on 10M rows x 10 expectations). It
    counts 0 on no rows where the sum is NULL, as GX's pandas engine does. Registered, for this engine,
    for every map metric whose SQL count is that GX function; the condition is GX's own."""
    import sqlalchemy as sa
    from great_expectations.expectations import registry
    from great_expectations.expectations.metrics.map_metric_provider import map_condition_auxilliary_methods

    gx_fn = map_condition_auxilliary_methods._sqlalchemy_map_condition_unexpected_count_aggregate_fn

    def count_if(
        cls: Any,
        execution_engine: Any,
        metric_domain_kwargs: Any,
        metric_value_kwargs: Any,
        metrics: dict[str, Any],
        **kwargs: Any,
    ) -> tuple[Any, Any, Any]:
        condition, compute_kwargs, accessor_kwargs = metrics["unexpected_condition"]
        return sa.func.count_if(condition), compute_kwargs, accessor_kwargs

    for name, definition in list(registry._registered_metrics.items()):
        provider = definition.get("providers", {}).get("SqlAlchemyExecutionEngine")
        if provider is None or provider[1] is not gx_fn:
            continue
        registry.register_metric(
            metric_name=name,
            metric_domain_keys=definition["metric_domain_keys"],
            metric_value_keys=definition["metric_value_keys"],
            execution_engine=engine_cls,
            metric_class=provider[0],
            metric_provider=count_if,
            metric_fn_type=gx_fn.metric_fn_type,
        )


# Widest integer range whose values one bitstring_agg holds (a bit each: 16 MiB per thread's state).
MAX_BITSTRING_SPAN = 1 << 27
COUNT_PER_VALUE = "column_values.count_per_value.map"


def _register_unique_check(engine_cls: type) -> None:
    """GX's `column_values.count_per_value.map` (the subquery of `expect_column_values_to_be_unique`) for
    DuckDB: the same rows and counts, from one aggregate instead of a window read twice.

    GX 1.x (ColumnValuesUnique._sqlalchemy_function) gives each row of the domain its value's count with
    `count(*) OVER (PARTITION BY column)`, and GX reads that subquery twice: summed (`unexpected_count`) and
    for the sample (`unexpected_values`, LIMIT n, which cannot stop early: the window needs every row
    first). On DuckDB the two windows were most of a run (about two seconds each on 10M rows, two cores).

    Here the counts are found once, before GX's queries: for an integer column, whether any value repeats
    is read from the set bits of `bitstring_agg` over [min, max] (no hash table; more values than integers
    in that range is a repeat); otherwise, or when one does, one GROUP BY stores the values occurring twice
    or more with their counts in a table of the run's database (`_repeated`). The subquery GX gets has the
    same columns, rows and counts as its window: `SELECT column, 1` over the domain when no value repeats,
    else the domain joined to that table (count 1 where a value is not in it). GX's conditions, counts,
    samples and row/index queries are its own."""
    import sqlalchemy as sa
    from great_expectations.expectations import registry

    definition = registry._registered_metrics[COUNT_PER_VALUE]
    metric_class, gx_fn = definition["providers"]["SqlAlchemyExecutionEngine"]

    @functools.wraps(gx_fn)
    def count_per_value(*args: Any, **kwargs: Any) -> Any:
        subquery, compute_kwargs, accessor_kwargs = gx_fn(*args, **kwargs)
        column, count = list(subquery.c)  # GX's projection: the column, its count per value
        froms = subquery.element.get_final_froms()
        if len(froms) != 1:  # not the shape this replaces: GX's window as it is
            return subquery, compute_kwargs, accessor_kwargs
        source = froms[0]
        try:
            repeats = _repeated(kwargs["execution_engine"], source, column.name, count.name)
        except sa.exc.CompileError:  # a domain that does not compile with literals: GX's window
            return subquery, compute_kwargs, accessor_kwargs
        counts: Any
        if repeats is None:
            counts = sa.select(sa.column(column.name), sa.literal_column("1").label(count.name))
            counts = counts.select_from(source)
        else:
            rows = sa.select(sa.column(column.name)).select_from(source).subquery("rows")
            value = rows.c[column.name]
            counts = sa.select(
                value.label(column.name),
                sa.func.coalesce(repeats.c[count.name], sa.literal_column("1")).label(count.name),
            ).select_from(rows.outerjoin(repeats, value == repeats.c[column.name]))
        return counts.alias(subquery.name), compute_kwargs, accessor_kwargs

    registry.register_metric(
        metric_name=COUNT_PER_VALUE,
        metric_domain_keys=definition["metric_domain_keys"],
        metric_value_keys=definition["metric_value_keys"],
        execution_engine=engine_cls,
        metric_class=metric_class,
        metric_provider=count_per_value,
        metric_fn_type=gx_fn.metric_fn_type,
    )


def _repeated(engine: Any, source: Any, column: str, label: str) -> Any:
    """None when no non-null value of `column` occurs twice in `source`; else a table (in the run's
    database, gone with it) of each value that does, and its count as `label`. Exact."""
    import sqlalchemy as sa

    col: Any = sa.column(column)
    low, high, count = engine.execute_query(
        sa.select(sa.func.min(col), sa.func.max(col), sa.func.count(col)).select_from(source)
    ).one()
    if not count:
        return None
    if type(low) is int and type(high) is int and count <= high - low + 1 and high - low < MAX_BITSTRING_SPAN:
        bits = sa.func.bitstring_agg(col, sa.literal_column(str(low)), sa.literal_column(str(high)))
        with contextlib.suppress(sa.exc.DBAPIError):  # a type bitstring_agg refuses: the GROUP BY says
            distinct = engine.execute_query(sa.select(sa.func.bit_count(bits)).select_from(source)).scalar()
            if distinct == count:
                return None
    groups = (
        sa.select(col, sa.func.count().label(label))
        .select_from(source)
        .where(col.is_not(None))
        .group_by(col)
        .having(sa.func.count() >= 2)
    )
    name = f"mlops_repeated_{uuid.uuid4().hex}"
    # GX's domain holds no bound values (no row conditions here): the query compiles with literals.
    query = groups.compile(dialect=engine.engine.dialect, compile_kwargs={"literal_binds": True})
    engine.execute_query_in_transaction(sa.text(f"CREATE TABLE {quote(name)} AS {query}"))
    table = sa.table(name, sa.column(column), sa.column(label))
    if not engine.execute_query(sa.select(sa.func.count()).select_from(table)).scalar():
        return None
    return table


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal of a number, string or boolean (integrity rule values): never caller SQL."""
    import math

    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"'{value!r}'::DOUBLE"
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise InvalidInput("A rule's value must be a number, string or boolean.")


# -- one run: a DuckDB database with the view, GX's data source on it ---------------------------------


def source_sql(path: str, fmt: str) -> str:
    """The table function reading `path` (a literal path: a list, so that DuckDB does not glob it)."""
    where = "['" + path.replace("'", "''") + "']"
    if fmt == "parquet":
        # can_have_nan: Parquet statistics leave NaN out of min/max, and without it DuckDB reads them as
        # "no NaN here" and folds the view's isnan() to false, so NaN stayed a value (a repeated one).
        return f"read_parquet({where}, can_have_nan = true)"
    delim = "','" if fmt == "csv" else "'\\t'"
    nulls = "[" + ", ".join(literal(s) for s in PANDAS_NA) + "]"
    candidates = "[" + ", ".join(literal(t) for t in CSV_TYPES) + "]"
    return (
        f"read_csv({where}, header = true, delim = {delim}, nullstr = {nulls}, "
        f"auto_type_candidates = {candidates}, sample_size = -1)"
    )


def connect(settings: Settings, path: str, allowed: list[str]) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory database bounded by the settings, reading nothing but `allowed` files."""
    import duckdb

    spill = settings.home / "cache" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(spill),
        "preserve_insertion_order": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    con = duckdb.connect(":memory:", config=config)
    try:
        files = ", ".join(literal(p) for p in dict.fromkeys([path, *allowed]))
        con.execute(f"SET allowed_paths = [{files}]")
        con.execute(f"SET allowed_directories = [{literal(str(spill))}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except Exception:
        con.close()
        raise
    return con


def describe(con: duckdb.DuckDBPyConnection, sql: str, name: str) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()
    except Exception as exc:
        raise InvalidInput(f"DuckDB could not read '{name}': {_first_line(exc)}.") from None
    if not rows:
        raise InvalidInput(f"'{name}' has no columns.")
    return {str(r[0]): str(r[1]) for r in rows}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


def create_view(
    con: duckdb.DuckDBPyConnection, sql: str, types: dict[str, str], derived: dict[str, str]
) -> None:
    """The view `data`: every column as read, float NaN as NULL (pandas counts NaN as missing), plus
    derived columns (integrity rules)."""
    columns = []
    for name, kind in types.items():
        q = quote(name)
        if kind.upper() in ("FLOAT", "DOUBLE"):
            columns.append(f"CASE WHEN isnan({q}) THEN NULL ELSE {q} END AS {q}")
        else:
            columns.append(q)
    columns += [f"{expr} AS {quote(name)}" for name, expr in derived.items()]
    con.execute(f"CREATE VIEW {VIEW} AS SELECT {', '.join(columns)} FROM {sql}")


class Database:
    """A run's DuckDB database: its connection and the cursors GX's connections are (to interrupt them)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._cursors: list[Any] = []
        self._lock = threading.Lock()
        self.interrupted = False

    def cursor(self) -> Any:
        cur = self.con.cursor()
        with self._lock:
            self._cursors.append(cur)
            if self.interrupted:
                cur.interrupt()
        return cur

    def interrupt(self) -> None:
        with self._lock:
            self.interrupted = True
            cursors = [self.con, *self._cursors]
        for cur in cursors:
            with contextlib.suppress(Exception):
                cur.interrupt()

    def close(self) -> None:
        with self._lock:
            cursors, self._cursors = self._cursors, []
        for cur in cursors:
            with contextlib.suppress(Exception):
                cur.close()
        self.con.close()


@contextlib.contextmanager
def interrupted_when_stopped(db: Database, control: Control | None) -> Iterator[None]:
    """A watcher interrupts DuckDB's running queries once the call is cancelled or past its deadline."""
    if control is None:
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            if control.cancelled or time.monotonic() >= control.deadline:
                db.interrupt()
                return

    watcher = threading.Thread(target=watch, name="duckdb-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()


class DuckGx:
    """An ephemeral GX context; each run adds a DuckDB data source for its database and removes it."""

    def __init__(self) -> None:
        adapter.quiet_gx()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        adapter.quiet_gx()
        _gx_types()  # registers the data source type (context.data_sources.add_mlops_duckdb)
        self.lock = threading.RLock()
        with self.lock:
            self.context = gx.get_context(mode="ephemeral")
            self.context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )

    def run(
        self, db: Database, expectations: list[Any], check: Callable[[], None] | None = None
    ) -> tuple[list[Any], list[str]]:
        import sqlalchemy as sa
        from duckdb_engine import ConnectionWrapper
        from great_expectations.core.expectation_suite import ExpectationSuite

        with self.lock:
            name = f"duckdb-{uuid.uuid4().hex}"
            # Every SQLAlchemy connection is a new cursor of this run's database (NullPool: none is kept).
            source = self.context.data_sources.add_mlops_duckdb(
                name,
                connection_string="duckdb:///:memory:",
                kwargs={"creator": lambda: ConnectionWrapper(db.cursor()), "poolclass": sa.pool.NullPool},
            )
            suite = self.context.suites.add(ExpectationSuite(name=name, expectations=expectations))
            try:
                batch_definition = source.add_table_asset(
                    VIEW, table_name=VIEW
                ).add_batch_definition_whole_table("whole")
                batch = batch_definition.get_batch()
                return _validate(batch, suite, check), [str(e.id) for e in suite.expectations]
            finally:
                self.context.suites.delete(name)
                with contextlib.suppress(Exception):
                    self.context.data_sources.delete(name)


def _validate(batch: Any, suite: Any, check: Callable[[], None] | None) -> list[Any]:
    """adapter.validate's contract on a SQL batch: the suite at once, one by one if that fails whole."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    try:
        return list(batch.validate(suite, result_format=adapter.RESULT_FORMAT).results)
    except Exception:
        adapter.log.warning("a GX run on DuckDB failed as a whole; one by one", exc_info=True)
    results = []
    for expectation in suite.expectations:
        if check is not None:
            check()
        try:
            results.append(batch.validate(expectation, result_format=adapter.RESULT_FORMAT))
        except Exception as err:
            info = {"raised_exception": True, "exception_message": f"{type(err).__name__}: {err}"}
            results.append(
                ExpectationValidationResult(
                    success=False, expectation_config=expectation.configuration, exception_info=info
                )
            )
    return results


def duckdb_version() -> str:
    from importlib.metadata import version

    return f"duckdb {version('duckdb')}"


def _error(exc: BaseException, name: str) -> MlopsError:
    text = _first_line(exc)
    if "Out of Memory" in str(exc) or "OutOfMemory" in type(exc).__name__:
        return LimitExceeded(
            f"DuckDB ran out of its memory limit on '{name}' ({text}); raise MLOPS_MCP_DUCKDB_MEMORY_LIMIT."
        )
    if "Interrupt" in type(exc).__name__ or "INTERRUPT" in str(exc).upper():
        return BackendUnavailable(f"DuckDB was interrupted on '{name}'.")
    return BackendUnavailable(f"DuckDB failed on '{name}' ({text}).")


def run_job_duckdb(
    gx: DuckGx,
    job: adapter.Job,
    settings: Settings,
    control: Control | None,
    run_pandas: Callable[[adapter.Job], dict[str, Any]],
) -> dict[str, Any]:
    """`adapter.run_job` on DuckDB: the view over the file, the suite (or rules) through GX's SQL engine,
    the expectations DuckDB must not run on pandas (`run_pandas`, the caller's pandas path: a killable
    worker for a regex), one result with the engine of each outcome."""
    step = control.step if control is not None else adapter._no_step
    check = control.check if control is not None else None
    started = time.perf_counter()
    name = Path(job.path).name
    fmt = file_format(Path(job.path))
    if fmt is None:
        raise InvalidInput(f"engine=duckdb reads Parquet, CSV or TSV files, not '{name}'.")
    if not Path(job.path).is_file():
        raise NotFound(f"No file '{name}' at that path.")
    label = duckdb_version()
    step(0, 4, "opening the dataset with DuckDB")
    db = Database(connect(settings, job.path, list(job.references.values())))
    con = db.con
    try:
        with interrupted_when_stopped(db, control):
            sql = source_sql(job.path, fmt)
            types = describe(con, sql, name)
            labels: dict[int, tuple[str | None, str | None]] = {}
            if job.gx_name is not None:
                adapter.check_columns(
                    list_columns(types),
                    adapter.referenced_columns(job.expectations),
                    f"Suite '{job.gx_name}'",
                    job.path,
                )
                specs, pandas = routes(job.expectations, types)
                create_view(con, sql, types, {})
            else:
                rules = DuckRules(types, job, con)
                _, specs, labels = adapter.integrity(rules)
                specs, pandas = routes(specs, types)
                if pandas:  # a rule DuckDB must not run: the whole check on pandas, as the rules need
                    raw = run_pandas(job)
                    return _noted(raw, "pandas", "; ".join(sorted(set(pandas.values()))))
                create_view(con, sql, types, rules.derived)
            keep = [i for i in range(len(specs)) if i not in pandas]
            outcomes: list[dict[str, Any]] = []
            rows = int(con.execute(f"SELECT count(*) FROM {VIEW}").fetchone()[0])  # type: ignore[index]
            if keep:
                step(1, 4, f"validating {rows} rows with Great Expectations on DuckDB")
                expectations = adapter.build_expectations([specs[i] for i in keep])
                try:
                    results, ids = gx.run(db, expectations, check)
                except MlopsError:
                    raise
                except Exception as exc:
                    if control is not None and control.cancelled:
                        raise
                    raise _error(exc, name) from None
                if rows == 0:  # GX's SQL sums no rows to NULL where its pandas engine counts 0
                    for r in results:
                        if isinstance(r.result, dict) and r.result.get("unexpected_count", 0) is None:
                            r.result["unexpected_count"] = 0
                for o in adapter.convert(
                    results, ids, {keep.index(i): labels[i] for i in keep if i in labels}, job.include_samples
                ):
                    o["index"] = keep[o["index"]]
                    o["engine"] = "duckdb"
                    if o["type"] in adapter.TYPE_EXPECTATIONS:
                        o["engine_note"] = TYPE_NOTE
                    outcomes.append(o)
    except MlopsError:
        raise
    except Exception as exc:
        if control is not None and control.cancelled:
            raise
        raise _error(exc, name) from None
    finally:
        db.close()
    # Expectations DuckDB could not evaluate (an error): run again on pandas, which says what it says.
    failed = {o["index"]: o["error"] for o in outcomes if o.get("error")}
    if job.gx_name is not None:
        for i, why in failed.items():
            pandas[i] = f"DuckDB could not evaluate it ({why[:160]})"
    if pandas and job.gx_name is not None:
        step(2, 4, f"running {len(pandas)} expectation(s) on pandas")
        part = sorted(pandas)
        sub = adapter.Job(
            home=job.home,
            path=job.path,
            limits=job.limits,
            include_samples=job.include_samples,
            gx_name=job.gx_name,
            expectations=[job.expectations[i] for i in part],
            indices=part,
            columns=adapter.referenced_columns([job.expectations[i] for i in part]) or None,
        )
        part_raw: dict[str, Any] | None
        try:
            part_raw = run_pandas(sub)
        except LimitExceeded as exc:
            if failed.keys() >= set(part):  # only DuckDB's errors were to be retried: keep them
                part_raw = None
            else:
                raise LimitExceeded(
                    f"{exc.message} Expectation(s) {', '.join(str(i) for i in part)} need pandas "
                    f"({'; '.join(sorted(set(pandas.values())))[:300]})."
                ) from None
        if part_raw is not None:
            outcomes = [o for o in outcomes if o["index"] not in pandas]
            for o in part_raw["outcomes"]:
                o["engine"] = "pandas"
                o["engine_note"] = pandas[o["index"]]
                outcomes.append(o)
            label = f"{label} + pandas"
    outcomes.sort(key=lambda o: (o["success"], o["index"]))
    step(3, 4, "collecting results")
    return adapter.counted(outcomes, rows, started, label)


def _noted(raw: dict[str, Any], engine: str, note: str) -> dict[str, Any]:
    for o in raw["outcomes"]:
        o["engine"] = engine
        o["engine_note"] = note
    return raw


class _Columns:
    """What adapter.check_columns reads of a table: its column names."""

    def __init__(self, names: list[str]) -> None:
        self.columns = names


def list_columns(types: dict[str, str]) -> _Columns:
    return _Columns(list(types))


# -- integrity rules on DuckDB: derived columns as SQL expressions over the view's own columns ----------


NUMERIC = (*adapter.DUCKDB_TYPE_LISTS["integer"], *adapter.DUCKDB_TYPE_LISTS["float"], "DECIMAL")


class DuckRules(adapter.Rules):
    """`adapter.PandasRules` as SQL: the derived columns are expressions of the view (quoted names,
    literals of the rule's values), with pandas' null semantics (NaN is already NULL in the view)."""

    def __init__(self, types: dict[str, str], job: adapter.Job, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(_Columns(list(types)), job)
        self.types = types
        self.con = con

    def reference_values(self, path: str, column: str, i: int) -> list[Any]:
        fmt = file_format(Path(path))
        if fmt is None:
            raise InvalidInput(
                f"Rule {i}: engine=duckdb reads Parquet, CSV or TSV references, not '{Path(path).name}'."
            )
        sql = source_sql(path, fmt)
        ref_types = describe(self.con, sql, Path(path).name)
        adapter.check_columns(_Columns(list(ref_types)), [column], f"Rule {i}", path)
        q = quote(column)
        expr = (
            f"CASE WHEN isnan({q}) THEN NULL ELSE {q} END" if ref_types[column] in ("FLOAT", "DOUBLE") else q
        )
        rows = self.con.execute(
            f"SELECT DISTINCT {expr} AS v FROM {sql} WHERE {expr} IS NOT NULL LIMIT {MAX_REFERENCE_VALUES + 1}"
        ).fetchall()
        if len(rows) > MAX_REFERENCE_VALUES:
            raise LimitExceeded(
                f"Rule {i}: the reference column has more than {MAX_REFERENCE_VALUES} distinct values; "
                "check the key with a join instead."
            )
        return list(plain([r[0] for r in rows], chars=None, items=10**9))

    def _col(self, name: str) -> str:
        q = quote(name)
        return (
            f"(CASE WHEN isnan({q}) THEN NULL ELSE {q} END)" if self.types[name] in ("FLOAT", "DOUBLE") else q
        )

    def difference(self, columns: list[str], target: str, i: int) -> Any:
        wrong = [c for c in [*columns, target] if self.types[c].split("(")[0] not in NUMERIC]
        if wrong:
            raise InvalidInput(f"Rule {i}: column(s) {wrong} are not numeric, so they cannot be summed.")
        total = " + ".join(f"CAST({self._col(c)} AS DOUBLE)" for c in columns)
        return f"(({total}) - CAST({self._col(target)} AS DOUBLE))"

    def required(self, target: str, cond: dict[str, Any], i: int) -> Any:
        holds = self.condition(cond["column"], cond["op"], cond.get("value"), f"Rule {i}")
        return f"(CASE WHEN ({holds}) AND {self._col(target)} IS NULL THEN NULL ELSE TRUE END)"

    def condition(self, column: str, op: str, value: Any, where: str) -> str:
        """`core.conditions.mask` in SQL: a comparison with a missing value is false; only is_null holds
        for one."""
        col = self._col(column)
        if op == "is_null":
            return f"{col} IS NULL"
        if op == "not_null":
            return f"{col} IS NOT NULL"
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                raise InvalidInput(f"{where}: the value must be a list for '{op}'.")
            if not value:
                member = "FALSE"
            else:
                member = f"coalesce({col} IN ({', '.join(literal(v) for v in value)}), FALSE)"
            return f"({col} IS NOT NULL AND {'NOT ' if op == 'not_in' else ''}{member})"
        if value is None or isinstance(value, dict | list):
            raise InvalidInput(f"{where}: the value must be a number, string or boolean for '{op}'.")
        sql_op = {"==": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}[op]
        return f"({col} IS NOT NULL AND coalesce({col} {sql_op} {literal(value)}, FALSE))"

    def frame(self) -> Any:
        return None
