"""The engine mapping without a JVM: engine-neutral type names per engine, and the engine choice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mcp_server.core.config import Settings
from mcp_server.core.errors import InvalidInput
from mcp_server.core.spark import choose_engine, driver_address, session_config, spark_master, spark_uri
from mcp_server.tools.validation.adapter import ENGINE_TYPES, TYPE_LISTS, build_expectations, engine_specs


def in_types(column: str, names: list[str], **meta: str) -> dict:
    spec = {
        "type": "expect_column_values_to_be_in_type_list",
        "kwargs": {"column": column, "type_list": names},
    }
    if meta:
        spec["meta"] = meta
    return spec


def test_neutral_names_map_per_engine_and_pandas_suites_stay_as_they_are() -> None:
    suite = [
        in_types("a", ["integer"]),
        {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "b", "type_": "timestamp"}},
        in_types("c", TYPE_LISTS["string"], logical_type="string"),  # as validation_suggest_suite writes it
        {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "d", "type_": "int64"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
    ]
    spark = engine_specs(suite, "spark")
    assert spark[0]["kwargs"]["type_list"] == ENGINE_TYPES["spark"]["integer"]
    assert spark[1]["type"] == "expect_column_values_to_be_in_type_list"
    assert spark[1]["kwargs"] == {"column": "b", "type_list": ["TimestampType", "TimestampNTZType"]}
    assert spark[2]["kwargs"]["type_list"] == ["StringType", "VarcharType", "CharType"]
    assert spark[3]["kwargs"]["type_list"] == ENGINE_TYPES["spark"]["integer"]
    assert spark[4] is suite[4]

    pandas = engine_specs(suite, "pandas")
    assert pandas[0]["kwargs"]["type_list"] == TYPE_LISTS["integer"]
    assert pandas[1]["kwargs"]["type_list"] == TYPE_LISTS["timestamp"]
    # Already in pandas names: the very same objects, so stored suites run as before.
    assert pandas[2] is suite[2] and pandas[3] is suite[3] and pandas[4] is suite[4]
    assert (
        engine_specs([in_types("x", ["LongType"])], "pandas")[0]["kwargs"]["type_list"]
        == TYPE_LISTS["integer"]
    )
    # Every mapped suite is still a valid GX suite.
    assert len(build_expectations(spark)) == len(build_expectations(pandas)) == len(suite)


def test_choose_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on = Settings(home=tmp_path, spark_master="local[2]", spark_auto_rows=1000, spark_auto_bytes=10**6)
    off = Settings(home=tmp_path, spark_master="off", spark_auto_rows=1000)
    assert spark_master(on) == "local[2]" and spark_master(off) is None
    assert spark_master(Settings(home=tmp_path, spark_master=" OFF ")) is None
    # No master configured: local[*] where pyspark can be imported, Spark off (pandas) where it cannot.
    unset = Settings(home=tmp_path, spark_master=None, spark_auto_rows=1000)
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else found(name, *a)
    )
    assert spark_master(unset) is None
    assert choose_engine(unset, "auto", 10**9, 10**12) == "pandas"
    with pytest.raises(InvalidInput, match="spark extra"):
        choose_engine(unset, "spark", 1, 1)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "pyspark" else found(name, *a)
    )
    assert spark_master(unset) == "local[*]"
    assert choose_engine(unset, "auto", 1001, 10) == "spark"
    monkeypatch.undo()
    assert choose_engine(on, "auto", 1001, 10) == "spark"
    assert choose_engine(on, "auto", 1000, 10) == "pandas"
    assert choose_engine(on, "auto", None, 10**6 + 1) == "spark"  # CSV: by bytes
    assert choose_engine(on, "pandas", 10**9, 10**12) == "pandas"
    assert choose_engine(off, "auto", 10**9, 10**12) == "pandas"
    with pytest.raises(InvalidInput, match="MLOPS_MCP_SPARK_MASTER"):
        choose_engine(off, "spark", 1, 1)
    assert spark_uri("s3://bucket/lake/raw/x/v1") == "s3a://bucket/lake/raw/x/v1"


def test_the_driver_listens_on_loopback_when_every_executor_is_on_this_machine(tmp_path: Path) -> None:
    loopback = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    for master in ("local[*]", "local[2]", "spark://127.0.0.1:7077", "spark://localhost:7077,127.0.0.1:7078"):
        assert driver_address(master) == loopback, master
    # Executors elsewhere must reach the driver: Spark's default address, or the operator's setting.
    for master in (
        "spark://spark-master:7077",
        "spark://127.0.0.1:7077,10.0.0.2:7077",
        "yarn",
        "k8s://https://k:6443",
    ):
        assert driver_address(master) == {}, master
    conf = session_config(Settings(home=tmp_path), "spark://127.0.0.1:7077")
    assert conf["spark.driver.host"] == "127.0.0.1" and "spark.executor.extraJavaOptions" not in conf
    mine = {"spark.driver.host": "10.1.2.3", "spark.driver.bindAddress": "0.0.0.0"}
    conf = session_config(Settings(home=tmp_path, spark_conf=mine), "local[2]")
    assert conf["spark.driver.host"] == "10.1.2.3" and conf["spark.driver.bindAddress"] == "0.0.0.0"
