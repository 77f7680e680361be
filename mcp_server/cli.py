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
    from mcp_server.core.store.redact import install_log_redaction

    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:  # the mlops_mcp logger passes every level on, for clients
        handler.setLevel(getattr(logging, level))
    install_log_redaction()  # every line on stderr masked: URL passwords, tokens, key=value secrets


def cmd_serve(args: argparse.Namespace) -> int:
    import anyio

    from mcp_server.core.app import create_server, run_http, run_stdio
    from mcp_server.core.auth import auth_mode

    settings = build_settings(args)
    auth_mode(settings)  # the static token and OAuth are exclusive: one line at start, whatever the transport
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
    # What each profile costs the assistant's context, whichever profile is listed.
    sizes: dict[str, tuple[int, int]] = {}
    for profile in ("core", "all"):
        chosen = settings.model_copy(update={"profile": profile})
        sizes[profile] = (len(select(chosen)[0]), tool_definitions_size(create_server(chosen)))
    size = sizes[settings.profile][1]
    if args.json:
        per_profile = {p: {"count": n, "definitions_bytes": b} for p, (n, b) in sizes.items()}
        print(
            json.dumps(
                {"tools": rows, "count": len(rows), "definitions_bytes": size, "profiles": per_profile},
                indent=2,
            )
        )
        return 0
    print(f"{'tool':<28} {'area':<12} core  ro    destr idemp open  scope (OAuth)")
    for r in rows:
        flags = " ".join(
            f"{'yes' if r[k] else 'no':<5}"
            for k in ("core", "readOnly", "destructive", "idempotent", "openWorld")
        )
        print(f"{r['name']:<28} {r['area']:<12} {flags} {r['scope']}")
    print(f"\n{len(rows)} tools listed; tool definitions: {size} bytes of JSON")
    for profile, (count, total) in sizes.items():
        print(f"profile {profile}: {count} tools, {total} bytes of tool definitions")
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
    from mcp_server.core import auth
    from mcp_server.core.context import AppContext
    from mcp_server.core.errors import MlopsError

    auth_ok = True
    try:
        print(f"auth:  {auth.describe(settings)}")
        if settings.auth_issuer and not settings.auth_jwks_url:
            print(f"auth:  JWKS discovered: {auth.discover_jwks_url(settings.auth_issuer)}")
    except MlopsError as err:
        print(f"auth:  misconfigured: {err}")
        auth_ok = False

    app = AppContext.from_settings(settings)
    try:
        app.store.ping()
        print(f"metadata store: ok ({app.store.backend})")
    except MlopsError as err:
        print(f"metadata store: down: {err}")
        return 1
    finally:
        app.close()
    return 0 if auth_ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from mcp_server.demo import main as demo_main

    return demo_main(home=args.home)


def _operator_settings(args: argparse.Namespace, area: str) -> Any:
    """Settings for a CI command: one area, every tool; with no root configured, the current folder
    (the checkout in CI) is the root."""
    settings = build_settings(args)
    update: dict[str, Any] = {"tools": [area], "profile": "all"}
    if not settings.roots:
        update["roots"] = [Path.cwd()]
    settings = settings.model_copy(update=update)
    _setup_logging(settings.log_level)
    return settings


def _call_tool_once(settings: Any, tool: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
    """Run one tool through a real in-process MCP client: (True, structuredContent) or (False, message)."""
    import anyio

    from mcp_server.core.app import create_server

    async def run() -> tuple[bool, Any]:
        from mcp import Client

        server = create_server(settings)
        try:
            async with Client(server, mode="legacy") as client:
                result = await client.call_tool(tool, arguments)
        finally:
            server.app.close()
        if result.is_error:
            text = "".join(getattr(c, "text", "") for c in result.content)
            return False, text.removeprefix(f"Error executing tool {tool}: ")
        return True, result.structured_content

    return anyio.run(run)


def cmd_features(args: argparse.Namespace) -> int:
    """`mlops-mcp features plan|apply FILE`: the features tools for CI; exit 1 when the tool reports an error."""
    settings = _operator_settings(args, "features")
    definitions = str(Path(args.file).expanduser().absolute())
    ok, payload = _call_tool_once(settings, f"features_{args.action}", {"definitions": definitions})
    if not ok:
        print(f"mlops-mcp features {args.action}: {payload}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    marks = {"create": "+", "update": "~", "delete": "-"}
    head = f"project {payload['project']}, version {payload['version'][:12]} ({payload['definitions']})"
    print(f"features {args.action}: {head}")
    for change in payload["changes"]:
        if change["action"] == "unchanged":
            continue
        print(f"  {marks[change['action']]} {change['action']} {change['kind']} {change['name']}")
        for prop in change["changes"]:
            print(f"      {prop['property']}: {prop['current']} -> {prop['desired']}")
    summary = payload["summary"]
    verb = "applied" if payload["applied"] else "to apply"
    print(
        f"  {summary['create']} create, {summary['update']} update, {summary['delete']} delete, "
        f"{summary['unchanged']} unchanged ({verb})"
    )
    for edge in payload.get("lineage", []):
        print(f"  lineage: {edge}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """`mlops-mcp validate DATASET --suite NAME`: the validation_run tool for CI; exit 0 pass, 1 fail, 2 error."""
    settings = _operator_settings(args, "validation")
    arguments = {
        "dataset": str(Path(args.dataset).expanduser().absolute()),
        "suite": args.suite,
        "include_samples": not args.no_samples,
        "limit": 500,
    }
    ok, payload = _call_tool_once(settings, "validation_run", arguments)
    if not ok:
        print(f"mlops-mcp validate: {payload}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        verdict = "PASSED" if payload["success"] else "FAILED"
        print(
            f"validation {verdict}: {payload['dataset']} against {payload['suite']}: "
            f"{payload['evaluated']} expectations, {payload['failed']} failed, {payload['row_count']} rows"
        )
        for r in payload["results"]:
            if r["success"]:
                continue
            where = f" on {r['column']}" if r.get("column") else ""
            if r.get("error"):
                detail = f"error: {r['error']}"
            elif r.get("unexpected_count") is not None:
                detail = f"{r['unexpected_count']} unexpected ({r.get('unexpected_percent') or 0:.3g}%)"
            else:
                detail = f"observed {json.dumps(r.get('observed_value'), default=str)[:120]}"
            print(f"  FAIL {r['type']}{where}: {detail}")
        if payload.get("report_uri"):
            print(f"  report: {payload['report_uri']} (result {payload['result_id']})")
    return 0 if payload["success"] else 1


def cmd_test_model(args: argparse.Namespace) -> int:
    """The model gate: evaluation_test_model's code path; exit 0 if every check passes, 1 if one fails."""
    from pydantic import TypeAdapter, ValidationError

    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.errors import InvalidInput
    from mcp_server.tools.evaluation.models import Check
    from mcp_server.tools.evaluation.service import model_test

    settings = build_settings(args)
    _setup_logging(settings.log_level)
    try:
        raw = json.loads(Path(args.checks).read_text()) if args.checks else []
        checks = TypeAdapter(list[Check]).validate_python(raw)
    except (OSError, ValueError, ValidationError) as err:
        first = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err).splitlines()[0]
        raise InvalidInput(f"The checks file is not a valid list of checks: {first}.") from None
    app = AppContext.from_settings(settings)
    try:
        control = Control.unbounded("test-model")
        result = model_test(app, control, args.model, args.dataset, args.target, list(checks))
    finally:
        app.close()
    print(result.model_dump_json(indent=2))
    for check in result.checks:
        mark = "skip" if check.skipped else ("ok  " if check.passed else "FAIL")
        print(f"[{mark}] {check.type}: {check.name}: {check.detail}", file=sys.stderr)
    print(f"test-model: {'passed' if result.passed else 'FAILED'}: {result.summary}", file=sys.stderr)
    return 0 if result.passed else 1


def cmd_gateway(args: argparse.Namespace) -> int:
    """`mlops-mcp gateway`: serve the deployed endpoints over HTTP (routing table from the metadata store)."""
    from mcp_server.gateway.server import run

    settings = build_settings(args)
    _setup_logging(settings.log_level)
    run(
        settings,
        args.host,
        args.port,
        routes_file=Path(args.routes).resolve() if args.routes else None,
        parent_pid=args.parent_pid,
    )
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """`mlops-mcp health check|watch`: the health probes for cron, systemd or a container."""
    import anyio

    from mcp_server.core import health_watch

    settings = build_settings(args)
    _setup_logging(settings.log_level)
    notify = None
    if args.action == "watch":
        if args.once and args.interval is None:
            args.interval = 0.0
        elif args.interval is None or args.interval <= 0:
            print(
                "mlops-mcp health watch: --interval S (seconds, > 0) or --once is required.", file=sys.stderr
            )
            return 2
        if args.alert_webhook:
            notify = health_watch.webhook_notifier(args.alert_webhook, settings.url_allowlist)
        elif args.alert_command:
            notify = health_watch.command_notifier(args.alert_command)
    app = health_watch.build_app(settings)

    def show(report: Any, alerts: list[Any]) -> None:
        if args.json:
            print(report.model_dump_json(), flush=True)
        else:
            marks = " ".join(f"{b.name}={b.status}({b.latency_ms:g}ms)" for b in report.backends)
            print(f"{report.checked_at} {report.status}: {marks}", flush=True)
            for b in report.backends:
                if b.status == "down" and args.action == "check":
                    print(f"  {b.name}: {b.detail}. Fix: {b.fix}", flush=True)
        for alert in alerts:
            print(f"ALERT {alert.summary}", file=sys.stderr, flush=True)

    try:
        if args.action == "check":
            from mcp_server.core.server_tools import run_health

            report = anyio.run(run_health, app, "watch")
            show(report, [])
            return 0 if report.status == "ok" else 1
        count = 1 if args.once else args.count
        anyio.run(
            lambda: health_watch.watch(
                app, args.interval, notify, count=count, threshold_ms=args.latency_threshold_ms, on_tick=show
            )
        )
    finally:
        app.close()
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """`mlops-mcp backup create|verify|prune|restore`: the backup tools for cron; exit 1 when verify fails."""
    settings = build_settings(args)
    settings = settings.model_copy(update={"tools": ["backup"], "profile": "all", "read_only": False})
    _setup_logging(settings.log_level)
    if args.action == "create":
        tool, arguments = "backup_create", {"scope": args.scope or ["all"]}
    elif args.action == "verify":
        tool, arguments = "backup_verify", {"id": args.id or "latest"}
    elif args.action == "prune":  # the operator's command is the confirmation it needs (core/confirm.py)
        tool = "backup_prune"
        arguments = {"keep_last": args.keep_last, "keep_daily": args.keep_daily, "confirm": True}
    else:
        arguments = {"id": args.id or "latest", "target": args.target, "confirm": True}  # as for prune
        if args.new_home:
            arguments["new_home"] = args.new_home
        store_url = os.environ.get("MLOPS_MCP_RESTORE_STORE_URL")
        if store_url:
            arguments["store_url"] = store_url
        tool = "backup_restore"
    ok, payload = _call_tool_once(settings, tool, arguments)
    if not ok:
        print(f"mlops-mcp backup {args.action}: {payload}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    elif args.action == "create":
        print(
            f"backup {payload['id']}: {payload['members']} files, {payload['bytes']} bytes ({payload['path']})"
        )
        for e in payload["not_included"]:
            print(f"  not included: {e['what']}: {e['why']}")
    elif args.action == "verify":
        print(
            f"backup {payload['id']}: {'ok' if payload['ok'] else 'FAILED'} ({payload['checked']} members read)"
        )
        for p in payload["problems"]:
            print(f"  {p['member']}: {p['problem']}")
    elif args.action == "prune":
        print(
            f"kept {len(payload['kept'])}, deleted {len(payload['deleted'])} ({payload['freed_bytes']} bytes)"
        )
    else:
        print(f"restored {payload['id']} into {payload['home']} ({', '.join(payload['parts'])})")
        for note in payload["notes"]:
            print(f"  {note}")
    return 1 if args.action == "verify" and not payload["ok"] else 0


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
    backup = sub.add_parser("backup", help="create, verify, prune or restore backups (for cron)")
    backup.add_argument("action", choices=["create", "verify", "prune", "restore"])
    backup.add_argument("id", nargs="?", help="verify/restore: the backup id (default: the newest)")
    _add_server_flags(backup)
    backup.add_argument(
        "--scope",
        action="append",
        choices=["all", "metadata", "models", "suites", "features", "lake"],
        help="create: what to back up (repeatable; default all; lake only when given)",
    )
    backup.add_argument("--keep-last", type=int, default=7, help="prune: newest backups to keep")
    backup.add_argument("--keep-daily", type=int, default=7, help="prune: keep the newest of each of N days")
    backup.add_argument(
        "--target", choices=["new_home", "in_place"], default="new_home", help="restore target"
    )
    backup.add_argument("--new-home", help="restore: folder name of the new home (beside the home)")
    backup.add_argument("--json", action="store_true", help="print the tool's JSON result")
    backup.set_defaults(func=cmd_backup)

    health = sub.add_parser("health", help="run the health probes once (check) or on an interval (watch)")
    health.add_argument("action", choices=["check", "watch"], help="check: once, exit 1 if one is down")
    _add_server_flags(health)
    health.add_argument("--interval", type=float, help="watch: seconds between runs")
    alert = health.add_mutually_exclusive_group()
    alert.add_argument("--alert-webhook", help="watch: POST alerts as JSON here (host on the URL allowlist)")
    alert.add_argument("--alert-command", help="watch: run this program per alert (argument list, no shell)")
    health.add_argument("--latency-threshold-ms", type=float, help="watch: alert when latency crosses this")
    health.add_argument("--count", type=int, help="watch: stop after this many runs (default: forever)")
    health.add_argument("--once", action="store_true", help="watch: one run (for cron); alerts on changes")
    health.add_argument("--json", action="store_true", help="print each run as JSON")
    health.set_defaults(func=cmd_health)

    gateway = sub.add_parser("gateway", help="run the model-serving gateway (deploy endpoints over HTTP)")
    _add_server_flags(gateway)
    gateway.add_argument("--host", help="bind address (default 127.0.0.1; non-loopback needs a token)")
    gateway.add_argument("--port", type=int, help="port (default MLOPS_MCP_GATEWAY_PORT or 8780)")
    gateway.add_argument("--routes", help="serve a fixed routes.json instead of the store (container images)")
    gateway.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # managed: exit with the server
    gateway.set_defaults(func=cmd_gateway)

    test_model = sub.add_parser(
        "test-model", help="run a model test suite (evaluation_test_model); exit 1 if a check fails"
    )
    _add_server_flags(test_model)
    test_model.add_argument("--model", required=True, help="run id or name, runs:/<id>/model or models:/...")
    test_model.add_argument("--dataset", required=True, help="table inside the workspace")
    test_model.add_argument("--target", required=True, help="the label column")
    test_model.add_argument(
        "--checks", required=True, help="JSON file: a list of checks (see docs/evaluation.md)"
    )
    test_model.set_defaults(func=cmd_test_model)

    validate = sub.add_parser("validate", help="validate a dataset against a saved GX suite (CI data gate)")
    validate.add_argument("dataset", help="CSV, Parquet or JSON(L) file (inside --root; default root: .)")
    validate.add_argument("--suite", required=True, help="suite name (latest version) or name@N")
    _add_server_flags(validate)
    validate.add_argument("--json", action="store_true", help="print the tool's JSON result")
    validate.add_argument("--no-samples", action="store_true", help="leave failing values out of the output")
    validate.set_defaults(func=cmd_validate)

    features = sub.add_parser("features", help="plan or apply a feature definitions file (for CI)")
    features.add_argument("action", choices=["plan", "apply"], help="plan shows the diff; apply registers it")
    features.add_argument("file", help="the definitions file (YAML)")
    _add_server_flags(features)
    features.add_argument("--json", action="store_true", help="print the tool's JSON result")
    features.set_defaults(func=cmd_features)

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
