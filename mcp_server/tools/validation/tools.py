"""The validation tools: typed arguments over the use cases in service.py (one thread hop each)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.args import (
    Cursor,
    DataFile,
    IncludeSamples,
    Limit200,
    Limit500,
    SuiteRef,
    ValidationEngine,
)
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.validation import service
from mcp_server.tools.validation.models import (
    ExpectationSpec,
    IntegrityRule,
    ResultList,
    SuggestedSuite,
    SuiteDeleted,
    SuiteDetail,
    SuiteList,
    SuiteSaved,
    ValidationReport,
)

RunDatasetArg = Annotated[
    str,
    Field(
        description="CSV, TSV, Parquet, JSON or JSON Lines file inside the allowed roots, or a lake dataset "
        "'lake:<name>[@<version>]' (validated on Spark)."
    ),
]
DeadlineArg = Annotated[
    float | None,
    Field(
        None, gt=0, description="Stop after this many seconds (default and maximum: the server's deadline)."
    ),
]


async def validation_create_suite(
    ctx: Ctx,
    name: Annotated[str, Field(description="Suite name; saving an existing name makes its next version.")],
    expectations: Annotated[
        list[ExpectationSpec],
        Field(
            description="GX expectations as {type, kwargs[, meta]}, e.g. {type: 'expect_column_values_to_not_be_null', kwargs: {column: 'id'}}."
        ),
    ],
    description: Annotated[
        str | None, Field(None, max_length=2000, description="What the suite checks.")
    ] = None,
) -> SuiteSaved:
    """Save a Great Expectations suite (GX serialized expectations) as a new version of `name`; use before validation_run."""
    return await service_call(
        ctx, service.create_suite, name, [e.model_dump(exclude_none=True) for e in expectations], description
    )


async def validation_suggest_suite(
    ctx: Ctx,
    dataset: DataFile,
    name: Annotated[str, Field(description="Name for the proposed suite.")],
    save: Annotated[bool, Field(description="Also save the proposal as the next version of `name`.")] = False,
    max_categories: Annotated[
        int,
        Field(ge=1, le=200, description="Columns with at most this many distinct values get a value set."),
    ] = 20,
    include_samples: IncludeSamples = True,
) -> SuggestedSuite:
    """Profile a dataset and propose a GX suite (types, null rates, ranges, value sets, uniqueness, patterns) to edit, saved only with save=true."""
    return await service_call(
        ctx, service.suggest_suite, dataset, name, save, max_categories, include_samples
    )


async def validation_list_suites(ctx: Ctx, cursor: Cursor = None, limit: Limit500 = 50) -> SuiteList:
    """List the saved GX suites with their versions and expectation counts."""
    return await service_call(ctx, service.list_suites, cursor, limit)


async def validation_get_suite(
    ctx: Ctx, suite: SuiteRef, cursor: Cursor = None, limit: Limit500 = 50
) -> SuiteDetail:
    """Show one suite version's expectations in GX serialized form (name = latest, name@N = version N)."""
    return await service_call(ctx, service.get_suite, suite, cursor, limit)


async def validation_delete_suite(ctx: Ctx, suite: SuiteRef) -> SuiteDeleted:
    """Delete a suite from the GX store: 'name@N' deletes version N, 'name' deletes every version (stored results stay)."""
    return await service_call(ctx, service.delete_suite, suite)


async def validation_run(
    ctx: Ctx,
    dataset: RunDatasetArg,
    suite: SuiteRef,
    include_samples: IncludeSamples = True,
    limit: Limit500 = 50,
    deadline_s: DeadlineArg = None,
    engine: ValidationEngine = "auto",
) -> ValidationReport:
    """Validate a dataset against a saved GX suite; returns per-expectation results (failures first), a result id and an HTML report link."""
    return await service_call(ctx, service.run, dataset, suite, include_samples, limit, engine)


async def validation_check_integrity(
    ctx: Ctx,
    dataset: DataFile,
    rules: Annotated[
        list[IntegrityRule],
        Field(
            min_length=1,
            max_length=100,
            description=(
                "Rules by kind: foreign_key {column, reference, reference_column}; compare {left, op, right}; "
                "sum_equals {columns, equals, tolerance}; required_if {column, when: {column, op, value}}; "
                "expectation {type, kwargs} for any GX business rule."
            ),
        ),
    ],
    include_samples: IncludeSamples = True,
    limit: Limit500 = 50,
    deadline_s: DeadlineArg = None,
    engine: ValidationEngine = "auto",
) -> ValidationReport:
    """Check referential integrity, cross-field rules (A > B, A + B == C, B required if A) and business rules through GX."""
    return await service_call(
        ctx, service.check_integrity, dataset, [r.model_dump() for r in rules], include_samples, limit, engine
    )


async def validation_get_result(
    ctx: Ctx,
    result_id: Annotated[
        str, Field(description="Id from validation_run (or validation:<id>), or 'latest'.", max_length=64)
    ],
    cursor: Cursor = None,
    limit: Limit500 = 50,
    failures_only: Annotated[bool, Field(description="Only the failed expectations.")] = False,
) -> ValidationReport:
    """Fetch a stored validation result by id (or 'latest') and page through its per-expectation results."""
    return await service_call(ctx, service.get_result, result_id, cursor, limit, failures_only)


async def validation_list_results(
    ctx: Ctx,
    dataset: Annotated[str | None, Field(None, description="Only results for this file.")] = None,
    suite: Annotated[
        str | None, Field(None, description="Only results of this suite ('name' or 'name@N').")
    ] = None,
    cursor: Cursor = None,
    limit: Limit200 = 20,
) -> ResultList:
    """List stored validation results, newest first, optionally for one dataset or suite."""
    return await service_call(ctx, service.list_results, dataset, suite, cursor, limit)
