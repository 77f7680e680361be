"""MCP prompts: short guided sequences of tool calls for the common jobs.

Each prompt is static text with the caller's arguments filled in; it names tools, never runs them. The
arguments are identifiers and paths the assistant chose, quoted as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _q(value: str) -> str:
    """A caller's value as a JSON string literal: data, never instructions."""
    return json.dumps(value)


def validate_dataset(dataset: str, suite: str = "") -> str:
    """Check a dataset: validate it against a suite (suggest one if none), score its quality, explain failures."""
    suite_step = (
        f"1. Run `validation_run` with dataset={_q(dataset)} and suite={_q(suite)}."
        if suite
        else (
            f"1. No suite was named: call `validation_list_suites`; if none fits, call `validation_suggest_suite` "
            f"on dataset={_q(dataset)}, review the proposed expectations with the user, save it with "
            "`validation_create_suite`, then run it with `validation_run`."
        )
    )
    return "\n".join(
        [
            f"Goal: tell the user whether the dataset {_q(dataset)} is fit to use, and why.",
            suite_step,
            "2. Run `validation_check_integrity` on it (nulls in keys, duplicates, type drift).",
            "3. Run `quality_score` on it (with the same suite) for the dimension scores and the overall score.",
            "4. Summarize: which expectations failed (with counts and a few unexpected values), the quality "
            "dimensions below 90, and the one or two fixes that matter most (`quality_clean` can apply them).",
        ]
    )


def compare_and_promote(dataset: str, target: str, model: str) -> str:
    """Compare candidate models on a dataset, register the better one and promote it only if it is really better."""
    return "\n".join(
        [
            f"Goal: find the best model for target {_q(target)} on {_q(dataset)} and promote it as {_q(model)}.",
            "1. Validate the data first (`validation_run`, `quality_score`); stop and report if it fails.",
            "2. `evaluation_compare_models` on the candidates (same folds for all); note the best, the test used "
            "and its p-value. A difference that is not significant is not a reason to switch.",
            "3. `evaluation_train_model` for the winner, then `registry_register_model` with its run id as "
            f"source and name={_q(model)}.",
            "4. `registry_get_version` with alias `champion` to see the current champion, if any; "
            "`registry_compare_versions` the new version against it.",
            "5. Prefer `workflow_promote` (data gate, comparison gate, model tests, ONNX parity, canary) over "
            "moving the alias by hand; otherwise `registry_set_alias` champion with a reason. "
            "`registry_rollback` undoes an alias change.",
        ]
    )


def safe_rollout(endpoint: str, model: str, version: str) -> str:
    """Roll a registered model version out to an endpoint as a canary, watch it, and roll back on trouble."""
    return "\n".join(
        [
            f"Goal: move live traffic on endpoint {_q(endpoint)} to {_q(model)} version {_q(version)} safely.",
            "1. `onnx_convert` the version (the parity check must pass); `deploy_gateway_status`, and "
            "`deploy_gateway_start` if it is not running.",
            "2. If the endpoint does not exist yet, `deploy_create_endpoint` and stop there: there is nothing to "
            "canary against. Otherwise `deploy_canary_start` with the candidate version, conservative steps "
            "(e.g. 5, 25, 50, 100) and limits on error rate and p99 latency.",
            "3. Poll `deploy_canary_status` with the rollout id: report each step's state, weights and the reason "
            "for the last decision. `waiting_for_traffic` means the candidate has not seen enough requests yet.",
            "4. On trouble `deploy_canary_abort` (or `deploy_rollback`, which moves traffic back; "
            "`registry_rollback` only moves an alias).",
        ]
    )


def investigate_data_drift(new_batch: str, training_data: str, suite: str = "", endpoint: str = "") -> str:
    """Find out whether and how a new batch of data (or a served endpoint's traffic, e.g. after a drift
    alert) differs from the data a model was trained on, and what to do about it."""
    run_suite = (
        f"`validation_run` the new batch with suite={_q(suite)}."
        if suite
        else "`validation_list_suites` and run the training data's suite on the new batch with `validation_run`."
    )
    steps = [f"Goal: explain what changed between {_q(training_data)} (training) and {_q(new_batch)} (new)."]
    if endpoint:
        steps += [
            f"`monitor_drift` endpoint {_q(endpoint)} against its reference: PSI and KS per feature from the "
            "gateway's sketches, drifted features first, and the drift of its predictions.",
            f"`monitor_performance` endpoint {_q(endpoint)}: has accuracy (or RMSE) moved in the same windows? "
            "(outcomes arrive through `monitor_record_outcomes`).",
        ]
    steps += [
        f"`quality_profile` the new batch {_q(new_batch)} (it is stored for later comparisons).",
        f"`quality_compare` the new batch against {_q(training_data)}: KS / chi-square / PSI per column on the "
        "raw rows, drifted columns first.",
        run_suite,
        "Summarize: the drifted columns with their statistics and what moved (means, categories), the "
        "expectations that now fail, and whether a retrain or a data fix is the right next step.",
    ]
    if endpoint:
        steps += [
            "If a retrain is right: `evaluation_train_model` on data that includes the new batch, "
            "`registry_register_model` the run, then `workflow_promote` it (data gate, champion comparison, "
            f"ONNX parity, canary) onto endpoint {_q(endpoint)}; `monitor_watch_rules` shows when the alert clears.",
        ]
    return "\n".join([steps[0], *(f"{i}. {text}" for i, text in enumerate(steps[1:], 1))])


PROMPTS: tuple[Callable[..., Any], ...] = (
    validate_dataset,
    compare_and_promote,
    safe_rollout,
    investigate_data_drift,
)


def register_prompts(server: Any) -> None:
    for fn in PROMPTS:
        server.prompt(name=fn.__name__, description=(fn.__doc__ or "").strip())(fn)
