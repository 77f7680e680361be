"""The quality tools: typed arguments over the use cases in service.py (one thread hop each)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from mcp_server.core.args import (
    Cursor,
    DataFile,
    Engine,
    IncludeSamples,
    Limit200,
    Limit500,
    Overwrite,
    ValidationEngine,
)
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.quality import service
from mcp_server.tools.quality.models import (
    CleanPlan,
    CleanResult,
    CompareResult,
    Condition,
    ConsistencyRule,
    FilterResult,
    HistoryResult,
    HomogeneityResult,
    OutlierFilter,
    OutlierMethod,
    OutlierResult,
    ProfileResult,
    ReportResult,
    ScoreResult,
)

SuiteArg = Annotated[
    str | None,
    Field(None, max_length=140, description="GX suite ('name' or 'name@N') for the validity dimension."),
]
KeyArg = Annotated[
    list[str] | None,
    Field(
        None,
        max_length=20,
        description="Key column(s) for uniqueness and the accuracy join (default: an id-like column if any).",
    ),
]
OutputArg = Annotated[
    str,
    Field(
        description="Path of the new dataset inside the roots; .parquet (default when no suffix), .csv, .jsonl."
    ),
]


async def quality_profile(
    ctx: Ctx,
    dataset: DataFile,
    include_samples: IncludeSamples = True,
    cursor: Cursor = None,
    limit: Limit500 = 50,
    engine: Engine = "auto",
) -> ProfileResult:
    """Profile a dataset per column (type, nulls, distinct, min/max/mean/std/quantiles, top values) and store it for later drift checks."""
    return await service_call(ctx, service.profile, dataset, include_samples, cursor, limit, engine)


async def quality_score(
    ctx: Ctx,
    dataset: DataFile,
    suite: SuiteArg = None,
    reference: Annotated[
        str | None,
        Field(None, description="Trusted dataset to compare cells with (accuracy), joined on the key."),
    ] = None,
    key: KeyArg = None,
    consistency_rules: Annotated[
        list[ConsistencyRule] | None,
        Field(
            None,
            max_length=100,
            description="Cross-field rules {left, op, right}: right is a column name or a value, e.g. {left: 'start', op: '<=', right: 'end'}.",
        ),
    ] = None,
    timestamp_column: Annotated[
        str | None, Field(None, description="Column with each row's time (timeliness).")
    ] = None,
    max_age: Annotated[
        str | None,
        Field(None, max_length=40, description="Rows older than this are stale, e.g. '30d', '12h', 'P7D'."),
    ] = None,
    as_of: Annotated[
        datetime | None, Field(None, description="Reference time for max_age (default: now, UTC).")
    ] = None,
    weights: Annotated[
        dict[str, float] | None,
        Field(
            None,
            description="Dimension -> weight in the overall (default 1 each); renormalized over computed ones.",
        ),
    ] = None,
    threshold: Annotated[
        float | None, Field(None, description="Pass when overall >= threshold (0-100).")
    ] = None,
    engine: ValidationEngine = "auto",
) -> ScoreResult:
    """Score a dataset 0-100 on completeness, uniqueness, validity (GX suite), consistency, timeliness and accuracy, with a weighted overall; stored for quality_history."""
    rules = [r.model_dump() for r in consistency_rules] if consistency_rules else None
    return await service_call(
        ctx,
        service.score,
        dataset,
        suite,
        reference,
        key,
        rules,
        timestamp_column,
        max_age,
        as_of,
        weights,
        threshold,
        engine,
    )


async def quality_history(
    ctx: Ctx,
    dataset: DataFile,
    cursor: Cursor = None,
    limit: Limit200 = 20,
) -> HistoryResult:
    """Stored quality scores of a dataset (every version at that path), newest first, with the change and the trend."""
    return await service_call(ctx, service.history, dataset, cursor, limit)


async def quality_compare(
    ctx: Ctx,
    dataset: DataFile,
    baseline: Annotated[
        str,
        Field(description="Baseline: a dataset path, or 'profile:<id>' (a profile_id from quality_profile)."),
    ],
    alpha: Annotated[
        float, Field(0.05, gt=0, lt=1, description="Significance level of the KS and chi-square tests.")
    ] = 0.05,
    psi_threshold: Annotated[
        float, Field(0.2, gt=0, description="A PSI at or above this also counts as drift.")
    ] = 0.2,
    cursor: Cursor = None,
    limit: Limit500 = 50,
) -> CompareResult:
    """Drift of a new batch against a baseline dataset or stored profile: KS (numeric), chi-square (categorical) and PSI per column, drifted first."""
    return await service_call(ctx, service.compare, dataset, baseline, alpha, psi_threshold, cursor, limit)


async def quality_report(
    ctx: Ctx,
    dataset: DataFile,
    suite: SuiteArg = None,
    key: KeyArg = None,
    threshold: Annotated[
        float | None, Field(None, description="Pass when overall >= threshold (0-100).")
    ] = None,
) -> ReportResult:
    """Write an HTML quality report and a PNG chart (dimension scores, null pattern) as resources, with a short Markdown summary."""
    return await service_call(ctx, service.report, dataset, suite, key, threshold)


async def quality_detect_outliers(
    ctx: Ctx,
    dataset: DataFile,
    columns: Annotated[
        list[str] | None, Field(None, max_length=1000, description="Numeric columns (default: all numeric).")
    ] = None,
    method: Annotated[
        OutlierMethod,
        Field(description="iqr, zscore, mad (per column) or isolation_forest (together)."),
    ] = "iqr",
    threshold: Annotated[
        float | None,
        Field(
            None,
            gt=0,
            description="k for IQR (1.5), |z| (3), modified z for MAD (3.5), contamination for isolation_forest.",
        ),
    ] = None,
    include_samples: IncludeSamples = True,
) -> OutlierResult:
    """Find outliers by IQR, z-score, MAD or IsolationForest: counts per column, the thresholds used, a few sample rows."""
    return await service_call(
        ctx, service.detect_outliers, dataset, columns, method, threshold, include_samples
    )


async def quality_clean(
    ctx: Ctx,
    dataset: DataFile,
    plan: Annotated[
        CleanPlan,
        Field(
            description=(
                "Steps, applied in this order: coerce {column: int|float|string|bool|datetime|category}; strings "
                "{columns, strip, collapse_whitespace, case, unicode_form, remove_control}; duplicates {subset, keep}; "
                "outliers {columns, method: iqr|zscore|mad, action: clip|drop, threshold}; missing [{strategy: "
                "drop|mean|median|mode|constant|ffill, columns, value, order_by}]."
            )
        ),
    ],
    output: OutputArg,
    suite: SuiteArg = None,
    key: KeyArg = None,
    overwrite: Overwrite = False,
) -> CleanResult:
    """Clean a dataset (missing values, outliers, duplicates, types, strings) into a new dataset with lineage, returning the quality score before and after."""
    return await service_call(
        ctx, service.clean, dataset, plan.model_dump(exclude_none=True), output, suite, key, overwrite
    )


async def quality_filter_dataset(
    ctx: Ctx,
    dataset: DataFile,
    rules: Annotated[
        list[Annotated[list[Any], Field(min_length=2, max_length=3)] | Condition],
        Field(
            max_length=100,
            description=(
                "Rows to keep: [column, op, value] with op in ==, !=, >, >=, <, <=, in, not_in, between, is_null, "
                "not_null (e.g. ['age', '>=', 18]); all must hold."
            ),
        ),
    ],
    output: OutputArg,
    dedupe: Annotated[
        bool | list[str],
        Field(description="Drop duplicate rows (true) or rows duplicating these key columns."),
    ] = False,
    label: Annotated[
        str | None, Field(None, description="Label column: rows without a label are dropped.")
    ] = None,
    outliers: Annotated[
        OutlierFilter | None,
        Field(None, description="Drop outlier rows: {columns, method, threshold}."),
    ] = None,
    max_row_null_fraction: Annotated[
        float | None, Field(None, ge=0, le=1, description="Drop rows with a larger share of null cells.")
    ] = None,
    overwrite: Overwrite = False,
) -> FilterResult:
    """Filter a training set by [column, op, value] rules, dedupe, label presence, outlier and null flags into a new dataset; rules are stored beside it and linked in lineage."""
    return await service_call(
        ctx,
        service.filter_dataset,
        dataset,
        rules,
        output,
        dedupe,
        label,
        outliers.model_dump() if outliers else None,
        max_row_null_fraction,
        overwrite,
    )


async def quality_check_homogeneity(
    ctx: Ctx,
    dataset: Annotated[str | None, Field(None, description="A table whose text columns are checked.")] = None,
    folder: Annotated[str | None, Field(None, description="A folder of images checked with Pillow.")] = None,
    columns: Annotated[
        list[str] | None,
        Field(None, max_length=1000, description="Text columns to check (default: all text)."),
    ] = None,
    include_samples: IncludeSamples = True,
) -> HomogeneityResult:
    """Check text columns (encoding errors, Unicode forms, control chars, case, whitespace, mixed scripts) or an image folder (unreadable, formats, modes, sizes) with fixes."""
    return await service_call(ctx, service.check_homogeneity, dataset, folder, columns, include_samples)
