"""The catalog's records in the metadata store: datasets, tags and immutable versions.

Used by the lake tools (reserve a version, then finish or fail it) and the catalog tools. Plain
blocking functions: call them from a worker thread. SQLAlchemy is imported inside the functions.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.lineage import parse_id, record_edge
from mcp_server.core.store import MetadataStore
from mcp_server.tools.catalog.adapter import SchemaDiff, diff_schemas

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.store.models import CatalogDataset, CatalogVersion

_ATTEMPTS = 4


@dataclass
class VersionInfo:
    id: int
    version: int
    status: str
    operation: str
    identifier: str | None
    location: str
    format: str
    schema: list[dict[str, Any]]
    arrow_schema: str
    partition_by: list[str]
    compression: str | None
    row_group_size: int | None
    rows: int | None
    bytes: int | None
    files: int | None
    row_groups: int | None
    source: str | None
    created_at: datetime


@dataclass
class DatasetInfo:
    id: int
    name: str
    zone: str | None
    description: str | None
    owner: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    versions: list[VersionInfo] = field(default_factory=list)  # ready versions, oldest first

    @property
    def latest(self) -> VersionInfo | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int | None) -> VersionInfo:
        if not self.versions:
            raise NotFound(f"The dataset {self.name!r} has no readable version yet.")
        if number is None:
            return self.versions[-1]
        for v in self.versions:
            if v.version == number:
                return v
        shown = ", ".join(str(v.version) for v in self.versions[-10:])
        raise NotFound(f"The dataset {self.name!r} has no version {number}; its versions include {shown}.")


@dataclass
class Reservation:
    version_id: int
    version: int
    location: str
    zone: str | None
    diff: SchemaDiff | None
    previous: int | None


def _version_info(row: CatalogVersion | Any) -> VersionInfo:
    same = {
        f.name: getattr(row, f.name) for f in fields(VersionInfo) if f.name not in ("schema", "partition_by")
    }
    return VersionInfo(**same, schema=json.loads(row.schema_json), partition_by=json.loads(row.partition_by))


def _tags(session: Session, dataset_id: int) -> list[str]:
    from sqlalchemy import select

    from mcp_server.core.store.models import CatalogTag

    return list(
        session.scalars(
            select(CatalogTag.tag).where(CatalogTag.dataset_id == dataset_id).order_by(CatalogTag.tag)
        )
    )


def _info(session: Session, row: CatalogDataset, with_versions: bool = True) -> DatasetInfo:
    from sqlalchemy import select

    from mcp_server.core.store.models import CatalogVersion

    info = DatasetInfo(
        id=row.id,
        name=row.name,
        zone=row.zone,
        description=row.description,
        owner=row.owner,
        tags=_tags(session, row.id),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
    if with_versions:
        stmt = (
            select(CatalogVersion)
            .where(CatalogVersion.dataset_id == row.id, CatalogVersion.status == "ready")
            .order_by(CatalogVersion.version)
        )
        info.versions = [_version_info(v) for v in session.scalars(stmt)]
    return info


def _dataset_row(session: Session, name: str) -> CatalogDataset | None:
    from sqlalchemy import select

    from mcp_server.core.store.models import CatalogDataset

    return session.scalars(select(CatalogDataset).where(CatalogDataset.name == name)).first()


def get_dataset(store: MetadataStore, name: str) -> DatasetInfo:
    with store.read_session() as session:
        row = _dataset_row(session, name)
        if row is None:
            raise NotFound(f"No dataset {name!r} in the catalog; see lake_list or catalog_search.")
        return _info(session, row)


@functools.cache
def _version_query(numbered: bool) -> Any:
    """The ready version of a dataset (by number, or the newest), built once: constructing a SQLAlchemy
    statement costs about as much as running it. Core, not ORM: an ORM load costs about twice the time
    (lake_read's catalog lookup is a good part of a selective read)."""
    from sqlalchemy import bindparam, select

    from mcp_server.core.store.models import CatalogDataset, CatalogVersion

    stmt = (
        select(*CatalogVersion.__table__.columns)
        .join(CatalogDataset, CatalogDataset.id == CatalogVersion.dataset_id)
        .where(CatalogDataset.name == bindparam("name"), CatalogVersion.status == "ready")
    )
    if numbered:
        stmt = stmt.where(CatalogVersion.version == bindparam("number"))
    return stmt.order_by(CatalogVersion.version.desc()).limit(1)


def get_version(store: MetadataStore, name: str, number: int | None) -> VersionInfo:
    """One ready version of a dataset (the newest when `number` is None), in a single query."""
    params: dict[str, Any] = {"name": name} if number is None else {"name": name, "number": number}
    with store.read_session() as session:
        row = session.connection().execute(_version_query(number is not None), params).first()
        if row is not None:
            return _version_info(row)
    return get_dataset(store, name).version(number)  # raises the precise NotFound


def _retrying(fn: Callable[[], Any]) -> Any:
    """Run a write that may lose a race on a unique key (two writers of one dataset): retry it."""
    from sqlalchemy.exc import IntegrityError

    for attempt in range(_ATTEMPTS):
        try:
            return fn()
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise Conflict("Another writer kept changing this dataset at the same time; retry.") from None
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def reserve_version(
    store: MetadataStore,
    *,
    name: str,
    zone: str | None,
    operation: str,
    location: Callable[[str | None, int], str],
    fmt: str,
    schema: list[dict[str, Any]],
    arrow_schema: str,
    partition_by: list[str],
    compression: str | None,
    row_group_size: int | None,
    source: str | None,
    allow_breaking: bool,
    lake: bool = True,
    new_only: bool = False,
) -> Reservation:
    """Create the dataset if new and reserve its next version ('writing'), after the schema check.

    The check compares with the newest ready version: removed or narrowed/retyped columns are refused
    unless `allow_breaking`. `lake` writes set the dataset's zone (default raw); a zone that differs from
    the dataset's is refused. `new_only` refuses a name that has a version being written or ready.
    """
    from sqlalchemy import func, select

    from mcp_server.core.store.models import CatalogDataset, CatalogVersion, utcnow

    def attempt() -> Reservation:
        with store.transaction() as session:
            row = _dataset_row(session, name)
            now = utcnow()
            if new_only and row is not None:
                taken = session.scalars(
                    select(CatalogVersion.version)
                    .where(
                        CatalogVersion.dataset_id == row.id, CatalogVersion.status.in_(("ready", "writing"))
                    )
                    .limit(1)
                ).first()
                if taken is not None:
                    raise Conflict(
                        f"A dataset named {name!r} already exists; give the output a new name "
                        "(lake_list shows the names in use)."
                    )
            if row is None:
                row = CatalogDataset(
                    name=name, zone=(zone or "raw") if lake else None, created_at=now, updated_at=now
                )
                session.add(row)
                session.flush()
            elif lake:
                if row.zone is not None and zone is not None and zone != row.zone:
                    raise InvalidInput(
                        f"The dataset {name!r} lives in the {row.zone!r} zone; write to that zone or "
                        "use another dataset name."
                    )
                if row.zone is None:
                    row.zone = zone or "raw"
            row.updated_at = now
            latest = session.scalars(
                select(CatalogVersion)
                .where(CatalogVersion.dataset_id == row.id, CatalogVersion.status == "ready")
                .order_by(CatalogVersion.version.desc())
                .limit(1)
            ).first()
            diff = None
            if latest is not None:
                diff = diff_schemas(json.loads(latest.schema_json), schema)
                if not diff.compatible and not allow_breaking:
                    reasons = "; ".join(diff.breaking_reasons[:5])
                    raise Conflict(
                        f"The new data breaks the schema of {name!r} v{latest.version} ({reasons}); "
                        "fix the data or pass allow_breaking=true."
                    )
            number = (
                session.scalar(
                    select(func.max(CatalogVersion.version)).where(CatalogVersion.dataset_id == row.id)
                )
                or 0
            ) + 1
            where = location(row.zone, number)
            version = CatalogVersion(
                dataset_id=row.id,
                version=number,
                status="writing",
                operation=operation,
                location=where,
                format=fmt,
                schema_json=json.dumps(schema),
                arrow_schema=arrow_schema,
                partition_by=json.dumps(partition_by),
                compression=compression,
                row_group_size=row_group_size,
                source=source,
                created_at=now,
            )
            session.add(version)
            session.flush()
            return Reservation(
                version_id=version.id,
                version=number,
                location=where,
                zone=row.zone,
                diff=diff,
                previous=None if latest is None else latest.version,
            )

    result: Reservation = _retrying(attempt)
    return result


def finish_version(
    store: MetadataStore,
    version_id: int,
    *,
    identifier: str,
    stats: Any,
    edges: Sequence[tuple[str, str, str, dict[str, Any] | None]],
) -> None:
    """Mark a reserved version ready with its stats (`rows`, `bytes`, `files`, `row_groups`) and lineage
    edges, in one transaction."""
    from mcp_server.core.store.models import CatalogVersion, utcnow

    with store.transaction() as session:
        row = session.get(CatalogVersion, version_id)
        assert row is not None
        row.status = "ready"
        row.identifier = identifier
        row.rows, row.bytes, row.files, row.row_groups = (
            stats.rows,
            stats.bytes,
            stats.files,
            stats.row_groups,
        )
        row.finished_at = utcnow()
        for upstream, downstream, kind, details in edges:
            if upstream != downstream:
                record_edge(store, upstream, downstream, kind, details, session=session)


def fail_version(store: MetadataStore, version_id: int) -> None:
    from mcp_server.core.store.models import CatalogVersion, utcnow

    with store.transaction() as session:
        row = session.get(CatalogVersion, version_id)
        if row is not None and row.status == "writing":
            row.status = "failed"
            row.finished_at = utcnow()


def update_metadata(
    store: MetadataStore, name: str, *, description: str | None, owner: str | None, tags: list[str] | None
) -> bool:
    """Set description/owner/tags of an existing dataset; False when there is no such dataset."""
    from sqlalchemy import delete

    from mcp_server.core.store.models import CatalogTag, utcnow

    with store.transaction() as session:
        row = _dataset_row(session, name)
        if row is None:
            return False
        if description is not None:
            row.description = description
        if owner is not None:
            row.owner = owner
        if tags is not None:
            session.execute(delete(CatalogTag).where(CatalogTag.dataset_id == row.id))
            session.add_all(CatalogTag(dataset_id=row.id, tag=t) for t in sorted(set(tags)))
        row.updated_at = utcnow()
        return True


def search(
    store: MetadataStore,
    *,
    text: str | None = None,
    tags: list[str] | None = None,
    owner: str | None = None,
    zone: str | None = None,
) -> list[DatasetInfo]:
    """Datasets whose name or description contains `text` (case-insensitive), carrying every tag in
    `tags`, owned by `owner`, in `zone`; newest change first."""
    from sqlalchemy import func, or_, select

    from mcp_server.core.store.models import CatalogDataset, CatalogTag

    stmt = select(CatalogDataset)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(CatalogDataset.name).like(pattern, escape="\\"),
                func.lower(func.coalesce(CatalogDataset.description, "")).like(pattern, escape="\\"),
            )
        )
    if owner:
        stmt = stmt.where(CatalogDataset.owner == owner)
    if zone:
        stmt = stmt.where(CatalogDataset.zone == zone)
    for tag in sorted(set(tags or [])):
        stmt = stmt.where(
            select(CatalogTag.id)
            .where(CatalogTag.dataset_id == CatalogDataset.id, CatalogTag.tag == tag)
            .exists()
        )
    stmt = stmt.order_by(CatalogDataset.updated_at.desc(), CatalogDataset.id.desc())
    with store.read_session() as session:
        return [_info(session, row) for row in session.scalars(stmt)]


def latest_validation(store: MetadataStore, identifiers: list[str]) -> dict[str, Any] | None:
    """The newest validation result recorded on any of these dataset identifiers (validation area)."""
    if not identifiers:
        return None
    try:
        from mcp_server.core.store.models import ValidationResultRecord
    except ImportError:  # the validation area's table is not in this build
        return None
    from sqlalchemy import select

    with store.read_session() as session:
        row = session.scalars(
            select(ValidationResultRecord)
            .where(ValidationResultRecord.dataset.in_(identifiers))
            .order_by(ValidationResultRecord.created_at.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return {
            "id": f"validation:{row.id}",
            "dataset": row.dataset,
            "kind": row.kind,
            "suite": row.suite_name,
            "success": bool(row.success),
            "evaluated": row.evaluated,
            "successful": row.successful,
            "failed": row.failed,
            "quality_score": round(row.successful / row.evaluated, 4) if row.evaluated else None,
            "created_at": row.created_at.isoformat(),
        }


def resolve_entity(store: MetadataStore, entity: str) -> str:
    """A lineage identifier; `dataset:<name>` (newest version) and `dataset:<name>@v<N>` are looked up
    in the catalog and turned into the version's dataset:<name>@<sha12> identifier."""
    if entity.startswith("dataset:"):
        rest = entity[len("dataset:") :]
        name, at, version = rest.rpartition("@")
        number: int | None = None
        if at and version[:1] == "v" and version[1:].isdigit():
            number = int(version[1:])
        elif not at:
            name = rest
        else:
            parse_id(entity)
            return entity
        try:
            info = get_dataset(store, name)
        except NotFound:
            raise InvalidInput(
                f"{entity!r} is neither a lineage identifier nor a catalogued dataset; use "
                "dataset:<name>@<sha12>, dataset:<name> or dataset:<name>@v<N>."
            ) from None
        found = info.version(number)
        assert found.identifier is not None
        return found.identifier
    parse_id(entity)
    return entity
