"""`mlops://artifacts/...` links are served by resources/read from <home>/reports, and from nowhere else."""

from __future__ import annotations

import base64

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_server.core.config import Settings
from mcp_server.core.output import artifact_uri


async def test_nested_report_is_served(client: Client, settings: Settings) -> None:
    report = settings.home / "reports" / "validation" / "r1.html"
    report.parent.mkdir(parents=True)
    report.write_text("<h1>ok</h1>")
    uri = artifact_uri(settings.home, report)
    assert uri == "mlops://artifacts/reports/validation/r1.html"
    result = await client.read_resource(uri)
    # Issue #23 item 7: its own type, and text as text (it was a base64 blob labelled text/plain).
    assert result.contents[0].mime_type == "text/html"
    assert result.contents[0].text == "<h1>ok</h1>"  # type: ignore[union-attr]
    png = settings.home / "reports" / "quality" / "chart.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    image = (await client.read_resource(artifact_uri(settings.home, png))).contents[0]
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.blob) == png.read_bytes()  # type: ignore[union-attr]
    listed = {str(r.uri): r.mime_type for r in (await client.list_resources()).resources}
    assert listed[uri] == "text/html" and listed[artifact_uri(settings.home, png)] == "image/png"


@pytest.mark.parametrize(
    "path",
    ["metadata.db", "reports/../metadata.db", "reports/%2e%2e/metadata.db", "reports/missing.html"],
)
async def test_nothing_outside_reports(client: Client, settings: Settings, path: str) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "metadata.db").write_text("secret rows")
    with pytest.raises(MCPError) as err:
        await client.read_resource(f"mlops://artifacts/{path}")
    assert "secret rows" not in str(err.value)
