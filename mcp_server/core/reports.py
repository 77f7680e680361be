"""HTML reports from one Jinja2 template set (templates/): a shared base page and one template per report.

Autoescaping is on for every template, so data values (file names, sampled cells, error text) are
always shown as text, never as markup. Jinja2 is imported on the first render, not at start-up.

    render("validation.html", meta=..., outcomes=...)   one validation result
    render("quality.html", meta=..., dimensions=..., columns=..., chart=...)   one quality report
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from mcp_server.core.values import plain

TEMPLATES = Path(__file__).parent / "templates"


def _missing(value: Any) -> bool:
    import jinja2

    return value is None or isinstance(value, jinja2.Undefined)


def _num(value: Any, spec: str = ".4g", missing: str = "") -> str:
    """A number in `spec` format; `missing` when there is none."""
    if _missing(value):
        return missing
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _data(value: Any, chars: int = 300) -> str:
    """A data value as short JSON text (empty when there is none)."""
    return "" if _missing(value) else json.dumps(plain(value), default=str)[:chars]


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    env.filters["data"] = _data
    return env


def render(template_name: str, **context: Any) -> str:
    """The page `template_name` (a file in templates/) rendered with `context`, data autoescaped."""
    return str(_environment().get_template(template_name).render(**context))
