"""The README's tool table lists every tool, and the Claude Desktop example is valid JSON that passes --root."""

from __future__ import annotations

import json

from mcp_server.core.registry import all_specs
from tests.conftest import REPO


def test_readme_lists_every_tool() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [s.name for s in all_specs() if f"| `{s.name}` |" not in readme]
    assert missing == []
    assert "make demo" in readme and "make test" in readme


def test_claude_desktop_config_example() -> None:
    config = json.loads((REPO / "docs" / "claude_desktop_config.json").read_text())
    args = config["mcpServers"]["mlops"]["args"]
    assert args[0] == "serve" and "--root" in args
