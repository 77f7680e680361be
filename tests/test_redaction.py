"""Issue #22 item 8: one redaction (core/store/redact.py mask_text) on every text that leaves the process or
is stored: tool errors, audit rows, log lines on stderr, health alerts."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.store.redact import RedactingFilter, install_log_redaction, mask_text, redact
from tests.conftest import PYTHON, assert_tool_error, server_env, text_of

SECRET_PATHS = ("s3:/user:secret123@host/x.csv", "s3://user:secret123@host/x.csv")


# ---- the function ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("s3:/user:secret123@host/x.csv", "s3:/user:***@host/x.csv"),
        ("s3://user:secret123@host/x.csv", "s3://user:***@host/x.csv"),
        ("s3:///user:secret123@host/x.csv", "s3:///user:***@host/x.csv"),
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
        ("mongodb://u:p%40ss@h1,h2/db?authSource=admin", "mongodb://u:***@h1,h2/db?authSource=admin"),
        ("No file at '/w/s3:/user:secret123@host/x.csv'.", "No file at '/w/s3:/user:***@host/x.csv'."),
        ("registry/u:pw123@x", "registry/u:***@x"),
        ("registry.example.com/team/u:pw123@x:1", "registry.example.com/team/u:***@x:1"),
        ("connect to u:pw123@db.local:5432", "connect to u:***@db.local:5432"),
        ("host=h password=hunter2 dbname=x", "host=h password=*** dbname=x"),
        ("https://h/x?token=abc123&page=2", "https://h/x?token=***&page=2"),
        ("secret = abc", "secret = ***"),
        ("api_key=abc", "api_key=***"),
        ("Authorization: Bearer eyJhbGciOi1.eyJzdWIi.sig-9", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwdw==", "Authorization: ***"),
        ("sent Bearer s3cr3t-t0ken-value", "sent Bearer ***"),
        (
            "No lineage for 'dataset:user:pw123@host/x.csv@abc123'",
            "No lineage for 'dataset:user:***@host/x.csv@abc123'",
        ),
    ],
)
def test_secrets_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert mask_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "dataset:iris@abc123",
        "dataset:home:data/iris.csv@abc123def456",
        "dataset:home:iris.csv@abc123def456",
        "dataset:s3://bucket/iris.csv@abc123def456",
        "suite:churn_suite@3",
        "model@2",
        "model:churn/2",
        "a:b",
        "churn-gateway:3",
        "registry:5000/team/churn:1",
        "python:3.11-slim@sha256:" + "ab" * 32,
        "mail ops@example.com",
        "see http://host:8080/path and http://[::1]:80/",
        "a non-loopback bind needs a bearer token; set MLOPS_MCP_TOKEN.",
        "token budget exceeded",
    ],
)
def test_non_secrets_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_redact_masks_nested_argument_strings() -> None:
    out = redact({"path": SECRET_PATHS[0], "tags": ["registry/u:pw123@x"], "token": "t"})
    assert "secret123" not in str(out) and "pw123" not in str(out) and out["token"] == "***"


def test_the_log_filter_masks_message_arguments_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(logging.Formatter("%(message)s").format(record))

    logger = logging.getLogger("tests.redaction")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("opening %s", SECRET_PATHS[1])
        try:
            raise RuntimeError("connect to postgresql://u:secret123@db/x failed")
        except RuntimeError:
            logger.exception("crash with password=%s", "secret123")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert len(records) == 2 and "RuntimeError" in records[1]
    assert all("secret123" not in r for r in records), records


def test_health_alerts_are_masked(settings: Settings) -> None:
    import anyio

    from mcp_server.core.context import AppContext
    from mcp_server.core.health_watch import Watcher

    async def leaky(app: object) -> tuple[bool, str, str]:
        return False, "cannot reach postgresql://u:secret123@db:5432/x", "check token=secret123"

    app = AppContext.from_settings(settings)
    app.probes["leaky"] = leaky
    try:
        _report, alerts = anyio.run(Watcher(app).tick)
    finally:
        app.close()
    (alert,) = [a for a in alerts if a.component == "leaky"]
    assert alert.event == "down"
    assert "secret123" not in alert.summary and "secret123" not in str(alert)


# ---- at the boundaries, through a real MCP client -------------------------------------------------


def _stored_bytes(home: Path) -> bytes:
    raw = b""
    for name in ("metadata.db", "metadata.db-wal"):
        if (home / name).exists():
            raw += (home / name).read_bytes()
    return raw


async def test_a_url_password_in_a_path_is_masked_in_the_error_and_the_audit_row(settings: Settings) -> None:
    pytest.importorskip("pyarrow")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        for path in SECRET_PATHS:
            result = await client.call_tool("lake_convert", {"path": path})
            message = assert_tool_error(result)
            # "s3://..." is refused as a URL, "s3:/..." as a path holding a credential.
            assert "is a URL" in message if "://" in path else "user:password@ credential" in message
            assert "secret123" not in message
            with anyio.fail_after(1):  # the server still answers at once
                assert not (await client.call_tool("server_info", {})).is_error
    rows = server.app.store.audit_entries(tool="lake_convert", limit=10)
    server.app.close()
    assert len(rows) == 2 and all(r.outcome == "error" for r in rows)
    for row in rows:
        assert "secret123" not in row.args_redacted and "user:***@host" in row.args_redacted
        assert row.error and "secret123" not in row.error
    assert b"secret123" not in _stored_bytes(settings.home)


async def test_a_password_in_an_image_tag_is_neither_stored_nor_returned(settings: Settings) -> None:
    pytest.importorskip("docker")
    from tests.tools.deploy.engine_standin import EngineStandIn

    with EngineStandIn() as engine:
        server = create_server(settings.model_copy(update={"docker_host": engine.url}))
        async with Client(server, mode="legacy") as client:
            result = await client.call_tool(
                "deploy_build_image", {"model": "churn", "version": "1", "tag": "registry/u:pw123@x"}
            )
        rows = server.app.store.audit_entries(tool="deploy_build_image", limit=10)
        server.app.close()
        calls = list(engine.calls)
    assert result.is_error and "pw123" not in text_of(result)
    assert calls == []  # nothing was built or pushed with it
    (row,) = rows
    assert "pw123" not in row.args_redacted and "registry/u:***@x" in row.args_redacted
    assert "pw123" not in (row.error or "")
    stored = [p for p in settings.home.rglob("*") if p.is_file() and b"pw123" in p.read_bytes()]
    assert stored == []


async def test_the_servers_stderr_never_shows_the_password(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    errlog = tmp_path / "stderr.log"
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--profile", "all"],
        # DEBUG: the SDK logs each incoming message, arguments included.
        env=server_env(tmp_path / "home", MLOPS_MCP_LOG_LEVEL="DEBUG"),
        cwd=str(tmp_path),
    )
    from mcp.client.stdio import stdio_client

    with errlog.open("w") as err:
        async with Client(stdio_client(params, errlog=err), mode="legacy") as client:
            for path in SECRET_PATHS:
                assert "secret123" not in assert_tool_error(
                    await client.call_tool("lake_convert", {"path": path})
                )
    text = errlog.read_text()
    assert "lake_convert" in text, text[-2000:]  # the calls were logged
    assert "secret123" not in text, [line for line in text.splitlines() if "secret123" in line][:3]


def test_the_servers_logging_setup_masks_every_line(tmp_path: Path) -> None:
    """What `mlops-mcp serve` installs (cli._setup_logging): a raw secret logged by any library is masked."""
    import subprocess

    script = (
        "import logging\n"
        "from mcp_server.cli import _setup_logging\n"
        "_setup_logging('INFO')\n"
        "logging.getLogger('some.library').warning('opening %s', 's3:/user:secret123@host/x.csv')\n"
        "try:\n"
        "    raise ValueError('token=secret123')\n"
        "except ValueError:\n"
        "    logging.getLogger('mlops_mcp').exception('crash')\n"
        # The HTTP transport's uvicorn, configured as run_http does: its loggers reach the same handlers.
        "from mcp_server.core.app import uvicorn_config\n"
        "uvicorn_config(None, '127.0.0.1', 1).configure_logging()\n"
        "logging.getLogger('uvicorn.error').error('bad request from %s', 'postgresql://u:secret123@db/x')\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", script],
        capture_output=True,
        text=True,
        env=server_env(tmp_path / "home"),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "user:***@host" in done.stderr and "token=***" in done.stderr and "u:***@db" in done.stderr
    assert "secret123" not in done.stderr, done.stderr
