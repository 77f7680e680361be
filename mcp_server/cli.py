"""The `mlops-mcp` command: serve, tools, doctor, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from mcp_server import __version__

# Libraries that phone home or write under the user's dirs on import: off before any of them loads.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def _add_server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", type=Path, help="server home (default: the platform's user data dir)")
    p.add_argument("--root", action="append", type=Path, dest="roots", help="allowed data root (repeatable)")
    p.add_argument("--allow-broad-root", action="store_true", default=None, help="allow / or ~ as a root")
    p.add_argument("--profile", choices=["core", "all"], help="core (default, everyday tools) or all")
    p.add_argument("--tools", help="comma-separated areas to register (restricts to these areas)")
    p.add_argument("--read-only", action="store_true", default=None, help="register only read-only tools")


def build_settings(args: argparse.Namespace) -> Any:
    from mcp_server.core.config import Settings

    overrides: dict[str, Any] = {}
    for key in ("home", "roots", "allow_broad_root", "profile", "read_only"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    if getattr(args, "tools", None):
        overrides["tools"] = [t.strip() for t in args.tools.split(",") if t.strip()]
    return Settings(**overrides)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import anyio

    from mcp_server.core.app import create_server, run_http, run_stdio

    settings = build_settings(args)
    _setup_logging(settings.log_level)
    server = create_server(settings)
    if args.transport == "stdio":
        anyio.run(run_stdio, server)
    else:
        anyio.run(run_http, server, settings, args.host, args.port)
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    from mcp_server.core.app import create_server, tool_definitions_size
    from mcp_server.core.registry import select, tool_table

    settings = build_settings(args)
    specs, _enabled, _disabled = select(settings)
    rows = tool_table(specs)
    size = tool_definitions_size(create_server(settings))
    if args.json:
        print(json.dumps({"tools": rows, "count": len(rows), "definitions_bytes": size}, indent=2))
        return 0
    print(f"{'tool':<28} {'area':<12} core  ro    destr idemp open")
    for r in rows:
        flags = " ".join(
            f"{'yes' if r[k] else 'no':<5}"
            for k in ("core", "readOnly", "destructive", "idempotent", "openWorld")
        )
        print(f"{r['name']:<28} {r['area']:<12} {flags}")
    print(f"\n{len(rows)} tools, profile {settings.profile}; tool definitions: {size} bytes of JSON")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from mcp_server.core.registry import AREAS, installed_extras, select

    settings = build_settings(args)
    _specs, enabled, disabled = select(settings.model_copy(update={"profile": "all"}))
    print(f"mlops-mcp {__version__}")
    print(f"home:  {settings.home}")
    print(f"roots: {', '.join(str(r) for r in settings.effective_roots())}")
    print("extras:")
    for extra, ok in installed_extras().items():
        areas = [a.name for a in AREAS if a.extra == extra]
        note = "" if ok else f"  (missing: disables {', '.join(areas) or 'no area yet'})"
        print(f"  {'ok     ' if ok else 'missing'} {extra}{note}")
    print(f"areas enabled: {', '.join(enabled)}")
    for name, why in disabled.items():
        print(f"area off: {name}: {why}")
    from mcp_server.core.context import AppContext
    from mcp_server.core.errors import MlopsError

    app = AppContext.from_settings(settings)
    try:
        app.store.ping()
        print(f"metadata store: ok ({app.store.backend})")
    except MlopsError as err:
        print(f"metadata store: down: {err}")
        return 1
    finally:
        app.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mcp_server.demo import main as demo_main

    return demo_main(home=args.home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-mcp", description="ML-ops tools for AI assistants over MCP.")
    parser.add_argument("--version", action="version", version=f"mlops-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _add_server_flags(serve)
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument(
        "--host", default="127.0.0.1", help="HTTP bind address (non-loopback needs MLOPS_MCP_TOKEN)"
    )
    serve.add_argument("--port", type=int, default=8765)
    serve.set_defaults(func=cmd_serve)

    tools = sub.add_parser("tools", help="list the tools a profile registers, with hints and total size")
    _add_server_flags(tools)
    tools.add_argument("--json", action="store_true")
    tools.set_defaults(func=cmd_tools)

    doctor = sub.add_parser("doctor", help="installed extras, disabled areas, backends that answer")
    _add_server_flags(doctor)
    doctor.set_defaults(func=cmd_doctor)

    demo = sub.add_parser("demo", help="spawn the server over stdio with a real MCP client and walk it")
    demo.add_argument("--home", type=Path, help="home for the demo (default: a fresh temporary folder)")
    demo.set_defaults(func=cmd_demo)

    # Area subcommands (each adds its parser here and its cmd_* function above main).

    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from mcp_server.core.errors import MlopsError

    try:
        return int(args.func(args))
    except MlopsError as err:
        print(f"mlops-mcp: {err}", file=sys.stderr)
        return 2
    except ValidationError as err:  # a bad MLOPS_MCP_* variable or flag value
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(
            f"mlops-mcp: setting '{where}': {first['msg']} (check MLOPS_MCP_{where.upper()}).",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
