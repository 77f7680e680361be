"""The contract test's cases, one per tool: the calls that prepare the state its example needs, a valid
example call, and what the example's result must then say.

Every case runs on a fresh home whose workspace holds only the example tables (example.csv and
example.parquet: 200 rows of id, age, income, segment, signup_date and a binary label;
`write_example_tables`). `expect` maps result fields to the value the example implies, or to a
predicate on the field's value; tests/contract/test_table.py checks that every tool has a case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Call = tuple[str, Mapping[str, Any]]
# The contract's client declares no elicitation, so an example that moves production state carries
# `confirm: true` as such a client must (core/confirm.py; tests/test_confirm.py asks and declines).
YES: Mapping[str, Any] = {"confirm": True}


@dataclass(frozen=True)
class Case:
    example: Mapping[str, Any]
    expect: Mapping[str, Any]  # result field -> expected value, or a predicate on the value
    setup: tuple[Call, ...] = ()
    needs: tuple[str, ...] = field(default=())  # stand-ins the case installs: "mongomock"


def one_p_value(comparisons: list[dict[str, Any]]) -> bool:
    """One comparison with the control, with a p-value that is a probability."""
    if len(comparisons) != 1:
        return False
    p = comparisons[0]["p_value"]
    return isinstance(p, float) and 0.0 <= p <= 1.0


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def nonempty(value: Any) -> bool:
    return bool(value)


def train(name: str, features: list[str], **changes: Any) -> Call:
    """A classifier of `label` on example.csv, logged as run `name`."""
    arguments = {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "LogisticRegression",
        "params": {"solver": "liblinear"},
        "features": features,
        "name": name,
    }
    arguments.update(changes)
    return ("evaluation_train_model", {k: v for k, v in arguments.items() if v is not None})


def register(name: str, source: str) -> Call:
    return ("registry_register_model", {"name": name, "source": source})


def write_example_tables(workspace: Path) -> None:
    """The tables every example may use: example.csv and example.parquet (200 clean rows, a binary label)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 200
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 12_000, n).round(2),
            "segment": rng.choice(["a", "b", "c"], n),
            "signup_date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    df["label"] = ((df["age"] > 45) ^ (rng.random(n) < 0.1)).astype(int)
    workspace.mkdir(parents=True, exist_ok=True)
    df.to_csv(workspace / "example.csv", index=False)
    df.to_parquet(workspace / "example.parquet", index=False)


# -- validation --------------------------------------------------------------------------------------

SUITE = {
    "name": "example_suite",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 80},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "segment", "value_set": ["a", "b", "c"]},
        },
    ],
}
CREATE_SUITE: Call = ("validation_create_suite", SUITE)
RUN: Call = ("validation_run", {"dataset": "example.parquet", "suite": "example_suite"})

VALIDATION = {
    "validation_create_suite": Case(
        example=SUITE, expect={"name": "example_suite", "version": 1, "expectation_count": 3}
    ),
    "validation_suggest_suite": Case(
        example={"dataset": "example.csv", "name": "example_suggested"},
        expect={"row_count": 200, "column_count": 6, "saved": None},  # save=false: proposed only
    ),
    "validation_list_suites": Case(example={}, setup=(CREATE_SUITE,), expect={"total": 1}),
    "validation_get_suite": Case(
        example={"suite": "example_suite@1"},
        setup=(CREATE_SUITE,),
        expect={"name": "example_suite", "version": 1, "expectation_count": 3},
    ),
    "validation_delete_suite": Case(
        example={"suite": "example_suite@1"},
        setup=(CREATE_SUITE,),
        expect={"name": "example_suite", "deleted_versions": [1], "remaining_versions": []},
    ),
    "validation_run": Case(
        example=RUN[1],
        setup=(CREATE_SUITE,),
        expect={"success": True, "row_count": 200, "evaluated": 3, "failed": 0},
    ),
    "validation_get_result": Case(
        example={"result_id": "latest", "failures_only": True},
        setup=(CREATE_SUITE, RUN),
        expect={"success": True, "failed": 0, "results": []},
    ),
    "validation_list_results": Case(example={}, setup=(CREATE_SUITE, RUN), expect={"total": 1}),
    "validation_check_integrity": Case(
        example={
            "dataset": "example.csv",
            "rules": [
                {"kind": "compare", "left": "income", "op": ">", "right": "age"},
                {
                    "kind": "foreign_key",
                    "column": "segment",
                    "reference": "example.parquet",
                    "reference_column": "segment",
                },
            ],
        },
        expect={"success": True, "row_count": 200, "evaluated": 2},
    ),
}

# -- quality -----------------------------------------------------------------------------------------

QUALITY = {
    "quality_profile": Case(example={"dataset": "example.csv"}, expect={"row_count": 200, "column_count": 6}),
    "quality_score": Case(
        example={
            "dataset": "example.csv",
            "key": ["id"],
            "consistency_rules": [{"left": "age", "op": ">=", "right": 18}],
            "timestamp_column": "signup_date",
            "max_age": "365d",
            "as_of": "2024-07-01T00:00:00Z",
            "threshold": 80,
        },
        expect={"row_count": 200, "threshold": 80},
    ),
    "quality_history": Case(
        example={"dataset": "example.csv"},
        setup=(("quality_score", {"dataset": "example.csv"}),),
        expect={"total": 1},
    ),
    "quality_compare": Case(
        example={"dataset": "example.parquet", "baseline": "example.csv"},
        expect={"drifted_columns": [], "missing_in_current": [], "new_in_current": []},
    ),
    "quality_report": Case(
        example={"dataset": "example.csv"},
        expect={"report_uri": lambda uri: uri.startswith("mlops://artifacts/")},
    ),
    "quality_detect_outliers": Case(
        example={"dataset": "example.csv", "columns": ["income"], "method": "iqr"},
        expect={"method": "iqr", "row_count": 200},
    ),
    "quality_clean": Case(
        example={
            "dataset": "example.csv",
            "plan": {"duplicates": {}, "missing": [{"strategy": "median", "columns": ["income"]}]},
            "output": "example_clean.parquet",
        },
        expect={"rows_before": 200, "rows_after": 200},
    ),
    "quality_filter_dataset": Case(
        example={
            "dataset": "example.csv",
            "rules": [["age", ">=", 30]],
            "output": "example_train.parquet",
            "label": "label",
            "dedupe": True,
        },
        expect={"rows_before": 200, "rows_after": lambda n: 0 < n < 200},
    ),
    "quality_check_homogeneity": Case(
        example={"dataset": "example.csv"}, expect={"kind": "text", "text_columns": nonempty}
    ),
}

# -- features ----------------------------------------------------------------------------------------

DEFS = "example_features.yaml"
SCAFFOLD = {
    "dataset": "example.csv",
    "entity_column": "id",
    "timestamp_column": "signup_date",
    "output": DEFS,
    "feature_view": "example",
}
SCAFFOLDED: tuple[Call, ...] = (("features_scaffold", SCAFFOLD),)
APPLIED: tuple[Call, ...] = (*SCAFFOLDED, ("features_apply", {"definitions": DEFS}))
WINDOW = {"start": "2023-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}
FEATURE_SUITE = {
    "name": "example_features_suite",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 80},
        },
    ],
}

FEATURES = {
    "features_init": Case(example={}, expect={"created": True, "attached": False}),
    "features_scaffold": Case(
        example=SCAFFOLD, expect={"feature_view": "example", "features": lambda f: "income" in f}
    ),
    "features_plan": Case(
        example={"definitions": DEFS}, setup=SCAFFOLDED, expect={"applied": False, "changes": nonempty}
    ),
    "features_apply": Case(example={"definitions": DEFS}, setup=SCAFFOLDED, expect={"applied": True}),
    "features_list": Case(example={}, setup=APPLIED, expect={"total": positive}),
    "features_describe": Case(
        example={"name": "example"}, setup=APPLIED, expect={"kind": "feature_view", "name": "example"}
    ),
    "features_materialize": Case(example=WINDOW, setup=APPLIED, expect={"views": nonempty}),
    "features_get_online": Case(
        example={"features": ["example:income"], "entity_rows": [{"id": 1}, {"id": 2}]},
        setup=(*APPLIED, ("features_materialize", WINDOW)),
        expect={"rows": lambda rows: len(rows) == 2},
    ),
    "features_get_historical": Case(
        example={
            "entity_dataset": "example.csv",
            "timestamp_column": "signup_date",
            "features": ["example"],
            "full_feature_names": True,
            "output": "example_training.parquet",
        },
        setup=APPLIED,
        expect={"rows": 200},
    ),
    "features_validate": Case(
        example={"feature_view": "example", "suite": "example_features_suite"},
        setup=(*APPLIED, ("validation_create_suite", FEATURE_SUITE)),
        expect={"feature_view": "example", "report": lambda r: r["success"] is True},
    ),
}

# -- evaluation --------------------------------------------------------------------------------------

TRAIN_LABEL = train("example-label", ["age", "income", "segment"])
TRAIN_INCOME: Call = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "income",
        "estimator": "Ridge",
        "features": ["age", "segment"],
        "name": "example-income",
    },
)

EVALUATION = {
    "evaluation_train_model": Case(
        example=TRAIN_LABEL[1],
        expect={"estimator": "LogisticRegression", "task": "classifier", "target": "label"},
    ),
    "evaluation_list_runs": Case(
        example={"limit": 5}, setup=(TRAIN_LABEL,), expect={"runs": lambda runs: len(runs) == 1}
    ),
    "evaluation_cross_validate": Case(
        example={
            "dataset": "example.csv",
            "target": "label",
            "estimator": "LogisticRegression",
            "params": {"solver": "liblinear"},
            "features": ["age", "income"],
            "metrics": ["accuracy", "roc_auc"],
        },
        expect={"n_rows": 200, "task": "classifier"},
    ),
    "evaluation_compare_models": Case(
        example={
            "dataset": "example.csv",
            "target": "label",
            "candidates": [
                {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}},
                {"estimator": "DummyClassifier"},
            ],
            "metric": "accuracy",
            "features": ["age", "income"],
            "cv": {"strategy": "stratified", "n_splits": 5},
        },
        expect={"metric": "accuracy", "candidates": lambda c: len(c) == 2},
    ),
    "evaluation_residuals": Case(
        example={"run_id": "example-income", "dataset": "example.csv", "target": "income", "top": 3},
        setup=(TRAIN_INCOME,),
        expect={"n": 200, "worst_rows": lambda rows: len(rows) == 3},
    ),
    "evaluation_diagnostics": Case(
        example={"run_id": "example-label", "dataset": "example.csv", "target": "label"},
        setup=(TRAIN_LABEL,),
        expect={"n": 200, "labels": lambda labels: len(labels) == 2},
    ),
    "evaluation_test_model": Case(
        example={
            "model": "example-label",
            "dataset": "example.csv",
            "target": "label",
            "checks": [
                {"type": "metric", "metric": "accuracy", "min": 0.5},
                {"type": "slice", "column": "segment", "metric": "accuracy", "min": 0.3},
                {"type": "latency", "p95_ms": 2000, "n": 20},
            ],
        },
        setup=(TRAIN_LABEL,),
        expect={
            "passed": True,
            "checks": lambda checks: {c["type"] for c in checks} == {"metric", "slice", "latency"},
        },
    ),
}

# -- registry ----------------------------------------------------------------------------------------

MODEL = "example-model"
R_TRAIN = train("example-registry", ["age", "income", "segment"])
R_TRAIN_B = train(
    "example-registry-b", ["age", "income", "segment"], estimator="DummyClassifier", params=None
)
R_REGISTER = register(MODEL, "example-registry")
R_REGISTER_B = register(MODEL, "example-registry-b")
CHAMPION_1: Call = ("registry_set_alias", {"name": MODEL, "alias": "champion", "version": "1"})
CHAMPION_2: Call = ("registry_set_alias", {"name": MODEL, "alias": "champion", "version": "2"})

REGISTRY = {
    "registry_register_model": Case(
        example={
            "name": MODEL,
            "source": "example-registry",
            "description": "label model",
            "tags": {"team": "demo"},
        },
        setup=(R_TRAIN,),
        expect={"name": MODEL, "version": "1"},
    ),
    "registry_list_models": Case(
        example={"limit": 5},
        setup=(R_TRAIN, R_REGISTER),
        expect={"models": lambda models: [m["name"] for m in models] == [MODEL]},
    ),
    "registry_search_versions": Case(
        example={"name": MODEL, "filter": [{"field": "metrics.test_accuracy", "op": ">=", "value": 0}]},
        setup=(R_TRAIN, R_REGISTER),
        expect={"total": 1},
    ),
    "registry_get_version": Case(
        example={"name": MODEL, "alias": "champion"},
        setup=(R_TRAIN, R_REGISTER, CHAMPION_1),
        expect={"name": MODEL, "version": "1", "aliases": ["champion"]},
    ),
    "registry_set_alias": Case(
        example={"name": MODEL, "alias": "champion", "version": "1", "reason": "best accuracy"},
        setup=(R_TRAIN, R_REGISTER),
        expect={"alias": "champion", "version": "1", "previous": None},
    ),
    "registry_rollback": Case(
        example={"name": MODEL, "alias": "champion", "reason": "v2 regressed", **YES},
        setup=(R_TRAIN, R_TRAIN_B, R_REGISTER, R_REGISTER_B, CHAMPION_1, CHAMPION_2),
        expect={"alias": "champion", "version": "1", "previous": "2"},
    ),
    "registry_alias_history": Case(
        example={"name": MODEL, "alias": "champion"},
        setup=(R_TRAIN, R_REGISTER, CHAMPION_1),
        expect={"current": "1", "events": lambda events: len(events) == 1},
    ),
    "registry_compare_versions": Case(
        example={"name": MODEL, "a": "1", "b": "2", "metric": "test_accuracy"},
        setup=(R_TRAIN, R_TRAIN_B, R_REGISTER, R_REGISTER_B),
        expect={"metric": "test_accuracy", "better": lambda v: v in ("1", "2", None)},
    ),
    "registry_archive_version": Case(
        example={"name": MODEL, "version": "1"},
        setup=(R_TRAIN, R_REGISTER),
        expect={"version": "1", "action": "archived"},
    ),
    "registry_delete_version": Case(
        example={"name": MODEL, "version": "1", **YES},
        setup=(R_TRAIN, R_REGISTER),
        expect={"version": "1", "action": "deleted"},
    ),
    "registry_model_card": Case(
        example={"name": MODEL, "version": "1"},
        setup=(R_TRAIN, R_REGISTER, CHAMPION_1),
        expect={"name": MODEL, "version": "1", "card": lambda uri: uri.startswith("mlops://")},
    ),
}

# -- onnx --------------------------------------------------------------------------------------------

O_MODEL = {"name": "example-onnx", "version": "1"}
O_REGISTERED: tuple[Call, ...] = (
    train("example-onnx", ["age", "income", "segment"]),
    register("example-onnx", "example-onnx"),
)
O_CONVERTED: tuple[Call, ...] = (*O_REGISTERED, ("onnx_convert", O_MODEL))

ONNX = {
    "onnx_convert": Case(
        example=O_MODEL,
        setup=O_REGISTERED,
        expect={"name": "example-onnx", "version": "1", "parity": lambda p: p["passed"] is True},
    ),
    "onnx_inspect": Case(example=O_MODEL, setup=O_CONVERTED, expect={"safe": True}),
    "onnx_benchmark": Case(
        example={**O_MODEL, "batch_sizes": [1, 16], "repeats": 5},
        setup=O_CONVERTED,
        expect={"name": "example-onnx", "results": lambda r: len(r) == 2},
    ),
}

# -- deploy ------------------------------------------------------------------------------------------

D_MODEL = "deploy-example"
D_REGISTERED: tuple[Call, ...] = (train(D_MODEL, ["age", "income"]), register(D_MODEL, D_MODEL))
ENDPOINT = {"endpoint": "example-endpoint", "model": D_MODEL, "version": "1"}
D_SERVED: tuple[Call, ...] = (*D_REGISTERED, ("deploy_create_endpoint", ENDPOINT))
START: Call = ("deploy_gateway_start", {"port": 0})
AT = {"endpoint": "example-endpoint"}
ROWS = [{"age": 50, "income": 52000.0}, {"age": 23, "income": 31000.5}]
# Rollouts: one trained run registered twice (versions 1 and 2), served by an endpoint.
EP = "rollout-example"
AT_EP = {"endpoint": EP}
EP_REGISTER = register(EP, EP)
EP_SERVED: tuple[Call, ...] = (
    train(EP, ["age", "income"]),
    EP_REGISTER,
    EP_REGISTER,
    ("deploy_create_endpoint", {"endpoint": EP, "model": EP, "version": "1"}),
)
CANARY: Call = ("deploy_canary_start", {"endpoint": EP, "candidate_version": "2"})
PREPARE: Call = ("deploy_blue_green_prepare", {"endpoint": EP, "version": "2"})
ON_CANARY = (*EP_SERVED, CANARY)
BATCH: Call = (
    "deploy_batch_predict",
    {"path": "example.parquet", **AT, "output_dataset": "example-scored", "key_columns": ["id"]},
)
BATCH_DONE: Call = ("deploy_batch_status", {"output_dataset": "example-scored", "wait_s": 30})

DEPLOY = {
    "deploy_gateway_start": Case(example={"port": 0}, expect={"running": True}),
    "deploy_gateway_stop": Case(example={}, setup=(START,), expect={"running": False}),
    "deploy_gateway_status": Case(example={}, expect={"running": False}),
    "deploy_create_endpoint": Case(
        example=ENDPOINT,
        setup=D_REGISTERED,
        expect={"endpoint": "example-endpoint", "model": D_MODEL, "version": "1", "created": True},
    ),
    "deploy_list": Case(example={}, expect={"total": 0, "items": []}),
    "deploy_status": Case(
        example=AT,
        setup=D_SERVED,
        expect={"endpoint": lambda e: e["endpoint"] == "example-endpoint" and e["stable_version"] == "1"},
    ),
    "deploy_predict": Case(
        example={**AT, "rows": ROWS},
        setup=(*D_SERVED, START),
        expect={"endpoint": "example-endpoint", "predictions": lambda p: len(p) == 2, "versions": {"1": 2}},
    ),
    "deploy_delete_endpoint": Case(
        example={**AT, **YES},
        setup=D_SERVED,
        expect={"endpoint": "example-endpoint", "deleted": True, "versions": ["1"]},
    ),
    "deploy_build_image": Case(
        example={"model": D_MODEL, "version": "1", "tag": "example-gateway:1"},
        setup=D_REGISTERED,
        expect={"model": D_MODEL, "version": "1", "tag": "example-gateway:1"},
    ),
    "deploy_export_manifests": Case(
        example={**AT, "strategy": "canary"},
        setup=D_SERVED,
        expect={"endpoint": "example-endpoint", "strategy": "canary", "kinds": lambda k: "Rollout" in k},
    ),
    "deploy_canary_start": Case(
        example=CANARY[1],
        setup=EP_SERVED,
        expect={"endpoint": EP, "stable_version": "1", "candidate_version": "2"},
    ),
    "deploy_canary_status": Case(
        example=AT_EP, setup=ON_CANARY, expect={"endpoint": EP, "candidate_version": "2"}
    ),
    "deploy_canary_promote": Case(
        example=AT_EP, setup=ON_CANARY, expect={"endpoint": EP, "version": "2", "previous_version": "1"}
    ),
    "deploy_canary_abort": Case(
        example={**AT_EP, **YES}, setup=ON_CANARY, expect={"endpoint": EP, "version": "1"}
    ),
    "deploy_blue_green_prepare": Case(
        example=PREPARE[1], setup=(*EP_SERVED, START), expect={"endpoint": EP, "version": "2", "ready": True}
    ),
    "deploy_blue_green_switch": Case(
        example={**AT_EP, **YES},
        setup=(*EP_SERVED, START, PREPARE),
        expect={"endpoint": EP, "version": "2", "previous_version": "1"},
    ),
    "deploy_rollback": Case(
        example={**AT_EP, "reason": "example", **YES},
        setup=(*ON_CANARY, ("deploy_canary_promote", AT_EP)),
        expect={"endpoint": EP, "version": "1", "previous_version": "2"},
    ),
    "deploy_history": Case(
        example=AT_EP,
        setup=(EP_SERVED[0], EP_REGISTER, EP_SERVED[3]),
        expect={"endpoint": EP, "total": positive},
    ),
    "deploy_batch_predict": Case(
        example=BATCH[1],
        setup=D_SERVED,
        expect={
            "state": "running",
            "engine": "arrow",
            "rows_total": 200,
            "columns": ["id", "prediction", "probability_0", "probability_1"],
        },
    ),
    "deploy_batch_status": Case(
        example={"output_dataset": "example-scored"},
        setup=(*D_SERVED, BATCH, BATCH_DONE),
        expect={"state": "succeeded", "rows_done": 200, "output_version": 1, "output_id": nonempty},
    ),
    "deploy_batch_cancel": Case(
        example={"output_dataset": "example-scored"},
        setup=(*D_SERVED, BATCH, BATCH_DONE),
        expect={"state": "succeeded", "output_dataset": "example-scored"},  # ended already: reported as it is
    ),
}

# -- monitor -----------------------------------------------------------------------------------------

# Two rows served, then the gateway stopped: its shutdown flush writes their sketches and predictions.
M_TRAFFIC: tuple[Call, ...] = (
    *D_SERVED,
    START,
    ("deploy_predict", {**AT, "rows": ROWS}),
    ("deploy_gateway_stop", {}),
)
M_RULE = {"name": "psi-any", "metric": "psi", "op": ">", "threshold": 0.2, "windows": 2}

MONITOR = {
    "monitor_drift": Case(
        example=AT,
        setup=M_TRAFFIC,
        expect={"endpoint": "example-endpoint", "version": "1", "rows": 2, "against": "reference"},
    ),
    "monitor_record_outcomes": Case(
        example={**AT, "outcomes": [{"request_id": "0f0f0f0f0f0f0f0f0f0f0f0f", "outcome": 1}]},
        setup=D_SERVED,
        expect={"received": 1, "joined": 0, "unknown": 1},
    ),
    "monitor_performance": Case(
        example=AT, setup=D_SERVED, expect={"endpoint": "example-endpoint", "joined": 0, "windows": []}
    ),
    "monitor_watch_rules": Case(
        example={**AT, "rules": [M_RULE]},
        setup=D_SERVED,
        expect={"changed": True, "rules": lambda r: len(r) == 1 and r[0]["holding"] is False},
    ),
}

# -- ab ----------------------------------------------------------------------------------------------

EXPERIMENT = "checkout-button"
AB_CREATE = {
    "name": EXPERIMENT,
    "variants": ["control", "green"],
    "control": "control",
    "metric": "checkout_conversion",
    "baseline": 0.1,
    "mde": 0.02,
}
AB_CREATED: tuple[Call, ...] = (("ab_create", AB_CREATE),)
AB_RECORDED: tuple[Call, ...] = (
    *AB_CREATED,
    (
        "ab_record",
        {"name": EXPERIMENT, "variant": "control", "observations": {"successes": 40, "trials": 400}},
    ),
    ("ab_record", {"name": EXPERIMENT, "variant": "green", "observations": {"successes": 52, "trials": 410}}),
)

AB = {
    "ab_design": Case(
        example={"metric_type": "proportion", "baseline": 0.1, "mde": 0.02},
        expect={
            "metric_type": "proportion",
            "baseline": 0.1,
            "per_arm": lambda n: len(n) == 2 and n[0] == n[1] and n[0] > 0,  # two equal arms
        },
    ),
    "ab_create": Case(
        example=AB_CREATE, expect={"name": EXPERIMENT, "control": "control", "sample_size": positive}
    ),
    "ab_record": Case(
        example={
            "name": EXPERIMENT,
            "variant": "green",
            "observations": [1, 0, 0, 1, 0],
            "idempotency_key": "batch-1",
        },
        setup=AB_CREATED,
        expect={"variant": "green", "counted": True, "added_units": 5, "added_successes": 2},
    ),
    "ab_analyze": Case(
        example={"name": EXPERIMENT},
        setup=AB_RECORDED,
        expect={"name": EXPERIMENT, "planned_reached": False, "comparisons": one_p_value},
    ),
    "ab_list": Case(example={}, setup=AB_CREATED, expect={"total": 1}),
    "ab_get": Case(example={"name": EXPERIMENT}, setup=AB_RECORDED, expect={"name": EXPERIMENT}),
    "ab_stop": Case(
        example={"name": EXPERIMENT}, setup=AB_CREATED, expect={"status": "stopped", "was_running": True}
    ),
}

# -- lake and catalog --------------------------------------------------------------------------------

LAKE_WRITE: Call = (
    "lake_write",
    {"source": "example.parquet", "dataset": "example", "partition_by": ["segment"]},
)
PLAIN_WRITE: Call = ("lake_write", {"source": "example.parquet", "dataset": "example"})

LAKE = {
    "lake_write": Case(
        example={
            "source": "example.csv",
            "dataset": "example_csv",
            "zone": "raw",
            "partition_by": ["segment"],
        },
        expect={
            "dataset": "example_csv",
            "version": 1,
            "zone": "raw",
            "rows": 200,
            "partition_by": ["segment"],
        },
    ),
    "lake_read": Case(
        example={
            "dataset": "example",
            "columns": ["id", "age", "segment"],
            "filters": [["segment", "in", ["a", "b"]], ["age", ">=", 30]],
            "limit": 50,
        },
        setup=(LAKE_WRITE,),
        expect={
            "dataset": "example",
            "version": 1,
            "columns": lambda columns: (
                [c["name"] if isinstance(c, dict) else c for c in columns] == ["id", "age", "segment"]
            ),
            "returned_rows": lambda n: 0 < n <= 50,
        },
    ),
    "lake_list": Case(example={}, setup=(LAKE_WRITE,), expect={"total": 1}),
    "lake_versions": Case(
        example={"dataset": "example"}, setup=(LAKE_WRITE,), expect={"dataset": "example", "total": 1}
    ),
    "lake_convert": Case(
        example={"path": "example.csv", "output": "converted.parquet"}, expect={"rows": 200, "columns": 6}
    ),
    "lake_compact": Case(
        example={"dataset": "example"},
        setup=(LAKE_WRITE,),
        expect={"dataset": "example", "from_version": 1, "version": 2, "rows": 200},
    ),
}

CATALOG = {
    "catalog_register": Case(
        example={
            "dataset": "customers",
            "location": "example.parquet",
            "description": "Customer sign-ups with age, income and segment.",
            "owner": "growth",
            "tags": ["pii", "daily"],
        },
        expect={"dataset": "customers", "created": True, "owner": "growth", "rows": 200},
    ),
    "catalog_search": Case(
        example={"text": "cust", "tags": ["pii"]},
        setup=(
            (
                "catalog_register",
                {
                    "dataset": "customers",
                    "location": "example.parquet",
                    "owner": "growth",
                    "tags": ["pii", "daily"],
                },
            ),
        ),
        expect={"total": 1},
    ),
    "catalog_get": Case(
        example={"dataset": "example"}, setup=(PLAIN_WRITE,), expect={"name": "example", "total_versions": 1}
    ),
    "catalog_schema_diff": Case(
        example={"dataset": "example", "a": 1, "b": 2},
        setup=(PLAIN_WRITE, PLAIN_WRITE),
        expect={"added": [], "removed": [], "retyped": [], "compatible": True},
    ),
}

# -- lineage and audit -------------------------------------------------------------------------------

CHAIN: tuple[Call, ...] = (("lake_write", {"source": "example.csv", "dataset": "example"}),)

LINEAGE = {
    "lineage_get": Case(
        example={"entity": "dataset:example", "direction": "both", "depth": 3},
        setup=CHAIN,
        expect={"direction": "both", "node_count": positive},
    ),
    "lineage_export": Case(
        example={"entity": "dataset:example@v1", "direction": "upstream"},
        setup=CHAIN,
        expect={"events": positive},
    ),
    "audit_list": Case(
        example={"tool": "lake_write"},
        setup=CHAIN,
        expect={"entries": lambda entries: [e["tool"] for e in entries] == ["lake_write"]},
    ),
}

# -- mongo (mongomock stands in for MongoDB) ---------------------------------------------------------

DOCS = [
    {"user": "ada", "segment": "a", "amount": 12.5, "tags": ["new"]},
    {"user": "bob", "segment": "b", "amount": 7.0, "tags": []},
    {"user": "cy", "segment": "a", "amount": 3.25, "tags": ["vip", "new"]},
]
EVENTS: tuple[Call, ...] = (("mongo_insert", {"collection": "events", "documents": DOCS}),)


def mongo(example: Mapping[str, Any], expect: Mapping[str, Any], setup: tuple[Call, ...] = EVENTS) -> Case:
    return Case(example=example, expect=expect, setup=setup, needs=("mongomock",))


MONGO = {
    "mongo_insert": mongo(
        {"collection": "events", "documents": DOCS}, {"collection": "events", "inserted": 3}, setup=()
    ),
    "mongo_find": mongo(
        {
            "collection": "events",
            "filter": {"segment": "a", "amount": {"$gte": 3}},
            "projection": {"_id": 0, "user": 1, "amount": 1},
            "sort": {"amount": -1},
            "limit": 10,
        },
        {"documents": [{"user": "ada", "amount": 12.5}, {"user": "cy", "amount": 3.25}], "returned": 2},
    ),
    "mongo_aggregate": mongo(
        {
            "collection": "events",
            "pipeline": [
                {"$group": {"_id": "$segment", "total": {"$sum": "$amount"}, "n": {"$sum": 1}}},
                {"$sort": {"_id": 1}},
            ],
        },
        {"documents": [{"_id": "a", "total": 15.75, "n": 2}, {"_id": "b", "total": 7.0, "n": 1}]},
    ),
    "mongo_list_collections": mongo({}, {"total": 1}),
    "mongo_create_index": mongo(
        {"collection": "events", "keys": {"user": 1}, "unique": True},
        {"collection": "events", "unique": True, "created": True},
    ),
    "mongo_export": mongo(
        {"collection": "events", "dataset": "events_raw", "filter": {"amount": {"$gt": 0}}},
        {"collection": "events", "dataset": "events_raw", "rows": 3},
    ),
}

# -- backup ------------------------------------------------------------------------------------------

METADATA_BACKUP: Call = ("backup_create", {"scope": ["metadata"]})

BACKUP = {
    "backup_create": Case(example={"scope": ["all"]}, expect={"members": nonempty, "bytes": positive}),
    "backup_list": Case(example={"limit": 10}, setup=(METADATA_BACKUP,), expect={"total": 1}),
    "backup_verify": Case(
        example={"id": "latest"}, setup=(METADATA_BACKUP,), expect={"ok": True, "problems": []}
    ),
    "backup_prune": Case(
        example={"keep_last": 1, "keep_daily": 0, **YES},
        setup=(METADATA_BACKUP, METADATA_BACKUP),
        expect={"kept_count": 1, "deleted_count": 1},
    ),
    "backup_restore": Case(
        example={"id": "latest", "target": "new_home", "new_home": "restored-example"},
        setup=(METADATA_BACKUP,),
        expect={"target": "new_home"},
    ),
}

# -- workflow ----------------------------------------------------------------------------------------

# A promotion of a version that does not exist stops at its first gate that needs the registry; the call
# itself still returns a workflow id at once.
PROMOTE = {
    "model": "example-model",
    "candidate_version": "1",
    "dataset": "example.csv",
    "target": "label",
    "gates": {"data": None, "comparison": None, "onnx_parity": False, "canary": None},
}

WORKFLOW = {
    "workflow_promote": Case(
        example=PROMOTE, expect={"workflow_id": nonempty, "status_tool": "workflow_status"}
    ),
    "workflow_status": Case(
        example={"model": "example-model"},
        setup=(("workflow_promote", PROMOTE),),
        expect={"model": "example-model", "candidate_version": "1"},
    ),
    "workflow_list": Case(example={}, expect={"workflows": []}),
}

# -- health and server -------------------------------------------------------------------------------

SERVER = {
    "health_check": Case(example={}, expect={"backends": nonempty, "stored": True}),
    "health_history": Case(
        example={"since": "1h", "limit": 20},
        setup=(("health_check", {}),),
        expect={"entries": lambda entries: len({e["checked_at"] for e in entries}) == 1},  # one run
    ),
    "server_info": Case(example={}, expect={"profile": "all", "read_only": False, "can_enable": {}}),
    # The contract's server has every tool already (profile all); tests/test_enable_tools.py adds some.
    "server_enable_tools": Case(example={"areas": ["registry"]}, expect={"enabled": []}),
}

CASES: dict[str, Case] = {
    **SERVER,
    **VALIDATION,
    **QUALITY,
    **FEATURES,
    **EVALUATION,
    **REGISTRY,
    **ONNX,
    **DEPLOY,
    **MONITOR,
    **AB,
    **LAKE,
    **CATALOG,
    **LINEAGE,
    **MONGO,
    **BACKUP,
    **WORKFLOW,
}
