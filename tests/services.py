"""Real back-end services on 127.0.0.1 for the tests that talk to them: a PostgreSQL database of the test's own,
an `mlflow server`, moto's S3 server, and the clean-up of a Feast project's keys in the local Redis.

Each is a context manager that yields once the service answers and leaves nothing behind on exit.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import third_party_env

# The local PostgreSQL the tests use (another with MLOPS_MCP_TEST_POSTGRES_URL), and how to start it.
PG_URL = os.environ.get("MLOPS_MCP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new database `<prefix>_<random>` on the local PostgreSQL (parallel runs never share
    one), dropped on exit. Skips with MLOPS_MCP_SKIP_POSTGRES=1; fails with how to start the server when
    it does not answer."""
    import pytest
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    if os.environ.get("MLOPS_MCP_SKIP_POSTGRES") == "1":
        pytest.skip("MLOPS_MCP_SKIP_POSTGRES=1")
    admin = create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 3}
    )
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({exc.orig}); start it with `{PG_START}`", pytrace=False)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def mlflow_server(data: Path, timeout: float = 120.0, port: int | None = None) -> Iterator[str]:
    """`mlflow server` on `port` (default: a free one) of 127.0.0.1 (SQLite backend and proxied artifacts
    under `data`, its log in <data>/server.log); yields its URL once /health answers, terminated on exit."""
    import httpx

    port = port or free_port()
    data.mkdir(parents=True, exist_ok=True)
    # MLflow's own server (and its uvicorn and job workers): not measured for coverage, it runs none of ours.
    env = third_party_env(MLFLOW_DISABLE_TELEMETRY="true")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            "--artifacts-destination",
            str(data / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=data,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"mlflow server exited: {(data / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"mlflow server did not answer /health within {timeout:g} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED")


@contextmanager
def moto_s3(*buckets: str, secret: str) -> Iterator[str]:
    """moto's server mode on 127.0.0.1, a real HTTP S3 endpoint (no in-process patching), with `buckets`
    made; yields its URL. While it runs this process's AWS_* variables hold its fake keys (`secret` is the
    secret key, for tests that check it never shows); a server process needs them passed (`s3_env`)."""
    import boto3
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(s3_env(secret))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def s3_env(secret: str) -> dict[str, str]:
    """The AWS_* variables of moto's fake keys, for this process or a server's environment."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def enter_together(stack: ExitStack, *managers: AbstractContextManager[Any]) -> list[Any]:
    """Enter `managers` at once, each in a thread (services that take seconds to answer start side by side),
    their exits pushed on `stack`; what each yields, in order. The first error is raised once all are in."""
    entered: list[Any] = [None] * len(managers)
    errors: list[BaseException] = []

    def enter(i: int, manager: AbstractContextManager[Any]) -> None:
        try:
            entered[i] = stack.enter_context(manager)
        except BaseException as exc:  # raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=enter, args=(i, m)) for i, m in enumerate(managers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return entered


def redis_clean(project: str, url: str = REDIS_URL) -> None:
    """Delete a Feast project's keys from the Redis online store (they end with the project's name)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    keys = list(client.scan_iter(match=b"*" + project.encode(), count=1000))
    if keys:
        client.delete(*keys)
    client.close()
