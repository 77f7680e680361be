"""What each tool is meant to do to the world, written by hand from its description: the contract test
checks the annotations `tools/list` reports against this table, never against the ToolSpec they came from.

Words (any order):
- `read`: changes nothing a user owns and nothing another tool reads as state (ARCHITECTURE.md,
  "Read-only"): appending its own result record (a validation result, a score) or writing a report or
  export under the home does not count. `write`: everything else.
- `record`: a read that appends a new result record (with a new id) on every call, so a repeat is not
  free: read-only but not idempotent. Any other read is idempotent.
- `destroys`: may delete or replace something that existed (a file with overwrite=true, an alias or
  traffic moved back, a version deleted), not only add.
- `repeatable` (writes only): a repeat with the same arguments changes nothing more and answers as the
  first call did; a write that is not repeatable takes an `idempotency_key` (core/idempotency.py).
- `open`: reaches outside the server's configured backends (the Docker engine and its registries).
"""

from __future__ import annotations

from dataclasses import dataclass

INTENT: dict[str, str] = {
    # The history row health_check leaves is the server's own log (the watcher writes the same rows).
    "health_check": "read",
    "health_history": "read",
    "server_info": "read",
    "server_enable_tools": "read",  # which tools this process offers: nothing a user owns or a tool reads
    "validation_create_suite": "write",  # each save is a new version
    "validation_suggest_suite": "write",  # save=true saves a new suite version
    "validation_list_suites": "read",
    "validation_get_suite": "read",
    "validation_delete_suite": "write destroys repeatable",  # a deleted version stays deleted
    "validation_run": "read record",
    "validation_get_result": "read",
    "validation_list_results": "read",
    "validation_check_integrity": "read record",
    "quality_profile": "read record",  # stored for later drift checks
    "quality_score": "read record",  # stored for quality_history
    "quality_history": "read",
    "quality_compare": "read",
    "quality_report": "read record",
    "quality_detect_outliers": "read",
    "quality_clean": "write destroys",  # a new dataset; overwrite=true replaces an existing file
    "quality_filter_dataset": "write destroys",  # likewise
    "quality_check_homogeneity": "read",
    "features_init": "write repeatable",  # creates the repo once, then reports it
    "features_scaffold": "write",  # refuses an existing output: a repeat fails
    "features_plan": "read",  # "changes nothing"
    "features_apply": "write destroys repeatable",  # deletes objects the file no longer has
    "features_list": "read",
    "features_describe": "read",
    "features_materialize": "write",  # incremental runs move on from the last one
    "features_get_online": "read",
    "features_get_historical": "write",  # writes a new dataset
    "features_validate": "read record",  # stored like validation_run's
    "evaluation_train_model": "write",  # logs a new MLflow run
    "evaluation_list_runs": "read",
    "evaluation_cross_validate": "read",
    "evaluation_compare_models": "read",
    "evaluation_residuals": "read",
    "evaluation_diagnostics": "read",
    "evaluation_test_model": "read",
    "registry_register_model": "write",  # a new version each call
    "registry_list_models": "read",
    "registry_search_versions": "read",
    "registry_get_version": "read",
    "registry_set_alias": "write repeatable",
    "registry_rollback": "write destroys",  # again: one further back
    "registry_alias_history": "read",
    "registry_compare_versions": "read",
    "registry_archive_version": "write repeatable",
    "registry_delete_version": "write destroys",  # a repeat answers "no such version"
    "registry_model_card": "read",  # the card is a report
    "onnx_convert": "write",  # logs a twin to MLflow
    "onnx_inspect": "read",
    "onnx_benchmark": "read",
    "deploy_gateway_start": "write repeatable",  # or reports the running one
    "deploy_gateway_stop": "write repeatable",
    "deploy_gateway_status": "read",
    "deploy_create_endpoint": "write repeatable",  # the same endpoint again is reported, not duplicated
    "deploy_list": "read",
    "deploy_status": "read",
    "deploy_predict": "read",
    "deploy_delete_endpoint": "write destroys",  # a repeat answers "no such endpoint"
    "deploy_build_image": "write open",  # the Docker engine, base images from their registry
    "deploy_export_manifests": "read",  # a YAML artifact
    "deploy_canary_start": "write",  # a new rollout id each call
    "deploy_canary_status": "read",
    "deploy_canary_promote": "write",
    "deploy_canary_abort": "write destroys",  # unloads the candidate
    "deploy_blue_green_prepare": "write repeatable",
    "deploy_blue_green_switch": "write destroys",  # moves all traffic
    "deploy_rollback": "write destroys",  # moves all traffic back
    "deploy_history": "read",
    "deploy_batch_predict": "write",  # a new job (and output dataset) each call
    "deploy_batch_status": "read",
    "deploy_batch_cancel": "write repeatable",  # a job that ended is reported as it is
    "monitor_drift": "read record",  # appends its stored result (and a lineage edge) each call
    "monitor_record_outcomes": "write repeatable",  # the same outcome again leaves the same state
    "monitor_performance": "read",
    "monitor_watch_rules": "write repeatable",  # replaces the endpoint's rules; omit them to list
    "ab_design": "read",
    "ab_create": "write",
    "ab_record": "write",  # takes its own idempotency_key
    "ab_analyze": "read",
    "ab_list": "read",
    "ab_get": "read",
    "ab_stop": "write repeatable",
    "lake_write": "write",  # a new immutable version each call
    "lake_read": "read",  # the full result is a report file
    "lake_list": "read",
    "lake_versions": "read",
    "lake_convert": "write destroys",  # overwrite=true replaces an existing file
    "lake_compact": "write",  # a new version; the old ones stay
    "catalog_register": "write repeatable",  # the same registration again changes nothing
    "catalog_search": "read",
    "catalog_get": "read",
    "catalog_schema_diff": "read",
    "lineage_get": "read",
    "lineage_export": "read",  # an export file
    "audit_list": "read",
    "mongo_insert": "write",
    "mongo_find": "read",
    "mongo_aggregate": "read",  # the pipeline allowlist refuses $out and $merge
    "mongo_list_collections": "read",
    "mongo_create_index": "write repeatable",  # an identical index is reported
    "mongo_export": "write",  # a new lake version each call
    "backup_create": "write",
    "backup_list": "read",
    "backup_verify": "read",
    "backup_prune": "write destroys repeatable",  # keeps the newest N: a repeat finds nothing more
    "backup_restore": "write destroys",  # in place it replaces the home
    "workflow_promote": "write",  # a new workflow each call
    "workflow_status": "read",
    "workflow_list": "read",
}

WORDS = {"read", "write", "record", "destroys", "repeatable", "open"}


@dataclass(frozen=True)
class Hints:
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool

    @property
    def keyed(self) -> bool:
        """The server adds `idempotency_key` to a write that is not repeatable (unless it has its own)."""
        return not self.read_only and not self.idempotent


def hints(name: str) -> Hints:
    words = set(INTENT[name].split())
    assert words <= WORDS and len(words & {"read", "write"}) == 1, f"{name}: {INTENT[name]!r}"
    read = "read" in words
    assert not (read and words & {"destroys", "repeatable"}), f"{name}: a read neither destroys nor repeats"
    assert read or "record" not in words, f"{name}: only a read appends a record"
    return Hints(
        read_only=read,
        destructive="destroys" in words,
        idempotent=("record" not in words) if read else "repeatable" in words,
        open_world="open" in words,
    )
