"""The schema registry's rules: how two versions' schemas differ and whether the change is compatible.

Schemas are compared as recorded in the catalog (Arrow type names, e.g. "int64", "timestamp[ns]").
A change is backward compatible when every column of the old version is still there with the same type
or a widened one (int32 -> int64, float32 -> float64, string -> large_string, ...). Added columns are
compatible; removed or otherwise retyped columns are breaking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_UINT_BITS = {"uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
_FLOAT_BITS = {"halffloat": 16, "float": 32, "double": 64}
_SAME = {("string", "large_string"), ("binary", "large_binary"), ("date32[day]", "date64[ms]")}
_DICTIONARY = re.compile(r"^dictionary<values=(?P<value>[^,]+), indices=")
_TIMESTAMP = re.compile(r"^timestamp\[(?P<unit>s|ms|us|ns)(?P<tz>, tz=.*)?\]$")
_UNIT_ORDER = {"s": 0, "ms": 1, "us": 2, "ns": 3}


def normalize(type_name: str) -> str:
    """A dictionary-encoded column compares as its value type (an encoding, not a type change)."""
    m = _DICTIONARY.match(type_name)
    return m.group("value") if m else type_name


def is_widening(old: str, new: str) -> bool:
    """True if every value of type `old` is exactly representable in type `new`."""
    old, new = normalize(old), normalize(new)
    if old == new or old == "null":
        return True
    if old in _INT_BITS and new in _INT_BITS:
        return _INT_BITS[new] > _INT_BITS[old]
    if old in _UINT_BITS and new in _UINT_BITS:
        return _UINT_BITS[new] > _UINT_BITS[old]
    if old in _UINT_BITS and new in _INT_BITS:
        return _INT_BITS[new] > _UINT_BITS[old]
    if old in _FLOAT_BITS and new in _FLOAT_BITS:
        return _FLOAT_BITS[new] > _FLOAT_BITS[old]
    if (old, new) in _SAME:
        return True
    mo, mn = _TIMESTAMP.match(old), _TIMESTAMP.match(new)
    if mo and mn:  # a finer unit with the same zone holds every coarser value (within its range)
        return (
            mo.group("tz") == mn.group("tz")
            and _UNIT_ORDER[mn.group("unit")] >= _UNIT_ORDER[mo.group("unit")]
        )
    return False


@dataclass
class SchemaDiff:
    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    retyped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.removed and all(r["widening"] for r in self.retyped)

    @property
    def breaking_reasons(self) -> list[str]:
        reasons = [f"column {r['name']!r} removed" for r in self.removed]
        reasons += [
            f"column {r['name']!r} changed from {r['from']} to {r['to']}"
            for r in self.retyped
            if not r["widening"]
        ]
        return reasons


def diff_schemas(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> SchemaDiff:
    """Added, removed and retyped columns from `old` to `new` (lists of {"name", "type", ...})."""
    old_types = {f["name"]: f["type"] for f in old}
    new_types = {f["name"]: f["type"] for f in new}
    diff = SchemaDiff()
    for f in new:
        if f["name"] not in old_types:
            diff.added.append({"name": f["name"], "type": f["type"]})
    for f in old:
        name = f["name"]
        if name not in new_types:
            diff.removed.append({"name": name, "type": f["type"]})
        elif normalize(new_types[name]) != normalize(f["type"]):
            diff.retyped.append(
                {
                    "name": name,
                    "from": f["type"],
                    "to": new_types[name],
                    "widening": is_widening(f["type"], new_types[name]),
                }
            )
    return diff
