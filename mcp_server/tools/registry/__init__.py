"""The registry area: the model registry on MLflow: versions, aliases with history and rollback, comparisons, model cards.

Aliases live in MLflow; their history (who, when, why, from -> to) lives in the metadata store
(revision 0007). `core.mlmodels.resolve_version` is the contract other areas use. Importing this module is
cheap: MLflow loads inside the calls.
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.registry.tools import (
    REGISTER_DEADLINE_S,
    registry_alias_history,
    registry_archive_version,
    registry_compare_versions,
    registry_delete_version,
    registry_get_version,
    registry_list_models,
    registry_model_card,
    registry_register_model,
    registry_rollback,
    registry_search_versions,
    registry_set_alias,
)

_MODEL = "example-model"
_TRAIN = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "LogisticRegression",
        "params": {"solver": "liblinear"},
        "features": ["age", "income", "segment"],
        "name": "example-registry",
    },
)
_TRAIN_B = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "DummyClassifier",
        "features": ["age", "income", "segment"],
        "name": "example-registry-b",
    },
)
_REGISTER = ("registry_register_model", {"name": _MODEL, "source": "example-registry"})
_REGISTER_B = ("registry_register_model", {"name": _MODEL, "source": "example-registry-b"})
_CHAMPION_1 = ("registry_set_alias", {"name": _MODEL, "alias": "champion", "version": "1"})
_CHAMPION_2 = ("registry_set_alias", {"name": _MODEL, "alias": "champion", "version": "2"})

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        registry_register_model,
        core=True,
        read_only=False,
        example={
            "name": _MODEL,
            "source": "example-registry",
            "description": "label model",
            "tags": {"team": "demo"},
        },
        setup=(_TRAIN,),
        deadline_s=REGISTER_DEADLINE_S,
    ),
    ToolSpec(
        registry_list_models,
        core=False,
        read_only=True,
        idempotent=True,
        example={"limit": 5},
        setup=(_TRAIN, _REGISTER),
    ),
    ToolSpec(
        registry_search_versions,
        core=False,
        read_only=True,
        idempotent=True,
        example={"name": _MODEL, "filter": [{"field": "metrics.test_accuracy", "op": ">=", "value": 0}]},
        setup=(_TRAIN, _REGISTER),
    ),
    ToolSpec(
        registry_get_version,
        core=True,
        read_only=True,
        idempotent=True,
        example={"name": _MODEL, "alias": "champion"},
        setup=(_TRAIN, _REGISTER, _CHAMPION_1),
    ),
    ToolSpec(
        registry_set_alias,
        core=True,
        read_only=False,
        idempotent=True,
        example={"name": _MODEL, "alias": "champion", "version": "1", "reason": "best accuracy"},
        setup=(_TRAIN, _REGISTER),
    ),
    ToolSpec(
        registry_rollback,
        core=False,
        read_only=False,
        destructive=True,
        example={"name": _MODEL, "alias": "champion", "reason": "v2 regressed"},
        setup=(_TRAIN, _TRAIN_B, _REGISTER, _REGISTER_B, _CHAMPION_1, _CHAMPION_2),
    ),
    ToolSpec(
        registry_alias_history,
        core=False,
        read_only=True,
        idempotent=True,
        example={"name": _MODEL, "alias": "champion"},
        setup=(_TRAIN, _REGISTER, _CHAMPION_1),
    ),
    ToolSpec(
        registry_compare_versions,
        core=False,
        read_only=True,
        idempotent=True,
        example={"name": _MODEL, "a": "1", "b": "2", "metric": "test_accuracy"},
        setup=(_TRAIN, _TRAIN_B, _REGISTER, _REGISTER_B),
    ),
    ToolSpec(
        registry_archive_version,
        core=False,
        read_only=False,
        idempotent=True,
        example={"name": _MODEL, "version": "1"},
        setup=(_TRAIN, _REGISTER),
    ),
    ToolSpec(
        registry_delete_version,
        core=False,
        read_only=False,
        destructive=True,
        example={"name": _MODEL, "version": "1"},
        setup=(_TRAIN, _REGISTER),
    ),
    ToolSpec(
        registry_model_card,
        core=False,
        read_only=True,
        idempotent=True,
        example={"name": _MODEL, "version": "1"},
        setup=(_TRAIN, _REGISTER, _CHAMPION_1),
    ),
)
