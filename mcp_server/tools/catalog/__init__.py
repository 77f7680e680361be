"""The catalog area: the dataset catalog and schema registry over the lake's versions (metadata store)."""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.catalog.tools import catalog_get, catalog_register, catalog_schema_diff, catalog_search

_WRITE = ("lake_write", {"source": "example.parquet", "dataset": "example"})
_REGISTER = (
    "catalog_register",
    {"dataset": "customers", "location": "example.parquet", "owner": "growth", "tags": ["pii", "daily"]},
)

TOOLS = (
    ToolSpec(
        catalog_register,
        core=False,
        read_only=False,
        idempotent=True,
        example={
            "dataset": "customers",
            "location": "example.parquet",
            "description": "Customer sign-ups with age, income and segment.",
            "owner": "growth",
            "tags": ["pii", "daily"],
        },
    ),
    ToolSpec(
        catalog_search,
        core=False,
        read_only=True,
        idempotent=True,
        setup=(_REGISTER,),
        example={"text": "cust", "tags": ["pii"]},
    ),
    ToolSpec(
        catalog_get,
        core=True,
        read_only=True,
        idempotent=True,
        setup=(_WRITE,),
        example={"dataset": "example"},
    ),
    ToolSpec(
        catalog_schema_diff,
        core=False,
        read_only=True,
        idempotent=True,
        setup=(_WRITE, _WRITE),
        example={"dataset": "example", "a": 1, "b": 2},
    ),
)
