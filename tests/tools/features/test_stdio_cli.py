"""The features area over a real stdio server (stdout carries JSON-RPC only while Feast prints) and the
`mlops-mcp features plan|apply FILE` commands CI runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mcp_server.cli import main as cli_main
from tests.conftest import PYTHON, server_env
from tests.tools.features.helpers import FEATURES, latest, write_workspace


def _rpc(id_: int | None, method: str, params: dict[str, Any] | None = None) -> str:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        msg["id"] = id_
    if params is not None:
        msg["params"] = params
    return json.dumps(msg) + "\n"


@pytest.mark.slow
def test_stdio_apply_materialize_online_keeps_stdout_jsonrpc(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = write_workspace(home / "workspace", "stdio")
    end = "2024-06-01T00:00:00Z"
    calls = {
        3: ("features_apply", {"definitions": "features.yaml"}),
        4: ("features_materialize", {"start": "2023-12-01T00:00:00Z", "end": end, "views": ["player_form"]}),
        5: ("features_get_online", {"features": ["player_form"], "entity_rows": [{"player_id": 3}]}),
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "mcp_server", "serve", "--profile", "all"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(home),
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    raw: list[str] = []

    def ask(id_: int, method: str, params: dict[str, Any]) -> None:
        # One request at a time: the server runs concurrent calls concurrently, these depend on each other.
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(_rpc(id_, method, params))
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()  # the test's own timeout bounds a hang
            if not line:
                return
            raw.append(line)
            if json.loads(line).get("id") == id_:
                return

    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "features-stdio", "version": "0"},
    }
    ask(1, "initialize", init)
    proc.stdin.write(_rpc(None, "notifications/initialized"))
    ask(2, "tools/list", {})
    for i, (name, args) in calls.items():
        ask(i, "tools/call", {"name": name, "arguments": args})
    proc.stdin.close()
    raw.extend(proc.stdout.read().splitlines())
    stderr = proc.stderr.read()
    proc.wait(60)

    messages = [json.loads(line) for line in raw if line.strip()]  # raises on any non-JSON line
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages if "id" in m}
    assert set(by_id) == {1, 2, 3, 4, 5}, stderr[-2000:]
    for i in (3, 4, 5):
        assert by_id[i]["result"]["isError"] is False, by_id[i]
    online = by_id[5]["result"]["structuredContent"]["rows"][0]
    want = latest(data["games"], "game_time", pd.Timestamp("2023-12-01", tz="UTC"), pd.Timestamp(end)).loc[3]
    for f in FEATURES:
        assert abs(online[f] - float(want[f])) < 1e-5
    # Feast did print its progress: it went to stderr.
    assert "Materializing" in stderr


def test_cli_plan_then_apply_and_exit_codes(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    checkout = tmp_path / "checkout"
    write_workspace(checkout, "ci")
    home = tmp_path / "home"
    monkeypatch.chdir(checkout)  # CI runs in the checkout: with no --root it is the root

    assert cli_main(["features", "plan", "features.yaml", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "+ create feature_view player_form" in out and "(to apply)" in out

    assert cli_main(["features", "apply", "features.yaml", "--home", str(home), "--json"]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert applied["applied"] is True and applied["project"] == "ci"
    assert any("featureview:ci/player_form" in e for e in applied["lineage"])

    assert cli_main(["features", "plan", "features.yaml", "--home", str(home)]) == 0
    assert "0 create, 0 update, 0 delete" in capsys.readouterr().out

    (checkout / "bad.yaml").write_text((checkout / "features.yaml").read_text().replace("ttl: 3d", "tll: 3d"))
    assert cli_main(["features", "apply", "bad.yaml", "--home", str(home)]) == 1
    assert "Unknown key 'tll'" in capsys.readouterr().err
