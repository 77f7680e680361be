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


def test_the_readmes_core_list_is_the_core_profile() -> None:
    """Issue #23: the README listed a tool the core profile did not register."""
    import re

    from mcp_server.core.config import Settings
    from mcp_server.core.registry import CORE_TOOL_BUDGET, select

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("- **The core profile**") : readme.index("- **Read-only**")]
    listed = set(re.findall(r"`([a-z]+_[a-z_]+)`", section))
    core = {spec.name for spec in select(Settings(profile="core"))[0]}
    assert listed == core, (sorted(listed - core), sorted(core - listed))
    assert f"({len(core)} tools" in section and len(core) <= CORE_TOOL_BUDGET
