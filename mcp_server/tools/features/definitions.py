"""The declarative feature definitions file: its schema (pydantic, unknown keys refused) and its checks.

Cheap to import (no Feast, no YAML parser): the adapter parses the file with `yaml.safe_load` and turns
the checked model into Feast objects.

```yaml
project: nba
entities:
  - {name: player, join_keys: [player_id], value_type: int64}
sources:
  - {name: player_games, path: data/player_games.parquet, timestamp_field: game_time}
feature_views:
  - name: player_form
    entities: [player]
    source: player_games
    ttl: 30d
    schema: {pts_avg_10: float32, reb_avg_10: float32}
feature_services:
  - {name: player_model_v1, features: [player_form]}
```
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mcp_server.core.errors import InvalidInput

# Feast project names become SQLite table prefixes and lineage identifiers: no hyphens, no dots.
PROJECT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$")
OBJECT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
TTL_RE = re.compile(r"^\s*(\d{1,9})\s*([smhdw]?)\s*$")
TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_TTL_S = 100 * 365 * 86400

ValueTypeName = Literal["int64", "int32", "string", "bytes"]
FeatureTypeName = Literal["int32", "int64", "float32", "float64", "string", "bool", "bytes", "unix_timestamp"]
SUPPORTED_SOURCE_SUFFIXES = (".parquet", ".pq")


def check_project(value: str) -> str:
    if not isinstance(value, str) or not PROJECT_RE.match(value):
        raise InvalidInput(
            "The Feast project name must be 1-64 letters, digits or '_', starting with a letter or digit "
            "(no hyphens: it prefixes online-store tables)."
        )
    return value


def _object_name(value: str, what: str) -> str:
    if not OBJECT_RE.match(value):
        raise ValueError(
            f"the {what} name {value[:60]!r} must be letters, digits or '_' (at most 128), starting with a "
            "letter or '_'"
        )
    return value


def _column(value: str) -> str:
    if not COLUMN_RE.match(value):
        raise ValueError(f"the column name {value[:60]!r} is not a plain column name")
    return value


def _named(what: str) -> AfterValidator:
    return AfterValidator(lambda v: _object_name(v, what))


Column = Annotated[str, AfterValidator(_column)]
EntityName = Annotated[str, _named("entity")]
SourceName = Annotated[str, _named("source")]
ViewName = Annotated[str, _named("feature view")]
ServiceName = Annotated[str, _named("feature service")]


def parse_ttl(value: str | int) -> int:
    """'30d', '12h', '15m', '45s', '2w' or a number of seconds -> seconds (0 = no expiry)."""
    if isinstance(value, bool):
        raise ValueError("ttl must be a duration such as '30d', '12h' or a number of seconds")
    if isinstance(value, int):
        seconds = value
    else:
        m = TTL_RE.match(str(value))
        if not m:
            raise ValueError(
                f"ttl {str(value)[:30]!r} is not a duration; use a number with s, m, h, d or w (e.g. '30d')"
            )
        seconds = int(m.group(1)) * TTL_UNITS[m.group(2)]
    if not 0 <= seconds <= MAX_TTL_S:
        raise ValueError("ttl must be between 0 (no expiry) and 100 years")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EntityDef(_Strict):
    name: EntityName
    join_keys: list[Column] = Field(min_length=1)
    value_type: ValueTypeName
    description: str = Field("", max_length=2000)

    @field_validator("join_keys")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        if len(v) != 1:
            raise ValueError("a Feast entity has exactly one join key; define one entity per key column")
        return v


class SourceDef(_Strict):
    name: SourceName
    path: str = Field(min_length=1, max_length=4096)
    timestamp_field: Column
    created_timestamp_column: Column | None = None
    description: str = Field("", max_length=2000)


class FeatureViewDef(_Strict):
    name: ViewName
    entities: list[str] = Field(min_length=1, max_length=8)
    source: str
    ttl: str | int
    features: dict[Column, FeatureTypeName] = Field(alias="schema", min_length=1, max_length=500)
    online: bool = True
    description: str = Field("", max_length=2000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: str | int) -> str | int:
        parse_ttl(v)
        return v

    @property
    def ttl_seconds(self) -> int:
        return parse_ttl(self.ttl)


class FeatureServiceDef(_Strict):
    name: ServiceName
    features: list[str] = Field(
        min_length=1,
        max_length=200,
        description="Feature views ('player_form') or single features ('player_form:pts_avg_10').",
    )
    description: str = Field("", max_length=2000)


class Definitions(_Strict):
    project: str
    entities: list[EntityDef] = Field(default_factory=list, max_length=200)
    sources: list[SourceDef] = Field(default_factory=list, max_length=200)
    feature_views: list[FeatureViewDef] = Field(default_factory=list, max_length=500)
    feature_services: list[FeatureServiceDef] = Field(default_factory=list, max_length=200)

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not PROJECT_RE.match(v):
            raise ValueError(
                "the project name must be letters, digits or '_' (at most 64), starting with a letter or digit"
            )
        return v

    @model_validator(mode="after")
    def _references(self) -> Definitions:
        _unique("entity", [e.name for e in self.entities])
        _unique("source", [s.name for s in self.sources])
        _unique("feature view", [v.name for v in self.feature_views])
        _unique("feature service", [s.name for s in self.feature_services])
        entities = {e.name for e in self.entities}
        sources = {s.name for s in self.sources}
        views = {v.name: v for v in self.feature_views}
        for view in self.feature_views:
            for ent in view.entities:
                if ent not in entities:
                    raise ValueError(f"feature view '{view.name}' uses entity '{ent}', which is not defined")
            if view.source not in sources:
                raise ValueError(
                    f"feature view '{view.name}' reads source '{view.source}', which is not defined"
                )
        for svc in self.feature_services:
            for ref in svc.features:
                name, _, feature = ref.partition(":")
                if name not in views:
                    raise ValueError(
                        f"feature service '{svc.name}' lists '{ref}', but no feature view '{name}' is defined"
                    )
                if feature and feature not in views[name].features:
                    raise ValueError(
                        f"feature service '{svc.name}' lists '{ref}', but view '{name}' has no feature "
                        f"'{feature}'"
                    )
        return self


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"the {what} '{name}' is defined twice")
        seen.add(name)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker of a dict key's own error: the key is the part before
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "the top level"


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return sorted((f.alias or name) for name, f in model.model_fields.items())


_MODEL_AT: dict[str, type[BaseModel]] = {
    "entities": EntityDef,
    "sources": SourceDef,
    "feature_views": FeatureViewDef,
    "feature_services": FeatureServiceDef,
}


def parse_definitions(data: Any, source_name: str) -> Definitions:
    """Check the parsed YAML; any problem is ONE InvalidInput sentence naming the key or object."""
    if not isinstance(data, dict):
        raise InvalidInput(
            f"'{source_name}' must be a YAML mapping with project, entities, sources, feature_views and "
            "feature_services."
        )
    try:
        return Definitions.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        # A misspelt key also shows up as a missing one: name the unknown key, the real cause.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(first["loc"])
        if first["type"] == "extra_forbidden":
            key = loc[-1]
            parent = loc[:-1]
            model: type[BaseModel] = Definitions
            if parent:
                model = _MODEL_AT.get(str(parent[0]), Definitions)
            raise InvalidInput(
                f"Unknown key '{key}' at {_where(parent)} in '{source_name}'; allowed keys there: "
                f"{', '.join(_allowed_keys(model))}."
            ) from None
        if first["type"] == "missing":
            raise InvalidInput(
                f"'{source_name}' is missing the key '{loc[-1]}' at {_where(loc[:-1])}."
            ) from None
        msg = str(first["msg"]).removeprefix("Value error, ")
        where = _where(loc)
        raise InvalidInput(f"'{source_name}' is not valid at {where}: {msg}.") from None
