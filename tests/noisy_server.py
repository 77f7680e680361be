"""A stdio server whose health probe prints the way misbehaving libraries do (print, raw fd 1, a child)."""

from __future__ import annotations

import os
import subprocess
import sys

from mcp_server.cli import main
from mcp_server.core import server_tools


async def noisy_probe(app: object) -> tuple[bool, str, str]:
    print("print() from a library")
    sys.stdout.write("sys.stdout.write from a library\n")
    os.write(1, b"raw write to fd 1\n")
    subprocess.run(["echo", "a child process printing"], check=True)
    return True, "printed to stdout four ways", ""


server_tools.CORE_PROBES["noisy"] = noisy_probe

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
