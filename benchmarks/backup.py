"""Backup cost: backup_create (write lock, online SQLite snapshots, SHA-256 per member, manifest) and backup_verify
against a plain `tar czf` of the same home, measured in the same run.

Prints one JSON line: figure, value (backup_create seconds), baseline (tarfile w:gz seconds), ratio, unit, and
the verify time and the time writers waited for the snapshot.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from mcp_server.core.boundary import Control
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from mcp_server.core.lineage import record_edge
from mcp_server.tools.backup import service


def build_home(home: Path, edges: int, artifact_mb: int) -> AppContext:
    app = AppContext.from_settings(Settings(home=home))
    app.store.ensure_ready()
    for i in range(edges):
        record_edge(app.store, f"dataset:d{i}@aaaaaaaaaaaa", f"run:r{i}", "trained")
    con = sqlite3.connect(home / "mlflow.db")  # an MLflow-sized SQLite file stands in for runs
    con.execute("CREATE TABLE t (x BLOB)")
    con.executemany("INSERT INTO t VALUES (?)", [(np.random.bytes(4096),) for _ in range(2000)])
    con.commit()
    con.close()
    rng = np.random.default_rng(0)
    for i in range(artifact_mb):
        d = home / "mlartifacts" / "1" / f"run{i}" / "artifacts" / "model"
        d.mkdir(parents=True)
        # Half-compressible bytes, like serialized models.
        (d / "model.skops").write_bytes(rng.integers(0, 16, 1 << 20, dtype=np.uint8).tobytes())
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=2000)
    parser.add_argument("--artifact-mb", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        app = build_home(home, args.edges, args.artifact_mb)
        try:
            started = time.perf_counter()
            created = service.create(app, Control.unbounded(), ["all"])
            create_s = time.perf_counter() - started
            started = time.perf_counter()
            verified = service.verify(app, Control.unbounded(), created.id)
            verify_s = time.perf_counter() - started
            assert verified.ok
            started = time.perf_counter()
            with tarfile.open(Path(tmp) / "plain.tar.gz", "w:gz", compresslevel=6) as tar:
                for name in ("metadata.db", "mlflow.db", "mlartifacts"):
                    tar.add(home / name, arcname=name)
            tar_s = time.perf_counter() - started
        finally:
            app.close()
    print(
        json.dumps(
            {
                "figure": "backup_create seconds vs tar czf of the same home",
                "value": round(create_s, 3),
                "baseline": round(tar_s, 3),
                "ratio": round(create_s / tar_s, 3),
                "unit": "s",
                "verify_s": round(verify_s, 3),
                "writers_waited_ms": created.locked_ms,
                "archive_bytes": created.bytes,
                "artifact_mb": args.artifact_mb,
            }
        )
    )


if __name__ == "__main__":
    main()
