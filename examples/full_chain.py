"""The whole chain, raw data to a safe rollout, as `make demo` runs it: see mcp_server/demo.py for the steps.

Run: .venv/bin/python examples/full_chain.py [HOME]   (keeps HOME: reports, model cards, the backup)
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcp_server.demo import main

if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None))
