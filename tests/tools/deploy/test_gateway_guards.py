"""Issue #22 item 11 on the managed gateway (deploy_gateway_start on 127.0.0.1) serving a registered model:
NaN, +-Infinity, `1e999999` and null for a feature without a missing-value rule get 400 naming the row and
feature and count as rejected; a Host header that is not a loopback name gets 421."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp import Client

from mcp_server.core.context import AppContext
from tests.conftest import structured
from tests.tools.deploy.test_deploy import rows_of, serving

pytestmark = pytest.mark.timeout(300)


async def test_non_finite_and_null_values_are_rejected_and_counted(
    client: Client, app: AppContext, versions: dict[str, Any]
) -> None:
    base = await serving(client, "churn-guard", versions["v1"])
    url = f"{base}/v1/endpoints/churn-guard/predict"
    good = rows_of(app.settings.home, 2)
    # example.csv has no gaps, so the model has no imputer: null in a numeric feature has no rule.
    cases = [
        (b'{"rows": [{"age": NaN, "income": 1.0, "segment": "a"}]}', "Row 0: feature 'age' is NaN"),
        (
            b'{"rows": [{"age": 30, "income": Infinity, "segment": "a"}]}',
            "Row 0: feature 'income' is Infinity",
        ),
        (b'{"rows": [{"age": 30, "income": -Infinity, "segment": "a"}]}', "feature 'income' is -Infinity"),
        (b'{"rows": [{"age": 30, "income": 1e999999, "segment": "a"}]}', "feature 'income' is Infinity"),
        (
            b'{"columns": ["age", "income", "segment"], "data": [[30, 1.0, "a"], [31, null, "b"]]}',
            "Row 1: feature 'income' is null, and the model has no rule for a missing value",
        ),
    ]
    with httpx.Client(timeout=10) as http:
        for body, needle in cases:
            response = http.post(url, content=body)
            assert response.status_code == 400, (body, response.text)
            assert needle in response.json()["error"], response.text
            assert http.post(url, json={"rows": good}).status_code == 200  # still serving
    status = structured(await client.call_tool("deploy_status", {"endpoint": "churn-guard"}))
    metrics = status["endpoint"]["versions"][0]["metrics"]
    assert metrics["rejected"] == len(cases) and metrics["errors"] == 0
    assert metrics["requests"] == 2 * len(cases)


async def test_a_foreign_host_header_is_refused(
    client: Client, app: AppContext, versions: dict[str, Any]
) -> None:
    """DNS rebinding: the gateway binds 127.0.0.1, so it answers only loopback names in Host."""
    base = await serving(client, "churn-host", versions["v1"])
    port = base.rsplit(":", 1)[1]
    url = f"{base}/v1/endpoints/churn-host/predict"
    rows = {"rows": rows_of(app.settings.home, 1)}
    with httpx.Client(timeout=10) as http:
        refused = http.post(url, json=rows, headers={"Host": "evil.example"})
        assert refused.status_code == 421, refused.text
        assert "not a loopback name" in refused.json()["error"]
        assert http.get(f"{base}/healthz", headers={"Host": f"evil.example:{port}"}).status_code == 421
        served = http.post(url, json=rows, headers={"Host": f"127.0.0.1:{port}"})
        assert served.status_code == 200, served.text
    # The deploy tools reach the gateway by its loopback address, so they still work.
    out = structured(
        await client.call_tool("deploy_predict", {"endpoint": "churn-host", "rows": rows["rows"]})
    )
    assert out["rows"] == 1
