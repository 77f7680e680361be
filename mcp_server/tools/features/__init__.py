"""The features area: a Feast feature store whose definitions live in reviewed files.

Importing this module is cheap: Feast, pandas and yaml load inside the calls (adapter.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.features.tools")  # imported on a tool's first use

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

LONG_DEADLINE_S = 900.0


async def feast_probe(app: AppContext) -> tuple[bool, str, str]:
    """The repo folder, and the Redis online store when configured (a 2 s ping, no Feast import)."""
    import anyio.to_thread

    from mcp_server.core.registry import extra_installed

    if not extra_installed("feast"):
        return False, "feast is not installed", "pip install 'mlops-mcp[feast]'"
    settings = app.settings
    repo = settings.feature_repo or settings.home / "feature_repo"
    where = "ready" if (repo / "feature_store.yaml").is_file() else "not created yet (t.features_init)"
    if settings.feast_online_store != "redis":
        return True, f"repo {where}; online store sqlite", ""

    def ping() -> str | None:
        from urllib.parse import urlsplit

        import redis

        url = settings.redis_url.get_secret_value()
        parts = urlsplit(url)
        try:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            client.ping()
            client.close()
        except redis.exceptions.RedisError as err:
            return f"Redis at {parts.hostname}:{parts.port or 6379} did not answer ({type(err).__name__})"
        return None

    problem = await anyio.to_thread.run_sync(ping)
    if problem:
        return (
            False,
            problem,
            "Start Redis or fix MLOPS_MCP_REDIS_URL (or use MLOPS_MCP_FEAST_ONLINE_STORE=sqlite).",
        )
    return True, f"repo {where}; online store redis", ""


PROBES = {"feast": feast_probe}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.features_init, idempotent=True),
    ToolSpec(t.features_scaffold),
    ToolSpec(t.features_plan, read_only=True, idempotent=True),
    ToolSpec(t.features_apply, destructive=True, idempotent=True),
    ToolSpec(t.features_list, read_only=True, idempotent=True),
    ToolSpec(t.features_describe, read_only=True, idempotent=True),
    ToolSpec(t.features_materialize, idempotent=False, deadline_s=LONG_DEADLINE_S),
    ToolSpec(t.features_get_online, core=True, read_only=True, idempotent=True),
    ToolSpec(t.features_get_historical, deadline_s=LONG_DEADLINE_S),
    ToolSpec(t.features_validate, read_only=True),
)
