"""Functions run in a killable worker process by the tests (kept import-light: the child imports this module)."""

from __future__ import annotations

import re


def regex_search(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None
