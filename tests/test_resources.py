"""resources/list and the mlops:// templates: suites, validation results, reports, lineage graphs."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from mcp_server.core.config import Settings
from tests.conftest import structured
from tests.contract_cases import write_example_tables


async def test_templates_are_listed(client: Client) -> None:
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert {
        "mlops://artifacts/{+path}",
        "mlops://suites/{name}",
        "mlops://validation-results/{result_id}",
        "mlops://lineage/{+entity}",
        "mlops://deployments/{endpoint}/history",
    } <= templates


async def test_a_fresh_home_lists_nothing_and_creates_no_store(client: Client, settings: Settings) -> None:
    assert (await client.list_resources()).resources == []
    assert not (settings.home / "metadata.db").exists()


@pytest.mark.slow
async def test_suites_results_reports_and_lineage_are_listed_and_read(
    client: Client, settings: Settings
) -> None:
    write_example_tables(settings.workspace_dir)
    structured(
        await client.call_tool(
            "validation_suggest_suite", {"dataset": "example.csv", "name": "ex", "save": True}
        )
    )
    run = structured(await client.call_tool("validation_run", {"dataset": "example.csv", "suite": "ex"}))
    listed = {str(r.uri): r for r in (await client.list_resources()).resources}
    assert "mlops://suites/ex" in listed
    result_uri = f"mlops://validation-results/{run['result_id']}"
    assert result_uri in listed
    assert any(u.startswith("mlops://artifacts/reports/") for u in listed)  # the HTML report

    suite = json.loads((await client.read_resource("mlops://suites/ex")).contents[0].text)  # type: ignore[union-attr]
    assert suite["expectations"]
    result = json.loads((await client.read_resource(result_uri)).contents[0].text)  # type: ignore[union-attr]
    assert result["success"] == run["success"] and result["evaluated"] == run["evaluated"]
    graph = json.loads(
        (await client.read_resource(f"mlops://lineage/{run['lineage_id']}")).contents[0].text  # type: ignore[union-attr]
    )
    assert any(n["id"].startswith("dataset:") for n in graph["nodes"])


async def test_unknown_names_get_one_clear_error(client: Client) -> None:
    for uri, needle in (
        ("mlops://suites/nope", "No suite named"),
        ("mlops://validation-results/zz", "not a validation result id"),
        ("mlops://deployments/nope/history", "No endpoint"),
    ):
        with pytest.raises(Exception, match=needle):
            await client.read_resource(uri)
