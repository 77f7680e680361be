"""Column and constraint builders that the revisions in versions/ share.

A column is NOT NULL unless it says `nullable=True`. A revision must build the same schema for ever: never
change what a builder here returns; add a new one instead.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa


def serial_id() -> sa.Column[int]:
    """The autoincrementing integer key `id`."""
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def string(name: str, length: int, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def integer(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def big_integer(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def float_(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def boolean(name: str, *, nullable: bool = False) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=nullable)


def timestamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def dataset_columns() -> list[sa.Column[str]]:
    """Which dataset a stored result is about: its identifier, its stored path and the path's key."""
    return [string("dataset", 1024), text("dataset_path"), string("path_key", 64)]


def cascade_key(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    """`table.column` refers to `parent.id`; deleting the parent row deletes this one."""
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=f"fk_{table}_{column}_{parent}", ondelete="CASCADE"
    )
