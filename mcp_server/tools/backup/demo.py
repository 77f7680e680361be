"""Demo step of the backup area: back up everything the demo built, verify it member by member, list it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    created = await client.call_tool("backup_create", {"scope": ["all", "lake"]})
    c: dict[str, Any] = created.structured_content or {}
    results.append(
        (
            "backup_create",
            not created.is_error,
            f"{c.get('id')}: {c.get('members')} files, {c.get('bytes')} bytes, writers waited {c.get('locked_ms')} ms",
        )
    )
    if created.is_error:
        return results
    verified = await client.call_tool("backup_verify", {"id": c["id"]})
    v: dict[str, Any] = verified.structured_content or {}
    results.append(("backup_verify", bool(v.get("ok")), f"{v.get('checked')} members read, ok={v.get('ok')}"))
    listed = await client.call_tool("backup_list", {"limit": 5})
    total = (listed.structured_content or {}).get("total")
    results.append(("backup_list", not listed.is_error, f"{total} backup(s) under <home>/backups"))
    return results
