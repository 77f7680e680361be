"""Every features tool through an MCP client, on the SQLite and on the Redis online store.

One server per online store for the whole module (Feast is slow to import and to start); each store gets
its own project name so Redis runs never collide, and the Redis keys of the project are deleted after.
Expected numbers come from pandas (tests/tools/features/helpers.py), never from the code under test.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.services import redis_clean
from tests.tools.features.helpers import FEATURES, START, TTL, latest, point_in_time, write_workspace

REDIS_URL = "redis://127.0.0.1:6379/0"

# The module walks one feature repo from init to apply, materialize and serving, in file order, once per
# online store (building a Feast repo per test would cost more than the tests): its tests stay together on
# one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("features")


@dataclass
class Env:
    client: Client
    settings: Settings
    project: str
    store: str
    data: dict[str, pd.DataFrame]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    store = request.param
    home = tmp_path_factory.mktemp(f"features-{store}") / "home"
    settings = Settings(home=home, profile="all", feast_online_store=store)
    project = f"t_{store}_{uuid.uuid4().hex[:8]}"
    data = write_workspace(settings.workspace_dir, project)
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            yield Env(client, settings, project, store, data)
    finally:
        server.app.close()
        if store == "redis":
            redis_clean(project, REDIS_URL)


async def call(env: Env, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    return structured(await env.client.call_tool(tool, args))


def _close(a: Any, b: Any) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)


# The tests of one module run in file order: init -> plan -> apply -> ... (state builds up per store).


async def test_init_creates_the_home_repo(env: Env) -> None:
    data = await call(env, "features_init", {"project": env.project})
    assert data["created"] is True and data["attached"] is False
    assert data["project"] == env.project
    assert data["online_store"] == env.store
    assert (data["provider"], data["offline_store"]) == ("local", "file")
    assert (env.settings.home / "feature_repo" / "feature_store.yaml").is_file()
    again = await call(env, "features_init", {})
    assert again["created"] is False and again["project"] == env.project


async def test_plan_shows_creates_and_changes_nothing(env: Env) -> None:
    data = await call(env, "features_plan", {"definitions": "features.yaml"})
    assert data["applied"] is False and data["project"] == env.project
    created = {(c["kind"], c["name"]) for c in data["changes"] if c["action"] == "create"}
    assert {
        ("entity", "player"),
        ("data_source", "player_games"),
        ("feature_view", "player_form"),
        ("feature_view", "player_profile"),
        ("feature_service", "player_model_v1"),
    } <= created
    import hashlib

    sha = hashlib.sha256((env.settings.workspace_dir / "features.yaml").read_bytes()).hexdigest()
    assert data["version"] == sha
    listed = await call(env, "features_list", {"project": env.project})
    assert listed["total"] == 0


async def test_apply_registers_tags_the_version_and_records_lineage(env: Env) -> None:
    data = await call(env, "features_apply", {"definitions": "features.yaml"})
    assert data["applied"] is True and data["summary"]["create"] >= 5
    assert any(e.endswith(f"featureview:{env.project}/player_form") for e in data["lineage"])
    assert any("player_games.parquet@" in e for e in data["lineage"])
    # Applying the same file again changes nothing.
    plan = await call(env, "features_plan", {"definitions": "features.yaml"})
    assert plan["summary"]["create"] == plan["summary"]["update"] == plan["summary"]["delete"] == 0

    lineage = await _lineage_edges(env, f"featureview:{env.project}/player_form")
    assert any(up.startswith("dataset:") and "player_games.parquet@" in up for up, _ in lineage)


async def _lineage_edges(env: Env, node: str) -> list[tuple[str, str]]:
    import anyio.to_thread

    from mcp_server.core.lineage import query_lineage
    from mcp_server.core.store import MetadataStore

    def read() -> list[tuple[str, str]]:
        store = MetadataStore.for_home(env.settings.home, None)
        try:
            graph = query_lineage(store, node, "both", 2)
            return [(e.upstream, e.downstream) for e in graph.edges]
        finally:
            store.dispose()

    return await anyio.to_thread.run_sync(read)


async def test_list_and_describe(env: Env) -> None:
    views = await call(env, "features_list", {"kind": "feature_view"})
    names = {i["name"] for i in views["items"]}
    assert names == {"player_form", "player_profile"}
    assert all(i["project"] == env.project and len(i["version"]) == 64 for i in views["items"])
    page = await call(env, "features_list", {"limit": 2})
    assert len(page["items"]) == 2 and page["total"] >= 6 and page["next_cursor"]

    form = await call(env, "features_describe", {"name": "player_form"})
    assert form["kind"] == "feature_view" and form["ttl_seconds"] == 3 * 86400
    assert [f["name"] for f in form["features"]] == FEATURES
    assert form["join_keys"] == ["player_id"]
    assert form["source"]["path"] == "data/player_games.parquet"
    assert form["source"]["timestamp_field"] == "game_time"
    svc = await call(env, "features_describe", {"name": "player_model_v1"})
    assert svc["kind"] == "feature_service"
    assert {f["name"] for f in svc["features"]} == {
        *(f"player_form:{f}" for f in FEATURES),
        "player_profile:team",
    }
    ent = await call(env, "features_describe", {"name": "player"})
    assert (ent["kind"], ent["join_keys"], ent["value_type"]) == ("entity", ["player_id"], "int64")
    assert_tool_error(await env.client.call_tool("features_describe", {"name": "nope"}), "nope")


MID = START + pd.Timedelta(days=45)


async def test_materialize_window_then_incremental_serves_the_latest_values(env: Env) -> None:
    games = env.data["games"]
    first = await call(
        env,
        "features_materialize",
        {"start": "2023-12-01T00:00:00Z", "end": MID.isoformat(), "views": ["player_form"]},
    )
    assert first["mode"] == "window" and [v["name"] for v in first["views"]] == ["player_form"]
    rows = [{"player_id": p} for p in range(1, 33)]
    online = await call(env, "features_get_online", {"features": ["player_form"], "entity_rows": rows})
    expected = latest(games, "game_time", pd.Timestamp("2023-12-01", tz="UTC"), MID)
    _check_online(online, expected, FEATURES)
    assert online["missing"] == 2  # players 31 and 32 never played

    # Incremental: from the last end (MID) to now, per view, with progress.
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    result = await env.client.call_tool("features_materialize", {}, progress_callback=on_progress)
    inc = structured(result)
    assert inc["mode"] == "incremental"
    by_name = {v["name"]: v for v in inc["views"]}
    assert set(by_name) == {"player_form", "player_profile"}
    assert pd.Timestamp(by_name["player_form"]["start"]) == MID
    assert progress and progress[-1][0] == progress[-1][1] == 2
    online = await call(env, "features_get_online", {"features": ["player_form"], "entity_rows": rows})
    expected = latest(games, "game_time", pd.Timestamp("2023-12-01", tz="UTC"), pd.Timestamp.now(tz="UTC"))
    _check_online(online, expected, FEATURES)


def _check_online(online: dict[str, Any], expected: pd.DataFrame, features: list[str]) -> None:
    assert online["features"] == features
    for row in online["rows"]:
        pid = row["player_id"]
        for f in features:
            want = float(expected.loc[pid, f]) if pid in expected.index else None
            assert _close(row[f], want), (pid, f, row[f], want)


async def test_online_through_a_feature_service(env: Env) -> None:
    profiles = env.data["profiles"]
    # player_profile has ttl 0, so the incremental run above started at now - 52 weeks and found
    # nothing from 2024: materialize it over an explicit window.
    end = pd.Timestamp.now(tz="UTC").floor("s")
    await call(
        env,
        "features_materialize",
        {"start": "2023-12-01T00:00:00Z", "end": end.isoformat(), "views": ["player_profile"]},
    )
    online = await call(
        env,
        "features_get_online",
        {
            "feature_service": "player_model_v1",
            "entity_rows": [{"player_id": 1}, {"player_id": 7}, {"player_id": 40}],
            "full_feature_names": True,
        },
    )
    assert set(online["features"]) == {*(f"player_form__{f}" for f in FEATURES), "player_profile__team"}
    want = latest(profiles, "updated_at", pd.Timestamp("2023-12-01", tz="UTC"), end)
    assert [r["player_id"] for r in online["rows"]] == [1, 7, 40]
    for row in online["rows"][:2]:
        assert row["player_profile__team"] == want.loc[row["player_id"], "team"]
    assert online["rows"][2]["player_profile__team"] is None and online["missing"] == 1


async def test_historical_is_point_in_time_correct_row_by_row(env: Env) -> None:
    games, profiles, entities = env.data["games"], env.data["profiles"], env.data["entities"]
    out = f"training_{env.store}.parquet"
    data = await call(
        env,
        "features_get_historical",
        {
            "entity_dataset": "entities.parquet",
            "features": ["player_form", "player_profile:team", "player_profile:height_cm"],
            "output": out,
        },
    )
    assert data["rows"] == len(entities)
    assert data["features"] == [*FEATURES, "team", "height_cm"]
    assert data["dataset"].startswith("dataset:") and data["dataset"].endswith(data["dataset"][-12:])
    assert any(f"featureview:{env.project}/player_form ->" in e for e in data["lineage"])
    assert any("entities.parquet@" in e for e in data["lineage"])

    got = pd.read_parquet(env.settings.workspace_dir / out)
    assert len(got) == len(entities)
    # Same rows, same order, entity columns untouched.
    assert got["player_id"].tolist() == entities["player_id"].tolist()
    assert (pd.to_datetime(got["event_timestamp"], utc=True) == entities["event_timestamp"]).all()
    assert got["label"].tolist() == entities["label"].tolist()

    want_form = point_in_time(entities, games, "game_time", FEATURES, TTL)
    want_profile = point_in_time(entities, profiles, "updated_at", ["team", "height_cm"], None)
    want = pd.concat([want_form, want_profile], axis=1)
    mismatches = []
    for i in range(len(entities)):
        for col in [*FEATURES, "team", "height_cm"]:
            a, b = got.iloc[i][col], want.iloc[i][col]
            a = None if pd.isna(a) else a
            b = None if pd.isna(b) else b
            if not _close(a, b):
                mismatches.append((i, col, a, b))
    assert not mismatches, mismatches[:5]
    # The data covers the edge cases it is meant to: rows with and without values in the window.
    assert 0 < int(want_form["pts_avg_10"].isna().sum()) < len(entities)
    assert data["null_counts"]["pts_avg_10"] == int(want_form["pts_avg_10"].isna().sum())

    sample = data["sample"]
    assert len(sample) == 5 and sample[0]["player_id"] == int(entities.iloc[0]["player_id"])
    again = await env.client.call_tool(
        "features_get_historical",
        {"entity_dataset": "entities.parquet", "feature_service": "player_model_v1", "output": out},
    )
    assert_tool_error(again, "already exists")


async def test_historical_through_a_service_from_csv_without_samples(env: Env) -> None:
    entities = env.data["entities"].rename(columns={"event_timestamp": "at"})
    entities.assign(at=entities["at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
        env.settings.workspace_dir / "entities.csv", index=False
    )
    data = await call(
        env,
        "features_get_historical",
        {
            "entity_dataset": "entities.csv",
            "feature_service": "player_model_v1",
            "timestamp_column": "at",
            "output": f"svc_{env.store}.csv",
            "include_samples": False,
        },
    )
    assert data["sample"] == [] and data["rows"] == len(entities)
    got = pd.read_csv(env.settings.workspace_dir / f"svc_{env.store}.csv")
    want = point_in_time(env.data["entities"], env.data["games"], "game_time", FEATURES, TTL)
    for i in range(len(got)):
        assert _close(
            None if pd.isna(got.iloc[i]["pts_avg_10"]) else float(got.iloc[i]["pts_avg_10"]),
            None if pd.isna(want.iloc[i]["pts_avg_10"]) else float(want.iloc[i]["pts_avg_10"]),
        ), i


async def test_validate_runs_a_gx_suite_over_the_views_offline_data(env: Env) -> None:
    games = env.data["games"]
    suite = f"form_{env.store}"
    structured(
        await env.client.call_tool(
            "validation_create_suite",
            {
                "name": suite,
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "player_id"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "minutes_avg_10", "min_value": 12, "max_value": 38},
                    },
                ],
            },
        )
    )
    data = await call(env, "features_validate", {"feature_view": "player_form", "suite": suite})
    assert data["feature_view"] == "player_form" and data["source"] == "data/player_games.parquet"
    assert data["columns"] == ["player_id", "game_time", *FEATURES]  # not 'opponent': not a feature
    report = data["report"]
    assert report["row_count"] == len(games) and report["success"] is False
    outside = int(((games["minutes_avg_10"] < 12) | (games["minutes_avg_10"] > 38)).sum())
    failed = next(r for r in report["results"] if not r["success"])
    assert failed["column"] == "minutes_avg_10" and failed["unexpected_count"] == outside
    assert data["lineage"] == [f"featureview:{env.project}/player_form -> {report['lineage_id']}"]
    again = structured(
        await env.client.call_tool("validation_get_result", {"result_id": report["result_id"]})
    )
    assert again["failed"] == 1
    res = await env.client.call_tool(
        "features_validate", {"feature_view": "player_form", "suite": "missing_suite"}
    )
    assert_tool_error(res, "missing_suite")
    # 'opponent' is in the source file but not a feature of the view: refused before GX runs.
    outside_view = f"outside_{env.store}"
    structured(
        await env.client.call_tool(
            "validation_create_suite",
            {
                "name": outside_view,
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "opponent"}}
                ],
            },
        )
    )
    res = await env.client.call_tool(
        "features_validate", {"feature_view": "player_form", "suite": outside_view}
    )
    assert_tool_error(res, "opponent", "feature view 'player_form' does not have")


# -- bad input: one clear error each ------------------------------------------------------------------


def _write(env: Env, name: str, text: str) -> str:
    (env.settings.workspace_dir / name).write_text(text)
    return name


async def test_unknown_key_in_the_definitions_file(env: Env) -> None:
    from tests.tools.features.helpers import DEFINITIONS

    text = DEFINITIONS.format(project=env.project).replace("    ttl: 3d\n", "    ttl: 3d\n    ttl_days: 3\n")
    name = _write(env, "bad_key.yaml", text)
    for tool in ("features_plan", "features_apply"):
        msg = assert_tool_error(await env.client.call_tool(tool, {"definitions": name}), "ttl_days")
        assert "Unknown key" in msg and "feature_views[0]" in msg


async def test_feature_over_a_missing_column(env: Env) -> None:
    from tests.tools.features.helpers import DEFINITIONS

    text = DEFINITIONS.format(project=env.project).replace(
        "minutes_avg_10: float32", "blocks_avg_10: float32"
    )
    name = _write(env, "bad_column.yaml", text)
    assert_tool_error(
        await env.client.call_tool("features_apply", {"definitions": name}),
        "blocks_avg_10",
        "player_games.parquet",
    )
    text = DEFINITIONS.format(project=env.project).replace("pts_avg_10: float32", "pts_avg_10: string")
    name = _write(env, "bad_type.yaml", text)
    assert_tool_error(
        await env.client.call_tool("features_plan", {"definitions": name}), "pts_avg_10", "string"
    )


async def test_entity_rows_without_the_join_key(env: Env) -> None:
    res = await env.client.call_tool(
        "features_get_online",
        {"features": ["player_form:pts_avg_10"], "entity_rows": [{"player_id": 1}, {"player": 2}]},
    )
    assert_tool_error(res, "Entity row 1", "player_id")
    no_key = env.data["entities"].drop(columns=["player_id"])
    no_key.to_parquet(env.settings.workspace_dir / "no_key.parquet", index=False)
    res = await env.client.call_tool(
        "features_get_historical",
        {"entity_dataset": "no_key.parquet", "features": ["player_form"], "output": "never.parquet"},
    )
    assert_tool_error(res, "player_id")
    assert not (env.settings.workspace_dir / "never.parquet").exists()


async def test_a_window_that_ends_before_it_starts(env: Env) -> None:
    res = await env.client.call_tool(
        "features_materialize", {"start": "2024-03-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"}
    )
    assert_tool_error(res, "ends", "before")
    assert_tool_error(await env.client.call_tool("features_materialize", {"start": "yesterday"}), "ISO 8601")


async def test_python_repo_needs_allow_feature_repo_code(env: Env) -> None:
    marker = env.settings.workspace_dir / "ran.txt"
    name = _write(env, "repo.py", f"open({str(marker)!r}, 'w').write('code ran')\n")
    res = await env.client.call_tool("features_apply", {"definitions": name})
    assert_tool_error(res, "MLOPS_MCP_ALLOW_FEATURE_REPO_CODE")
    assert not marker.exists()


async def test_other_bad_inputs(env: Env) -> None:
    c = env.client
    assert_tool_error(await c.call_tool("features_plan", {"definitions": "../../etc/passwd.yaml"}), "..")
    assert_tool_error(
        await c.call_tool("features_plan", {"definitions": _write(env, "syntax.yaml", "project: [")}), "YAML"
    )
    outside = _write(
        env,
        "outside.yaml",
        (env.settings.workspace_dir / "features.yaml")
        .read_text()
        .replace("data/player_games.parquet", "/etc/hosts.parquet"),
    )
    assert_tool_error(
        await c.call_tool("features_plan", {"definitions": outside}), "outside the allowed roots"
    )
    lake = _write(
        env,
        "lake.yaml",
        (env.settings.workspace_dir / "features.yaml")
        .read_text()
        .replace("data/player_games.parquet", "lake:player_games"),
    )
    assert_tool_error(await c.call_tool("features_plan", {"definitions": lake}), "lake")
    assert_tool_error(
        await c.call_tool(
            "features_get_online", {"feature_service": "nope", "entity_rows": [{"player_id": 1}]}
        ),
        "nope",
    )
    assert_tool_error(
        await c.call_tool(
            "features_get_online", {"features": ["player_form:nope"], "entity_rows": [{"player_id": 1}]}
        ),
        "nope",
    )
    assert_tool_error(
        await c.call_tool(
            "features_get_online",
            {
                "features": ["player_form"],
                "feature_service": "player_model_v1",
                "entity_rows": [{"player_id": 1}],
            },
        ),
        "either",
    )
    assert_tool_error(await c.call_tool("features_materialize", {"views": ["nope"]}), "nope")
    assert_tool_error(await c.call_tool("features_list", {"project": "bad-name"}), "project")


async def test_apply_deletes_what_the_file_no_longer_has(env: Env) -> None:
    from tests.tools.features.helpers import DEFINITIONS

    text = DEFINITIONS.format(project=env.project)
    text = text.replace("    ttl: 3d\n", "    ttl: 5d\n")
    text = text[: text.index("feature_services:")]
    name = _write(env, "smaller.yaml", text)
    plan = await call(env, "features_plan", {"definitions": name})
    actions = {(c["action"], c["name"]) for c in plan["changes"]}
    assert ("delete", "player_model_v1") in actions and ("update", "player_form") in actions
    update = next(c for c in plan["changes"] if c["name"] == "player_form")
    ttl = next(p for p in update["changes"] if p["property"] == "ttl")
    assert ttl["current"] == "seconds: 259200" and ttl["desired"] == "seconds: 432000"
    assert {p["property"] for p in update["changes"]} == {"ttl", "tags"}  # no timestamp noise
    await call(env, "features_apply", {"definitions": name})
    services = await call(env, "features_list", {"kind": "feature_service"})
    assert services["total"] == 0
    form = await call(env, "features_describe", {"name": "player_form"})
    assert form["ttl_seconds"] == 5 * 86400
    assert form["version"] == plan["version"]


async def test_health_probe(env: Env) -> None:
    health = await call(env, "health_check", {})
    feast = next(b for b in health["backends"] if b["name"] == "feast")
    assert feast["status"] == "ok" and env.store in feast["detail"]


# -- outside the shared servers -----------------------------------------------------------------------


async def test_probe_reports_redis_down(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", profile="all", feast_online_store="redis", redis_url="redis://127.0.0.1:1/0"
    )
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        health = structured(await client.call_tool("health_check", {}))
    server.app.close()
    feast = next(b for b in health["backends"] if b["name"] == "feast")
    assert feast["status"] == "down" and "MLOPS_MCP_REDIS_URL" in feast["fix"]


async def test_python_repo_and_attach_when_allowed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", allow_feature_repo_code=True)
    project = "pyrepo"
    write_workspace(settings.workspace_dir, project)
    src = settings.workspace_dir / "data" / "player_games.parquet"
    (settings.workspace_dir / "repo.py").write_text(
        "from datetime import timedelta\n"
        "from feast import Entity, FeatureView, Field, FileSource, ValueType\n"
        "from feast.types import Float32\n"
        "player = Entity(name='player', join_keys=['player_id'], value_type=ValueType.INT64)\n"
        f"games = FileSource(name='games', path={str(src)!r}, timestamp_field='game_time')\n"
        "form = FeatureView(name='form', entities=[player], ttl=timedelta(days=3),\n"
        "                   schema=[Field(name='pts_avg_10', dtype=Float32)], source=games)\n"
    )
    # A user's own repo to attach: plain local/sqlite/file config.
    user_repo = settings.workspace_dir / "my_repo"
    user_repo.mkdir()
    (user_repo / "feature_store.yaml").write_text(
        "project: mine\nprovider: local\nregistry: data/registry.db\n"
        "online_store: {type: sqlite, path: data/online.db}\noffline_store: {type: file}\n"
        "entity_key_serialization_version: 3\n"
    )
    odd_repo = settings.workspace_dir / "odd_repo"
    odd_repo.mkdir()
    (odd_repo / "feature_store.yaml").write_text(
        "project: odd\nprovider: local\nregistry: data/registry.db\nonline_store: {type: evil.module.Store}\n"
    )
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            structured(await client.call_tool("features_init", {"project": project}))
            applied = structured(await client.call_tool("features_apply", {"definitions": "repo.py"}))
            assert applied["project"] == project
            assert ("create", "form") in {(c["action"], c["name"]) for c in applied["changes"]}
            described = structured(await client.call_tool("features_describe", {"name": "form"}))
            assert described["version"] == applied["version"]

            # A repo whose config loads classes by name is refused... unless code is allowed, as here:
            # so check the refusal with a server that does not allow it.
            attached = structured(await client.call_tool("features_init", {"path": "my_repo"}))
            assert attached["attached"] is True and attached["project"] == "mine"
            assert attached["repo"] == "my_repo"
            assert structured(await client.call_tool("features_list", {}))["total"] == 0
    finally:
        server.app.close()

    strict = Settings(home=tmp_path / "home2", profile="all", roots=[settings.workspace_dir])
    server = create_server(strict)
    try:
        async with Client(server, mode="legacy") as client:
            res = await client.call_tool("features_init", {"path": "odd_repo"})
            assert_tool_error(res, "evil.module.Store", "MLOPS_MCP_ALLOW_FEATURE_REPO_CODE")
            # The refused attach left the home repo in place.
            info = structured(await client.call_tool("features_init", {}))
            assert info["attached"] is False
    finally:
        server.app.close()
