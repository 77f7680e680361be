"""Row conditions: `[column, op, value]` as data, never a pandas query string (SECURITY.md 9).

One null semantics for every area: a comparison with a null is false, as in SQL and GX's
`row_condition`. So for `a = [1.0, NaN, 5.0]`, `a != 5` holds for row 0 only; `not_in` is false for a
null; only `is_null` holds for a null. Used by validation's `required_if`, quality's consistency
rules and filters alike.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput
from mcp_server.core.values import plain

if TYPE_CHECKING:
    import pandas as pd

COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
OPS = (*COMPARISONS, "in", "not_in", "between", "is_null", "not_null")


def mask(df: pd.DataFrame, column: str, op: str, value: Any = None, where: str = "The condition") -> Any:
    """Boolean Series: the rows of `df` where `column op value` holds; null never satisfies a comparison.

    `where` starts the error sentence ("Rule 2", "Filter 0") so the caller can tell which one is wrong.
    """
    if column not in df.columns:
        raise InvalidInput(f"{where}: column {column!r} is not in the data.")
    col = df[column]
    if op == "is_null":
        return col.isna()
    present = col.notna()
    if op == "not_null":
        return present
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise InvalidInput(f"{where}: the value must be a list for '{op}'.")
        inside = col.isin(value)
        return (~inside & present) if op == "not_in" else (inside & present)
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2):
            raise InvalidInput(f"{where}: the value must be [low, high] for 'between'.")
        try:
            return ((col >= value[0]) & (col <= value[1])).fillna(False).astype(bool) & present
        except TypeError:
            raise InvalidInput(
                f"{where}: column {column!r} cannot be compared with {plain(value)!r}."
            ) from None
    if op not in COMPARISONS:
        raise InvalidInput(f"{where}: unknown operator {plain(op)!r}; use one of {', '.join(OPS)}.")
    if value is None or isinstance(value, dict | list):
        raise InvalidInput(f"{where}: the value must be a number, string or boolean for '{op}'.")
    try:
        return COMPARISONS[op](col, value).fillna(False).astype(bool) & present
    except TypeError:
        raise InvalidInput(
            f"{where}: column {column!r} cannot be compared with {plain(value)!r} using '{op}'."
        ) from None
