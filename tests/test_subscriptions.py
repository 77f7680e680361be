"""Resource subscriptions through real clients, on both protocol eras: `resources/subscribe` (handshake
versions) and `subscriptions/listen` (2026-07-28). The canary and workflow cases, which need a gateway or
a trained home, are in tests/tools/deploy/test_rollouts.py and tests/tools/workflow/test_workflow.py."""

from __future__ import annotations

import anyio
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import Updates, structured

NOT_NULL = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]
BETWEEN = [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "id", "min_value": 0}}]


def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"watch_interval_s": 0.1})


async def save(client: Client, expectations: list[dict[str, object]]) -> None:
    structured(
        await client.call_tool("validation_create_suite", {"name": "orders", "expectations": expectations})
    )


async def test_a_subscribed_suite_tells_when_it_changes_and_stops_after_unsubscribe(
    settings: Settings,
) -> None:
    updates = Updates()
    server = create_server(fast(settings))
    uri = "mlops://suites/orders"
    async with Client(server, mode="legacy", message_handler=updates.handler) as client:
        caps = server._lowlevel_server.get_capabilities()
        assert caps.resources is not None and caps.resources.subscribe is True
        await save(client, NOT_NULL)
        await client.subscribe_resource(uri)
        await anyio.sleep(0.3)
        assert updates.count(uri) == 0  # nothing changed yet
        await save(client, BETWEEN)  # version 2: the resource shows it
        await updates.after(uri, 0, timeout=10)
        await anyio.sleep(0.3)
        assert updates.count(uri) == 1  # once per change
        await client.unsubscribe_resource(uri)
        await save(client, NOT_NULL)
        await anyio.sleep(0.5)
        assert updates.count(uri) == 1
        # A URI this server does not hold is accepted and never fires (as the SDK's listen does).
        await client.subscribe_resource("test://not-ours")
        structured(await client.call_tool("server_info", {}))
    server.app.close()


async def test_a_listen_stream_gets_the_update_on_the_2026_protocol(settings: Settings) -> None:
    from mcp.shared.subscriptions import ResourceUpdated

    server = create_server(fast(settings))
    uri = "mlops://suites/orders"
    async with Client(server) as client:
        await save(client, NOT_NULL)
        async with client.listen(resource_subscriptions=[uri]) as sub:
            await save(client, BETWEEN)
            with anyio.fail_after(10):
                event = await sub.__anext__()
        assert isinstance(event, ResourceUpdated) and event.uri == uri
    server.app.close()
