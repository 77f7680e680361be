"""Unit tests of the definitions schema and the adapter against the real Feast on small data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mcp_server.core.config import Settings
from mcp_server.core.errors import InvalidInput
from mcp_server.core.workspace import Workspace
from mcp_server.tools.features import adapter
from mcp_server.tools.features.definitions import parse_definitions, parse_ttl
from tests.tools.features.helpers import DEFINITIONS, FEATURES, TTL, point_in_time, write_workspace


def _defs(**over: object) -> dict[str, object]:
    import yaml

    data = yaml.safe_load(DEFINITIONS.format(project="unit"))
    data.update(over)
    return data


def test_ttl_forms() -> None:
    assert parse_ttl("30d") == 30 * 86400
    assert parse_ttl("12h") == 43200 and parse_ttl("15m") == 900 and parse_ttl("2w") == 14 * 86400
    assert parse_ttl(0) == 0 and parse_ttl("45") == 45
    for bad in ("-1d", "1y", "soon", True):
        with pytest.raises(ValueError):
            parse_ttl(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"extra_top": 1}, ["Unknown key 'extra_top'", "the top level", "feature_services"]),
        ({"project": "has-hyphen"}, ["project"]),
        (
            {"entities": [{"name": "p", "join_keys": ["a", "b"], "value_type": "int64"}]},
            ["exactly one join key"],
        ),
        ({"entities": [{"name": "p", "join_keys": ["a"], "value_type": "decimal"}]}, ["value_type"]),
    ],
)
def test_schema_errors_are_one_sentence(change: dict[str, object], needles: list[str]) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_definitions(_defs(**change), "f.yaml")
    for needle in needles:
        assert needle in info.value.message
    assert "\n" not in info.value.message


def test_reference_errors() -> None:
    data = _defs()
    data["feature_views"][0]["entities"] = ["coach"]  # type: ignore[index]
    with pytest.raises(InvalidInput, match="entity 'coach'"):
        parse_definitions(data, "f.yaml")
    data = _defs()
    data["feature_services"][0]["features"] = ["player_form:nope"]  # type: ignore[index]
    with pytest.raises(InvalidInput, match="no feature 'nope'"):
        parse_definitions(data, "f.yaml")
    data = _defs()
    data["feature_views"].append(dict(data["feature_views"][0]))  # type: ignore[attr-defined,index]
    with pytest.raises(InvalidInput, match="defined twice"):
        parse_definitions(data, "f.yaml")


def test_redis_connection_string() -> None:
    conn = adapter.redis_connection_string("redis://:p%40ss@10.0.0.5:6380/2")
    assert conn.startswith("10.0.0.5:6380,db=2,") and "password=p@ss" in conn and "socket_timeout=" in conn
    assert "ssl=true" in adapter.redis_connection_string("rediss://h:1/0")
    with pytest.raises(InvalidInput):
        adapter.redis_connection_string("http://h/0")
    with pytest.raises(InvalidInput):
        adapter.redis_connection_string("redis://:a,b@h/0")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[adapter.FeastRepo, dict[str, pd.DataFrame], Path]:
    home = tmp_path_factory.mktemp("adapter") / "home"
    settings = Settings(home=home)
    data = write_workspace(settings.workspace_dir, "unit")
    ws = Workspace(settings.effective_roots(), home)
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    repo = adapter.FeastRepo(settings, ws)
    loaded = adapter.load_definitions(
        settings.workspace_dir / "features.yaml", lambda p: ws.resolve(p, must_exist=True), "features.yaml"
    )
    adapter.apply(repo, loaded)
    return repo, data, settings.workspace_dir


def test_build_objects_checks_the_parquet_schema(
    repo: tuple[adapter.FeastRepo, dict[str, pd.DataFrame], Path],
) -> None:
    _repo, _data, ws = repo
    workspace = Workspace([ws], ws.parent)
    text = DEFINITIONS.format(project="unit")
    bad = ws / "bad_ts.yaml"
    bad.write_text(text.replace("timestamp_field: game_time", "timestamp_field: opponent"))
    with pytest.raises(InvalidInput, match="not a timestamp"):
        adapter.load_definitions(bad, lambda p: workspace.resolve(p, must_exist=True), "bad_ts.yaml")
    bad.write_text(text.replace("join_keys: [player_id]", "join_keys: [pid]"))
    with pytest.raises(InvalidInput, match="join key 'pid'"):
        adapter.load_definitions(bad, lambda p: workspace.resolve(p, must_exist=True), "bad_ts.yaml")
    bad.write_text(text.replace("data/player_games.parquet", "entities.csv"))
    (ws / "entities.csv").write_text("a\n1\n")
    with pytest.raises(InvalidInput, match="Parquet"):
        adapter.load_definitions(bad, lambda p: workspace.resolve(p, must_exist=True), "bad_ts.yaml")


def test_historical_frame_keeps_every_entity_row(
    repo: tuple[adapter.FeastRepo, dict[str, pd.DataFrame], Path],
) -> None:
    """Feast's file offline store alone drops rows whose key has data but none in the TTL window, and
    collapses duplicated (key, time) rows; the adapter keeps every row, with empty features there."""
    feast_repo, data, _ws = repo
    entities = data["entities"]
    store = feast_repo.store("unit")
    direct = store.get_historical_features(
        entity_df=entities[["player_id", "event_timestamp"]], features=[f"player_form:{f}" for f in FEATURES]
    ).to_df()
    assert len(direct) < len(entities)  # what the adapter makes up for

    frame, sel, project = adapter.historical_frame(
        feast_repo, "unit", entities, "event_timestamp", ["player_form"], None, False
    )
    assert project == "unit" and sel.refs == [f"player_form:{f}" for f in FEATURES]
    assert len(frame) == len(entities) and frame["label"].tolist() == entities["label"].tolist()
    want = point_in_time(entities, data["games"], "game_time", FEATURES, TTL)
    pd.testing.assert_frame_equal(
        frame[FEATURES].reset_index(drop=True).astype("float64"),
        want.reset_index(drop=True).astype("float64"),
        check_names=False,
        rtol=1e-6,
    )
    # The rows Feast returned agree with the adapter's on the same (key, time).
    merged = direct.merge(
        frame.drop_duplicates(["player_id", "event_timestamp"]),
        on=["player_id", "event_timestamp"],
        suffixes=("", "_a"),
    )
    assert len(merged) == len(direct)
    for f in FEATURES:
        a, b = merged[f].astype("float64"), merged[f"{f}_a"].astype("float64")
        assert ((a - b).abs().fillna(0) < 1e-6).all() and (a.isna() == b.isna()).all()
