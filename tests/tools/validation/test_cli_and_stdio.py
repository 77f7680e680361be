"""`mlops-mcp validate` exit codes, and one run of the area over a real stdio server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mcp import Client, StdioServerParameters

from mcp_server import cli
from mcp_server.tools.validation import adapter
from tests.conftest import PYTHON, REPO, server_env
from tests.tools.validation.conftest import people, write

SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 18, "max_value": 80},
    },
]


def test_validate_exits_0_on_good_data_1_on_bad_2_on_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    adapter.GxEngine(home).create_suite("gate", SUITE)
    data = tmp_path / "repo" / "data"
    good = people(200)
    bad = good.copy()
    bad.loc[[1, 2, 3], "income"] = np.nan
    write(good, data / "good.csv")
    write(bad, data / "bad.parquet")
    monkeypatch.chdir(tmp_path / "repo")  # the checkout: the default root of the command

    assert cli.main(["validate", "data/good.csv", "--suite", "gate", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "validation PASSED" in out and "gate@1" in out

    assert cli.main(["validate", "data/bad.parquet", "--suite", "gate@1", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert "validation FAILED" in out
    assert "FAIL expect_column_values_to_not_be_null on income: 3 unexpected" in out

    assert cli.main(["validate", "data/bad.parquet", "--suite", "gate", "--home", str(home), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["failed"] == 1 and payload["results"][0]["unexpected_count"] == 3

    assert cli.main(["validate", "data/missing.csv", "--suite", "gate", "--home", str(home)]) == 2
    assert "missing.csv" in capsys.readouterr().err
    assert cli.main(["validate", "data/good.csv", "--suite", "nope", "--home", str(home)]) == 2
    assert "No suite named 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main(["validate", "data/good.csv"])  # --suite is required
    assert usage.value.code == 2


@pytest.mark.slow
async def test_stdio_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(people(100), home / "workspace" / "p.csv")
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--profile", "all", "--tools", "validation"],
        env=server_env(home),
        cwd=str(REPO),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"validation_run", "validation_create_suite", "validation_check_integrity"} <= names
        saved = await client.call_tool("validation_create_suite", {"name": "smoke", "expectations": SUITE})
        assert not saved.is_error
        run = await client.call_tool("validation_run", {"dataset": "p.csv", "suite": "smoke"})
        assert not run.is_error and run.structured_content is not None
        assert run.structured_content["success"] is True and run.structured_content["evaluated"] == 2
        bad = await client.call_tool("validation_run", {"dataset": "p.csv", "suite": "smoke@2"})
        assert bad.is_error
