"""Shared helpers of the backup tests: data outside the home, a server on a given home, archive surgery."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.contract_cases import write_example_tables


def make_settings(home: Path, data: Path, **extra: Any) -> Settings:
    write_example_tables(data)
    return Settings(home=home, roots=[data], profile="all", **extra)


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Client]:
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            yield client
    finally:
        server.app.close()


def rebuild(src: Path, dst: Path, change: Any) -> None:
    """Copy an archive member by member; `change(name, data) -> data` may alter a file member."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for member in tin:
            data = tin.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None:
                data = change(member.name, data)
                member.size = len(data)
                tout.addfile(member, io.BytesIO(data))
            else:
                tout.addfile(member)


def evil_archive(path: Path, kind: str) -> None:
    """An archive with a valid-looking manifest and one hostile member."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo()
        if kind == "dotdot":
            info.name, info.size = "files/../../escaped.txt", 5
            tar.addfile(info, io.BytesIO(b"owned"))
        elif kind == "absolute":
            info.name, info.size = "/tmp/mlops-backup-absolute.txt", 5
            tar.addfile(info, io.BytesIO(b"owned"))
        elif kind == "symlink":
            info.name, info.type, info.linkname = "files/gx", tarfile.SYMTYPE, "/etc"
            tar.addfile(info)
        elif kind == "hardlink":
            info.name, info.type, info.linkname = "files/metadata.db", tarfile.LNKTYPE, "/etc/passwd"
            tar.addfile(info)
        manifest = {"format": "mlops-mcp-backup/1", "id": path.name[: -len(".tar.gz")], "members": []}
        raw = json.dumps(manifest).encode()
        m = tarfile.TarInfo("manifest.json")
        m.size = len(raw)
        tar.addfile(m, io.BytesIO(raw))
