"""JSON-safe values: the one policy for turning library values (numpy, pandas, dates, bytes) into JSON.

- numpy scalars become Python scalars; NaN, NaT, pd.NA and infinities become null (JSON has no NaN);
- dates and times become ISO text, Decimal becomes text, bytes become `<N bytes>`;
- strings longer than `chars` are cut with "..." (`chars=None` keeps them whole);
- lists, tuples, sets and dicts keep at most `items` entries and `depth` levels (deeper: short text).

Also `copied`: a result model (pydantic or dataclass) from a record's fields of the same names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
from typing import Any, TypeVar

T = TypeVar("T")

CHARS = 200
ITEMS = 50
DEPTH = 6


def _cut(text: str, chars: int | None) -> str:
    return text if chars is None or len(text) <= chars else text[: max(chars - 3, 0)] + "..."


def plain(value: Any, *, chars: int | None = CHARS, items: int = ITEMS, depth: int = DEPTH) -> Any:
    """A JSON-safe copy of `value` under the policy above."""
    kind = type(value)
    if value is None or kind is bool or kind is int:  # the common cases first: cell values
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str:
        return _cut(value, chars)
    if isinstance(value, bool | int):
        return bool(value) if isinstance(value, bool) else int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return _cut(str(value), chars)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, dict | list | tuple | set | frozenset):
        if depth <= 0:
            return _cut(str(value), chars if chars is not None else CHARS)
        if isinstance(value, dict):
            return {
                str(k): plain(v, chars=chars, items=items, depth=depth - 1)
                for k, v in list(value.items())[:items]
            }
        return [plain(v, chars=chars, items=items, depth=depth - 1) for v in list(value)[:items]]
    if _is_missing(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if callable(item):
        try:
            inner = item()
        except (TypeError, ValueError):
            inner = None
        else:
            if type(inner) is not type(value):
                return plain(inner, chars=chars, items=items, depth=depth)
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        try:
            return plain(tolist(), chars=chars, items=items, depth=depth)
        except (TypeError, ValueError):
            pass
    iso = getattr(value, "isoformat", None)  # pandas Timestamp, Timedelta
    if callable(iso):
        try:
            return str(iso())
        except (TypeError, ValueError):
            pass
    return _cut(str(value), chars if chars is not None else CHARS)


def _is_missing(value: Any) -> bool:
    """NaT, pd.NA, numpy NaN scalars: anything pandas calls missing (pandas only when already loaded)."""
    import sys

    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value: Any, digits: int | None = None) -> float | None:
    """A finite float (optionally rounded) or None: for statistics that may be NaN or missing."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, digits) if digits is not None else f


def copied(cls: type[T], source: Any, **overrides: Any) -> T:
    """`cls(...)` from the attributes of `source` (a database row, a dataclass) that have its fields' names,
    with `overrides` on top: the fields that differ are the only ones written out."""
    fields = getattr(cls, "model_fields", None)
    names = list(fields) if fields is not None else [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values = {n: getattr(source, n) for n in names if n not in overrides and hasattr(source, n)}
    return cls(**values, **overrides)
