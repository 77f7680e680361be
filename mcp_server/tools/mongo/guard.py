"""The allowlist check of MongoDB filters, projections, sorts and pipelines (SECURITY.md 12).

Filters and pipelines are data from an untrusted caller. A small recursive validator walks them and
returns a checked copy: every `$` key must be on an allowlist for the place it appears in; `$where`,
`$function`, `$accumulator` (server-side JavaScript) and `$out`/`$merge` (writes) are refused by name;
where a plain value is expected (after `$eq`, inside `$in`, in a document to insert) an operator
document is refused, so `{"$ne": null}` cannot stand in for a value. Extended JSON `{"$oid": ...}` and
`{"$date": ...}` are accepted as plain values and converted (by the adapter's `convert`).

No pymongo import here: the checks are plain Python on plain JSON values.
"""

from __future__ import annotations

import re
from typing import Any

from mcp_server.core.errors import InvalidInput

MAX_DEPTH = 24
MAX_PIPELINE_STAGES = 50

# Refused wherever they appear, each with its reason.
REFUSED = {
    "$where": "runs JavaScript on the server",
    "$function": "runs JavaScript on the server",
    "$accumulator": "runs JavaScript on the server",
    "$out": "writes to a collection (aggregations here only read; use mongo_export to save a result)",
    "$merge": "writes to a collection (aggregations here only read; use mongo_export to save a result)",
}

# Query (filter) operators on a field, by the kind of argument they take.
_PLAIN_ARG = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}
_LIST_ARG = {"$in", "$nin", "$all"}
FIELD_OPERATORS = (
    _PLAIN_ARG
    | _LIST_ARG
    | {
        "$exists",
        "$type",
        "$size",
        "$mod",
        "$regex",
        "$options",
        "$not",
        "$elemMatch",
    }
)
TOP_OPERATORS = {"$and", "$or", "$nor", "$expr", "$text", "$comment"}
_TEXT_KEYS = {"$search", "$language", "$caseSensitive", "$diacriticSensitive"}
_TYPE_NAMES = {
    "double", "string", "object", "array", "binData", "objectId", "bool", "date", "null", "regex",
    "int", "timestamp", "long", "decimal", "number", "minKey", "maxKey",
}  # fmt: skip

# Aggregation expression operators (project, group, addFields, $expr).
EXPRESSION_OPERATORS = {
    # arithmetic
    "$abs", "$add", "$ceil", "$divide", "$exp", "$floor", "$ln", "$log", "$log10", "$mod", "$multiply",
    "$pow", "$round", "$sqrt", "$subtract", "$trunc",
    # array
    "$arrayElemAt", "$arrayToObject", "$concatArrays", "$filter", "$first", "$last", "$in",
    "$indexOfArray", "$isArray", "$map", "$objectToArray", "$range", "$reduce", "$reverseArray",
    "$size", "$slice", "$zip", "$sortArray", "$maxN", "$minN", "$firstN", "$lastN",
    # boolean, comparison, conditional
    "$and", "$or", "$not", "$cmp", "$eq", "$gt", "$gte", "$lt", "$lte", "$ne", "$cond", "$ifNull",
    "$switch",
    # dates
    "$dateAdd", "$dateDiff", "$dateFromParts", "$dateFromString", "$dateSubtract", "$dateToParts",
    "$dateToString", "$dateTrunc", "$dayOfMonth", "$dayOfWeek", "$dayOfYear", "$hour", "$isoDayOfWeek",
    "$isoWeek", "$isoWeekYear", "$millisecond", "$minute", "$month", "$second", "$week", "$year",
    # literal, objects, sets, variables
    "$literal", "$mergeObjects", "$getField", "$setField", "$let", "$allElementsTrue",
    "$anyElementTrue", "$setDifference", "$setEquals", "$setIntersection", "$setIsSubset", "$setUnion",
    # strings
    "$concat", "$indexOfBytes", "$indexOfCP", "$ltrim", "$regexFind", "$regexFindAll", "$regexMatch",
    "$replaceAll", "$replaceOne", "$rtrim", "$split", "$strLenBytes", "$strLenCP", "$strcasecmp",
    "$substr", "$substrBytes", "$substrCP", "$toLower", "$toUpper", "$trim",
    # types
    "$convert", "$isNumber", "$toBool", "$toDate", "$toDecimal", "$toDouble", "$toInt", "$toLong",
    "$toObjectId", "$toString", "$type",
    # accumulators usable in $project / $addFields
    "$avg", "$max", "$min", "$sum", "$stdDevPop", "$stdDevSamp", "$median", "$percentile",
}  # fmt: skip
GROUP_ACCUMULATORS = {
    "$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet", "$count", "$stdDevPop",
    "$stdDevSamp", "$mergeObjects", "$median", "$percentile", "$top", "$bottom", "$topN", "$bottomN",
    "$firstN", "$lastN", "$maxN", "$minN",
}  # fmt: skip
STAGES = {
    "$match", "$project", "$addFields", "$set", "$unset", "$group", "$sort", "$limit", "$skip", "$count",
    "$unwind", "$lookup", "$facet", "$bucket", "$bucketAuto", "$sortByCount", "$sample", "$replaceRoot",
    "$replaceWith", "$unionWith",
}  # fmt: skip

_FIELD_RE = re.compile(r"^[^$\x00][^\x00]{0,255}$")
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
_EXTENDED_JSON = {"$oid", "$date"}


def _show(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."


def _refuse(op: str, where: str) -> InvalidInput:
    reason = REFUSED.get(op)
    if reason is not None:
        return InvalidInput(f"'{op}' at {_show(where)} is refused: it {reason}.")
    return InvalidInput(f"'{_show(op)}' at {_show(where)} is not an allowed operator here.")


def _depth(depth: int, where: str) -> int:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"{_show(where)} is nested deeper than {MAX_DEPTH} levels.")
    return depth + 1


def check_collection(name: Any, what: str = "collection") -> str:
    """A collection name: letters, digits, '.', '_', '-'; not a system collection."""
    if not isinstance(name, str) or not _COLLECTION_RE.match(name) or ".." in name:
        raise InvalidInput(
            f"The {what} name must be 1-120 letters, digits, '.', '_' or '-' starting with a letter or digit."
        )
    if name.startswith("system."):
        raise InvalidInput(f"The {what} '{name}' is a system collection; these tools do not touch them.")
    return name


def _check_field(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _FIELD_RE.match(name):
        raise InvalidInput(
            f"The field name at {_show(where)} must be a non-empty string that does not start with '$'."
        )
    return name


def _is_extended_json(value: dict[str, Any]) -> bool:
    return (
        len(value) == 1
        and next(iter(value)) in _EXTENDED_JSON
        and isinstance(next(iter(value.values())), str)
    )


def check_plain(value: Any, where: str, depth: int = 0) -> Any:
    """A plain value: scalars, lists and documents whose keys do not start with '$' (Extended JSON
    {"$oid": ...} / {"$date": ...} allowed)."""
    depth = _depth(depth, where)
    if isinstance(value, dict):
        if _is_extended_json(value):
            return dict(value)
        for key in value:
            if isinstance(key, str) and key.startswith("$"):
                if key in REFUSED:
                    raise _refuse(key, where)
                raise InvalidInput(
                    f"A plain value is expected at {_show(where)}, not an operator document ('{_show(key)}')."
                )
        return {
            _check_field(k, f"{where}.{k}"): check_plain(v, f"{where}.{k}", depth) for k, v in value.items()
        }
    if isinstance(value, list):
        return [check_plain(v, f"{where}[{i}]", depth) for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidInput(f"The value at {_show(where)} is not a JSON value.")


def _is_operator_doc(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and any(isinstance(k, str) and k.startswith("$") for k in value)
        and not _is_extended_json(value)
    )


def check_filter(query: Any, where: str = "filter", depth: int = 0) -> dict[str, Any]:
    """A find filter or $match document."""
    depth = _depth(depth, where)
    if not isinstance(query, dict):
        raise InvalidInput(f'{_show(where)} must be a JSON object such as {{"status": "active"}}.')
    out: dict[str, Any] = {}
    for key, value in query.items():
        path = f"{where}.{key}"
        if isinstance(key, str) and key.startswith("$"):
            if key not in TOP_OPERATORS:
                raise _refuse(key, path)
            if key in ("$and", "$or", "$nor"):
                if not isinstance(value, list) or not value:
                    raise InvalidInput(f"{_show(path)} must be a non-empty list of filters.")
                out[key] = [check_filter(v, f"{path}[{i}]", depth) for i, v in enumerate(value)]
            elif key == "$expr":
                out[key] = check_expression(value, path, depth)
            elif key == "$text":
                if not isinstance(value, dict) or "$search" not in value or set(value) - _TEXT_KEYS:
                    raise InvalidInput(f"{_show(path)} takes $search and optional $language/$caseSensitive.")
                out[key] = {k: check_plain(v, f"{path}.{k}", depth) for k, v in value.items()}
            else:  # $comment
                if not isinstance(value, str):
                    raise InvalidInput(f"{_show(path)} must be a string.")
                out[key] = value
        else:
            out[_check_field(key, path)] = _check_condition(value, path, depth)
    return out


def _check_condition(value: Any, where: str, depth: int) -> Any:
    """The value of a field in a filter: a plain value (equality) or an operator document."""
    if not _is_operator_doc(value):
        return check_plain(value, where, depth)
    depth = _depth(depth, where)
    if not all(isinstance(k, str) and k.startswith("$") for k in value):
        raise InvalidInput(f"{_show(where)} mixes operators and field names; use one or the other.")
    out: dict[str, Any] = {}
    for op, arg in value.items():
        path = f"{where}.{op}"
        if op not in FIELD_OPERATORS:
            raise _refuse(op, path)
        if op in _PLAIN_ARG:
            out[op] = check_plain(arg, path, depth)
        elif op in _LIST_ARG:
            if not isinstance(arg, list):
                raise InvalidInput(f"{_show(path)} takes a list of plain values.")
            out[op] = [check_plain(v, f"{path}[{i}]", depth) for i, v in enumerate(arg)]
        elif op == "$exists":
            if not isinstance(arg, bool):
                raise InvalidInput(f"{_show(path)} takes true or false.")
            out[op] = arg
        elif op == "$type":
            names = arg if isinstance(arg, list) else [arg]
            for n in names:
                if not (isinstance(n, str) and n in _TYPE_NAMES) and not (
                    isinstance(n, int) and not isinstance(n, bool)
                ):
                    raise InvalidInput(f"{_show(path)} takes a BSON type name such as 'string' or 'int'.")
            out[op] = arg
        elif op == "$size":
            if not isinstance(arg, int) or isinstance(arg, bool) or arg < 0:
                raise InvalidInput(f"{_show(path)} takes a non-negative integer.")
            out[op] = arg
        elif op == "$mod":
            if (
                not isinstance(arg, list)
                or len(arg) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in arg)
            ):
                raise InvalidInput(f"{_show(path)} takes [divisor, remainder] integers.")
            out[op] = arg
        elif op == "$regex":
            if not isinstance(arg, str) or len(arg) > 1000:
                raise InvalidInput(f"{_show(path)} takes a pattern string (up to 1,000 characters).")
            out[op] = arg
        elif op == "$options":
            if not isinstance(arg, str) or not re.fullmatch(r"[imsx]{0,4}", arg):
                raise InvalidInput(f"{_show(path)} takes regex options from 'imsx'.")
            out[op] = arg
        elif op == "$not":
            if not _is_operator_doc(arg):
                raise InvalidInput(f'{_show(path)} takes an operator document such as {{"$gt": 5}}.')
            out[op] = _check_condition(arg, path, depth)
        else:  # $elemMatch: conditions on the element itself, or a filter on its fields
            if not isinstance(arg, dict):
                raise InvalidInput(f"{_show(path)} takes a filter document.")
            out[op] = (
                _check_condition(arg, path, depth)
                if _is_operator_doc(arg) and all(k.startswith("$") for k in arg)
                else check_filter(arg, path, depth)
            )
    return out


def check_expression(value: Any, where: str, depth: int = 0) -> Any:
    """An aggregation expression: field paths are strings; every `$` key must be an allowed operator."""
    depth = _depth(depth, where)
    if isinstance(value, list):
        return [check_expression(v, f"{where}[{i}]", depth) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if _is_extended_json(value):
            return dict(value)
        out: dict[str, Any] = {}
        for key, arg in value.items():
            path = f"{where}.{key}"
            if not isinstance(key, str) or "\x00" in key:
                raise InvalidInput(f"The key at {_show(path)} must be a string.")
            if key.startswith("$"):
                if key not in EXPRESSION_OPERATORS:
                    raise _refuse(key, path)
                if key == "$literal":
                    out[key] = check_plain(arg, path, depth)
                    continue
            out[key] = check_expression(arg, path, depth)
        return out
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidInput(f"The value at {_show(where)} is not a JSON value.")


def check_projection(projection: Any, where: str = "projection") -> dict[str, Any]:
    """{field: 0/1/true/false} or an expression per field ($slice, $elemMatch and other expressions)."""
    if not isinstance(projection, dict):
        raise InvalidInput('The projection must be an object such as {"name": 1, "_id": 0}.')
    out: dict[str, Any] = {}
    for key, value in projection.items():
        path = f"{where}.{key}"
        _check_field(key, path)
        if isinstance(value, (bool, int)) and value in (0, 1):
            out[key] = value
        elif isinstance(value, dict) and set(value) == {"$elemMatch"}:
            out[key] = {"$elemMatch": check_filter(value["$elemMatch"], f"{path}.$elemMatch")}
        else:
            out[key] = check_expression(value, path)
    return out


def check_sort(sort: Any, where: str = "sort") -> list[tuple[str, int]]:
    """{field: 1 or -1, ...} in order."""
    if not isinstance(sort, dict) or not sort:
        raise InvalidInput('The sort must be an object such as {"created": -1, "name": 1}.')
    out: list[tuple[str, int]] = []
    for key, direction in sort.items():
        _check_field(key, f"{where}.{key}")
        if direction not in (1, -1) or isinstance(direction, bool):
            raise InvalidInput(f"{_show(where)}.{_show(key)} must be 1 (ascending) or -1 (descending).")
        out.append((key, int(direction)))
    return out


def check_document(doc: Any, where: str) -> dict[str, Any]:
    """A document to insert: an object of plain values (no operator documents anywhere)."""
    if not isinstance(doc, dict):
        raise InvalidInput(f"{_show(where)} must be a JSON object.")
    checked = check_plain(doc, where)
    assert isinstance(checked, dict)
    return checked


def _accumulators(fields: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, acc in fields.items():
        p = f"{path}.{key}"
        _check_field(key, p)
        if not isinstance(acc, dict) or len(acc) != 1:
            raise InvalidInput(f'{_show(p)} must be one accumulator such as {{"$sum": "$amount"}}.')
        op, arg = next(iter(acc.items()))
        if op not in GROUP_ACCUMULATORS:
            raise _refuse(op, f"{p}.{op}")
        out[key] = {op: check_expression(arg, f"{p}.{op}", depth)}
    return out


def _check_stage_body(stage: str, body: Any, path: str, depth: int) -> Any:
    if stage == "$match":
        return check_filter(body, path, depth)
    if stage in ("$project", "$addFields", "$set"):
        if not isinstance(body, dict) or not body:
            raise InvalidInput(f"{_show(path)} must be a non-empty object.")
        if stage == "$project":
            return check_projection(body, path)
        return {
            _check_field(k, f"{path}.{k}"): check_expression(v, f"{path}.{k}", depth) for k, v in body.items()
        }
    if stage == "$unset":
        names = body if isinstance(body, list) else [body]
        for n in names:
            _check_field(n, path)
        return body
    if stage == "$group":
        if not isinstance(body, dict) or "_id" not in body:
            raise InvalidInput(f"{_show(path)} needs an '_id' (the grouping key; null for one group).")
        rest = {k: v for k, v in body.items() if k != "_id"}
        return {"_id": check_expression(body["_id"], f"{path}._id", depth)} | _accumulators(rest, path, depth)
    if stage in ("$sort",):
        return dict(check_sort(body, path))
    if stage in ("$limit", "$skip"):
        if not isinstance(body, int) or isinstance(body, bool) or body < (1 if stage == "$limit" else 0):
            raise InvalidInput(
                f"{_show(path)} takes a {'positive' if stage == '$limit' else 'non-negative'} integer."
            )
        return body
    if stage == "$count":
        return _check_field(body, path)
    if stage == "$unwind":
        if isinstance(body, str):
            if not body.startswith("$") or body.startswith("$$"):
                raise InvalidInput(f"{_show(path)} takes a field path such as '$tags'.")
            return body
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            raise InvalidInput(f'{_show(path)} takes \'$field\' or {{"path": "$field", ...}}.')
        allowed = {"path", "includeArrayIndex", "preserveNullAndEmptyArrays"}
        if set(body) - allowed:
            raise InvalidInput(f"{_show(path)} takes only {sorted(allowed)}.")
        return check_plain({k: v for k, v in body.items() if k != "path"}, path, depth) | {
            "path": body["path"]
        }
    if stage == "$lookup":
        if not isinstance(body, dict):
            raise InvalidInput(f"{_show(path)} must be an object.")
        allowed = {"from", "localField", "foreignField", "as", "let", "pipeline"}
        if set(body) - allowed:
            raise InvalidInput(
                f"{_show(path)} takes only {sorted(allowed)}; 'from' is a collection of this database."
            )
        out: dict[str, Any] = {
            "from": check_collection(body.get("from"), "$lookup 'from' collection"),
            "as": _check_field(body.get("as"), f"{path}.as"),
        }
        for k in ("localField", "foreignField"):
            if k in body:
                out[k] = _check_field(body[k], f"{path}.{k}")
        if "let" in body:
            out["let"] = check_expression(body["let"], f"{path}.let", depth)
        if "pipeline" in body:
            out["pipeline"] = check_pipeline(body["pipeline"], f"{path}.pipeline", depth)
        return out
    if stage == "$unionWith":
        if isinstance(body, str):
            return check_collection(body, "$unionWith collection")
        if not isinstance(body, dict) or set(body) - {"coll", "pipeline"}:
            raise InvalidInput(f'{_show(path)} takes a collection name or {{"coll", "pipeline"}}.')
        out = {"coll": check_collection(body.get("coll"), "$unionWith collection")}
        if "pipeline" in body:
            out["pipeline"] = check_pipeline(body["pipeline"], f"{path}.pipeline", depth)
        return out
    if stage == "$facet":
        if not isinstance(body, dict) or not body:
            raise InvalidInput(f"{_show(path)} must map names to pipelines.")
        return {
            _check_field(k, f"{path}.{k}"): check_pipeline(v, f"{path}.{k}", depth) for k, v in body.items()
        }
    if stage == "$sample":
        if not isinstance(body, dict) or set(body) != {"size"} or not isinstance(body["size"], int):
            raise InvalidInput(f'{_show(path)} takes {{"size": N}}.')
        return body
    if stage in ("$replaceRoot",):
        if not isinstance(body, dict) or set(body) != {"newRoot"}:
            raise InvalidInput(f'{_show(path)} takes {{"newRoot": <expression>}}.')
        return {"newRoot": check_expression(body["newRoot"], f"{path}.newRoot", depth)}
    # $replaceWith, $sortByCount, $bucket, $bucketAuto: expressions throughout
    if stage in ("$bucket", "$bucketAuto"):
        if not isinstance(body, dict) or "groupBy" not in body:
            raise InvalidInput(f"{_show(path)} needs 'groupBy'.")
        out = {}
        for k, v in body.items():
            if k == "output":
                if not isinstance(v, dict):
                    raise InvalidInput(f"{_show(path)}.output must map names to accumulators.")
                out[k] = _accumulators(v, f"{path}.output", depth)
            else:
                out[_check_field(k, f"{path}.{k}")] = check_expression(v, f"{path}.{k}", depth)
        return out
    return check_expression(body, path, depth)


def check_pipeline(pipeline: Any, where: str = "pipeline", depth: int = 0) -> list[dict[str, Any]]:
    """An aggregation pipeline: a list of one-key stage documents from the allowlist."""
    depth = _depth(depth, where)
    if not isinstance(pipeline, list):
        raise InvalidInput(f'{_show(where)} must be a list of stages such as [{{"$match": {{...}}}}].')
    if len(pipeline) > MAX_PIPELINE_STAGES:
        raise InvalidInput(f"{_show(where)} has more than {MAX_PIPELINE_STAGES} stages.")
    out: list[dict[str, Any]] = []
    for i, stage in enumerate(pipeline):
        path = f"{where}[{i}]"
        if not isinstance(stage, dict) or len(stage) != 1:
            raise InvalidInput(f"{_show(path)} must be an object with exactly one stage such as $match.")
        name, body = next(iter(stage.items()))
        if name not in STAGES:
            raise _refuse(name, path)
        out.append({name: _check_stage_body(name, body, f"{path}.{name}", depth)})
    return out
