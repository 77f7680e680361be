"""ToolSpec: how an area declares a tool, the areas the server knows, profiles, and the per-tool boundary.

An area's `__init__.py` exports `TOOLS: tuple[ToolSpec, ...]`. Importing it must stay cheap: heavy
libraries are imported by the area's adapter, inside the call, and the area's tool functions are named
through `tools_of("<area>.tools")`, so its tools, models and services are imported only when a tool is
first registered (tools/list from the definitions cache imports none of them).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

from mcp_server.core import auth
from mcp_server.core.config import Settings
from mcp_server.core.confirm import PARAMETER as CONFIRM
from mcp_server.core.confirm import Confirm
from mcp_server.core.errors import MlopsError
from mcp_server.core.idempotency import PARAMETER as IDEMPOTENCY_KEY
from mcp_server.core.output import fit

log = logging.getLogger("mlops_mcp")

# Core profile budget (ARCHITECTURE "Choosing tools").
CORE_TOOL_BUDGET = 30
# How an area is named in a tool's title where capitalising its prefix is not enough.
AREA_TITLES = {"ab": "A/B test", "onnx": "ONNX", "mongo": "MongoDB", "gx": "GX"}


class ToolRef:
    """A tool function named by its module and name, imported on first use (`resolve()`)."""

    __slots__ = ("__name__", "module")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.__name__ = name

    def resolve(self) -> Callable[..., Awaitable[BaseModel]]:
        fn: Callable[..., Awaitable[BaseModel]] = getattr(importlib.import_module(self.module), self.__name__)
        return fn

    def __repr__(self) -> str:
        return f"ToolRef({self.module}.{self.__name__})"


class _LazyTools:
    __slots__ = ("_module",)

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> ToolRef:
        if name.startswith("__"):
            raise AttributeError(name)
        return ToolRef(self._module, name)


def tools_of(module: str) -> Any:
    """An area's tools module without importing it: `t = tools_of("mcp_server.tools.lake.tools")`, then
    `ToolSpec(t.lake_read, ...)` names `lake_read` there; the module is imported on the tool's first use."""
    return _LazyTools(module)


@dataclass(frozen=True)
class ToolSpec:
    """One tool. The function's name is the tool's name; its prefix up to the first '_' is its area."""

    fn: Callable[..., Awaitable[BaseModel]] | ToolRef  # a ToolRef is imported on first use
    core: bool = False  # in the core profile (at most CORE_TOOL_BUDGET tools)
    read_only: bool = False  # ARCHITECTURE.md "Read-only"; a tool that does not say so is a write
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    # Argument names never stored or logged (the audit log redacts them).
    secret_args: tuple[str, ...] = ()
    deadline_s: float | None = None
    # Whether a stopped call's thread is stopped mid-step (core/boundary.py): None means read-only tools
    # only; a write whose library keeps it whole when cut (an MLflow run ends FAILED) may say True.
    interruptible: bool | None = None
    # The calls that move production state and need the user's confirmation first (core/confirm.py):
    # asked through elicitation, else `confirm: true` in the arguments.
    confirm: Confirm | None = None
    # The OAuth scope a caller needs, where `required_scope`'s rule gets it wrong (core/auth.py).
    scope: str | None = None

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def function(self) -> Callable[..., Awaitable[BaseModel]]:
        """The tool function itself (its module imported now, for a ToolRef)."""
        return self.fn.resolve() if isinstance(self.fn, ToolRef) else self.fn

    @property
    def module(self) -> str:
        """The module that defines the tool function (without importing it)."""
        return self.fn.module if isinstance(self.fn, ToolRef) else str(getattr(self.fn, "__module__", ""))

    @property
    def area(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def title(self) -> str:
        """The human title clients show: 'Registry: set alias', 'A/B test: analyze'."""
        rest = self.name.split("_", 1)[1] if "_" in self.name else self.name
        return f"{AREA_TITLES.get(self.area, self.area.capitalize())}: {rest.replace('_', ' ')}"

    @property
    def description(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0].strip()

    @property
    def required_scope(self) -> str:
        """The one place a tool's OAuth scope is decided (tests/test_oauth.py lists every tool's): the
        spec's own `scope`, else read-only -> mlops:read; a write of the deploy area -> mlops:deploy;
        destructive or confirmed -> mlops:admin; any other write -> mlops:write. Over stdio and the static
        token every tool stays callable."""
        if self.scope is not None:
            return self.scope
        if self.read_only:
            return auth.READ
        if self.area == "deploy":
            return auth.DEPLOY
        if self.destructive or self.confirm is not None:
            return auth.ADMIN
        return auth.WRITE

    @property
    def keyed(self) -> bool:
        """Takes an `idempotency_key` from the boundary: it writes, a repeat would write again, and it
        has no key of its own."""
        from mcp_server.core.idempotency import PARAMETER

        return (
            not self.read_only
            and not self.idempotent
            and PARAMETER not in inspect.signature(self.function).parameters
        )

    @property
    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            read_only_hint=self.read_only,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


@dataclass(frozen=True)
class Area:
    name: str
    module: str
    extra: str | None = None  # the pip extra that installs its library; None for the core


# Every area the server can register, in the order tools are listed. Later areas add a line here.
AREAS: tuple[Area, ...] = (
    Area("health", "mcp_server.core.server_specs"),
    Area("server", "mcp_server.core.server_specs"),
    Area("validation", "mcp_server.tools.validation", extra="gx"),
    Area("quality", "mcp_server.tools.quality", extra="quality"),
    Area("features", "mcp_server.tools.features", extra="feast"),
    Area("evaluation", "mcp_server.tools.evaluation", extra="mlflow"),
    Area("registry", "mcp_server.tools.registry", extra="mlflow"),
    Area("onnx", "mcp_server.tools.onnx", extra="onnx"),
    Area("deploy", "mcp_server.tools.deploy", extra="serve"),
    Area("monitor", "mcp_server.tools.monitor", extra="serve"),
    Area("ab", "mcp_server.tools.ab", extra="stats"),
    Area("lake", "mcp_server.tools.lake", extra="lake"),
    Area("catalog", "mcp_server.tools.catalog", extra="lake"),
    Area("lineage", "mcp_server.tools.lineage"),
    Area("audit", "mcp_server.tools.lineage"),
    Area("mongo", "mcp_server.tools.mongo", extra="mongo"),
    Area("backup", "mcp_server.tools.backup"),
    Area("workflow", "mcp_server.tools.workflow", extra="mlflow"),
)
ALWAYS_ON = frozenset({"health", "server"})

# Extra -> modules it installs (checked with find_spec, which does not import them).
EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg",),
    "gx": ("great_expectations", "pandas", "pyarrow"),
    "duckdb": ("duckdb", "duckdb_engine"),
    "quality": ("great_expectations", "sklearn", "scipy", "matplotlib", "PIL"),
    "stats": ("scipy", "statsmodels", "numpy"),
    "lake": ("pyarrow", "pandas"),
    "feast": ("feast", "pandas"),
    "mlflow": ("mlflow", "sklearn", "scipy", "skops"),
    "onnx": ("onnx", "onnxruntime", "skl2onnx"),
    "serve": ("onnxruntime", "numpy", "httpx", "tenacity", "docker", "datasketches"),
    "s3": ("boto3", "pyarrow"),
    "mongo": ("pymongo",),
    "spark": ("pyspark",),
}


@functools.cache
def extra_installed(extra: str) -> bool:
    # Cached: find_spec walks sys.path, and what is installed does not change under a running server.
    return all(importlib.util.find_spec(mod) is not None for mod in EXTRAS[extra])


def installed_extras() -> dict[str, bool]:
    return {extra: extra_installed(extra) for extra in EXTRAS}


def area_tools(area: Area) -> tuple[ToolSpec, ...]:
    module = importlib.import_module(area.module)
    return tuple(spec for spec in module.TOOLS if spec.area == area.name)


def area_probes(area: Area) -> dict[str, Any]:
    """An area's health probes: `PROBES = {"name": async probe(app) -> (ok, detail, fix)}` in its module."""
    return dict(getattr(importlib.import_module(area.module), "PROBES", {}))


def all_specs() -> list[ToolSpec]:
    return [spec for area in AREAS for spec in area_tools(area)]


def enableable(settings: Settings, current: Iterable[str]) -> list[ToolSpec]:
    """The tools `server_enable_tools` may add to this server: what its profile left out of its enabled
    areas. The operator's other choices hold: no area outside `--tools` or without its extra, and no write
    on a `--read-only` server."""
    everything, _enabled, _disabled = select(settings.model_copy(update={"profile": "all"}))
    have = set(current)
    return [spec for spec in everything if spec.name not in have]


def enabled_areas(names: list[str]) -> list[Area]:
    return [a for a in AREAS if a.name in names]


def select(settings: Settings) -> tuple[list[ToolSpec], list[str], dict[str, str]]:
    """The tools to register for these settings, the enabled areas, and why other areas are off.

    Profile `core` keeps tools marked core, `all` keeps every tool; `--tools a,b` restricts to those
    areas (plus health and server) and registers all of their tools; `--read-only` drops every tool
    that is not read-only.
    """
    known = {a.name for a in AREAS}
    wanted = set(settings.tools) if settings.tools else None
    if wanted is not None and (unknown := wanted - known):
        raise MlopsError(f"Unknown area(s) {sorted(unknown)}; choose from {sorted(known)}.")
    specs: list[ToolSpec] = []
    enabled: list[str] = []
    disabled: dict[str, str] = {}
    for area in AREAS:
        if wanted is not None and area.name not in wanted and area.name not in ALWAYS_ON:
            disabled[area.name] = "not in --tools"
            continue
        if area.extra is not None and not extra_installed(area.extra):
            disabled[area.name] = (
                f"extra '{area.extra}' not installed (pip install 'mlops-mcp[{area.extra}]')"
            )
            continue
        enabled.append(area.name)
        for spec in area_tools(area):
            if settings.read_only and not spec.read_only:
                continue
            if wanted is None and settings.profile == "core" and not spec.core:
                continue
            specs.append(spec)
    return specs, enabled, disabled


def bind(spec: ToolSpec, settings: Settings) -> Callable[..., Awaitable[Any]]:
    """Wrap a tool function in the boundary (core/boundary.py): one deadline for the whole call, the
    call's scope for `service_call`, idempotency keys for writes, library and project errors -> tool
    errors, crashes masked, the result shaped to fit the output cap.

    The wrapper keeps the function's signature (plus `idempotency_key` where the tool takes one from
    here, and `confirm` where its calls need confirmation) so the SDK derives the input and output
    schemas from it. A confirmation is settled before anything runs, so a refusal touches nothing.
    """
    from mcp_server.core.boundary import Control, call_deadline, call_scope, progress_reporter
    from mcp_server.core.client_log import forwarding
    from mcp_server.core.errors import from_library

    fn = spec.function
    signature = inspect.signature(fn, eval_str=True)
    keyed = spec.keyed
    result_type = signature.return_annotation

    async def run(kwargs: dict[str, Any]) -> Any:
        deadline = call_deadline(settings, spec.deadline_s, kwargs.get("deadline_s"))
        ctx = kwargs.get("ctx")
        async with forwarding(ctx):
            with (
                call_scope(
                    deadline,
                    spec.name,
                    progress_reporter(ctx) if ctx is not None else None,
                    interruptible=spec.read_only if spec.interruptible is None else spec.interruptible,
                ),
                anyio.CancelScope(deadline=anyio.current_time() + deadline) as scope,
            ):
                result = await fn(**kwargs)
        if scope.cancelled_caught:
            raise Control(deadline, what=spec.name).late()  # the one wording of a deadline error
        return result

    @functools.wraps(fn)
    async def boundary(**kwargs: Any) -> Any:
        key = kwargs.pop(IDEMPOTENCY_KEY, None) if keyed else None
        try:
            if spec.confirm is not None:
                _settle_confirmation(spec.confirm, kwargs)
            if key is None:
                return fit(await run(kwargs), settings.max_output_bytes)
            return fit(
                await _run_once(spec, settings, key, kwargs, run, result_type), settings.max_output_bytes
            )
        except MlopsError as err:
            raise ToolError(err.message) from None
        except Exception as exc:
            mapped = from_library(exc)
            if mapped is not None:
                raise ToolError(mapped.message) from None
            incident = uuid.uuid4().hex[:8]
            log.exception("internal error in %s (id %s)", spec.name, incident)
            raise ToolError(
                f"internal error (id {incident}); the server's log on stderr has the details."
            ) from None

    extras: list[inspect.Parameter] = []
    if keyed:
        from typing import Annotated

        from pydantic import Field

        from mcp_server.core.idempotency import DESCRIPTION

        extras.append(
            inspect.Parameter(
                IDEMPOTENCY_KEY,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[
                    str | None, Field(None, min_length=1, max_length=128, description=DESCRIPTION)
                ],
            )
        )
    if spec.confirm is not None:
        extras.extend(
            _confirmation_parameters(spec.confirm, [*signature.parameters, *(p.name for p in extras)])
        )
        # The SDK finds the resolved parameter through the type hints (a copy: wraps() shares fn's dict).
        boundary.__annotations__ = {**fn.__annotations__, CONFIRMATION: extras[-1].annotation}
    if extras:
        boundary.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), *extras]
        )
    return boundary


# The boundary's parameter the SDK fills before the call runs (never part of the input schema).
CONFIRMATION = "confirmation"


def _confirmation_parameters(rule: Confirm, names: list[str]) -> list[inspect.Parameter]:
    """`confirm` (in the input schema) and `confirmation`, which the SDK resolves before the tool runs:
    `decide` sees the validated arguments and says run, refuse, or ask the user (an `Elicit`, which the
    SDK sends mid-call on protocols before 2026-07-28 and as an input-required round from then on)."""
    from typing import Annotated

    from mcp.server.elicitation import ElicitationResult
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver.resolve import Elicit, Resolve
    from pydantic import Field

    from mcp_server.core import confirm as policy

    async def decide(ctx: Context[Any, Any], **arguments: Any) -> Any:
        step = policy.step(rule, arguments, _can_elicit(ctx))
        return Elicit(rule.question(arguments), policy.Answer) if step == "ask" else step

    keyword = inspect.Parameter.KEYWORD_ONLY
    by_name = [inspect.Parameter(n, keyword) for n in names if n != "ctx"]
    decide.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("ctx", keyword, annotation=Context), *by_name, inspect.Parameter(CONFIRM, keyword)]
    )
    decide.__annotations__ = {"ctx": Context}
    return [
        inspect.Parameter(
            CONFIRM,
            keyword,
            default=False,
            annotation=Annotated[bool, Field(False, description=policy.DESCRIPTION)],
        ),
        inspect.Parameter(
            CONFIRMATION,
            keyword,
            annotation=Annotated[ElicitationResult[policy.Answer], Resolve(decide)],
        ),
    ]


def _can_elicit(ctx: Any) -> bool:
    """The client declared form elicitation (a bare `elicitation: {}` counts, as in the SDK)."""
    try:
        capabilities = ctx.client_capabilities
    except (ValueError, AttributeError):  # no request (a direct call): nobody to ask
        return False
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _settle_confirmation(rule: Confirm, kwargs: dict[str, Any]) -> None:
    """Takes `confirm` and the resolved outcome out of the call's arguments; raises NotConfirmed unless
    the call may run."""
    from mcp_server.core import confirm as policy

    outcome = kwargs.pop(CONFIRMATION)
    arguments = {k: v for k, v in kwargs.items() if k != "ctx"}
    kwargs.pop(CONFIRM, None)
    data = getattr(outcome, "data", None)
    if outcome.action == "accept" and data == "run":
        return
    if outcome.action == "accept" and data == "refuse":
        raise policy.refused(rule, arguments)
    policy.check_answer(rule, arguments, outcome.action, data)


async def _run_once(
    spec: ToolSpec,
    settings: Settings,
    key: str,
    kwargs: dict[str, Any],
    run: Callable[[dict[str, Any]], Awaitable[Any]],
    result_type: Any,
) -> Any:
    """The call under its idempotency key: the stored result of an earlier call, or this call's, kept."""
    import anyio.to_thread

    from mcp_server.core import idempotency
    from mcp_server.core.context import app_context

    store = app_context(kwargs["ctx"]).store
    digest = idempotency.arguments_digest(kwargs)
    stale_after = settings.max_deadline_s + 60
    stored = await anyio.to_thread.run_sync(idempotency.claim, store, spec.name, key, digest, stale_after)
    if stored is not None:
        return result_type.model_validate_json(stored)
    try:
        result = await run(kwargs)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(idempotency.settle, store, spec.name, key, None)
        raise
    await anyio.to_thread.run_sync(idempotency.settle, store, spec.name, key, result.model_dump_json())
    return result


def tool_table(specs: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "area": s.area,
            "core": s.core,
            "readOnly": s.read_only,
            "destructive": s.destructive,
            "idempotent": s.idempotent,
            "openWorld": s.open_world,
            "scope": s.required_scope,
            "description": s.description,
        }
        for s in specs
    ]
