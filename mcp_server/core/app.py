"""create_server(settings): the SDK server with every enabled area registered; the stdio and HTTP runners.

This module and core/context.py are the only ones that import the SDK's server classes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, InputRequiredResult
from mcp.types import Prompt as MCPPrompt
from mcp.types import Resource as MCPResource
from mcp.types import ResourceTemplate as MCPResourceTemplate
from mcp.types import Tool as MCPTool
from pydantic import ValidationError

from mcp_server import __version__
from mcp_server.core import auth
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext, client_name, token_client, token_scopes, token_subject
from mcp_server.core.errors import InvalidInput, MlopsError, NotFound, OutsideWorkspace
from mcp_server.core.net import BearerAuth, is_loopback
from mcp_server.core.output import ARTIFACT_TEMPLATE, artifact_mime, is_text_mime, lean_schema, read_artifact
from mcp_server.core.prompts import register_prompts
from mcp_server.core.registry import ToolSpec, area_probes, bind, enabled_areas, select
from mcp_server.core.resources import fingerprint, list_dynamic, register_resources
from mcp_server.core.store.metadata import PendingAudit, pending_audit
from mcp_server.core.store.redact import mask_text
from mcp_server.core.watch import Watcher

log = logging.getLogger("mlops_mcp")
ARTIFACT_PREFIX = ARTIFACT_TEMPLATE.split("{", 1)[0]  # mlops://artifacts/

INSTRUCTIONS = (
    "ML-ops tools over real libraries. Paths are relative to the server's workspace root unless absolute "
    "inside an allowed root. Large artifacts come back as mlops:// links readable with resources/read. "
    "Call health_check when a tool reports a backend error."
)


def _argument_error(tool: str, err: ValidationError) -> str:
    """One sentence from pydantic's errors, naming fields but never echoing the rejected values."""
    first = err.errors()[0]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    if first["type"] == "value_error":
        what = first["msg"].removeprefix("Value error, ")  # a validator's own sentence
    else:
        what = f"'{'.'.join(str(p) for p in first['loc'])}' {first['msg'].lower()}"
    return f"Invalid arguments for {tool}: {what}{more}; see the tool's input schema."


# Tool definitions by cache key, shared by every server of this process (one process may serve several
# homes: the workflow's gates, an embedding, the tests); the files under each home serve a new process.
_DEFINITIONS: dict[str, list[MCPTool]] = {}


class MlopsServer(MCPServer[AppContext]):
    """MCPServer plus the call-level half of the boundary: clean argument errors and the audit log.

    Tools are registered with the SDK lazily: building every tool's argument model and output schema
    is most of the start-up cost, so `tools/list` is answered from a cache of the definitions under
    the home (keyed by the source code, the SDK version and the selection), kept in memory for the
    process's other servers, and a tool is registered on its first call. A cache miss registers
    everything and writes the cache.
    """

    def __init__(self, app: AppContext, specs: list[ToolSpec], **kwargs: Any) -> None:
        from mcp.server.lowlevel.server import NotificationOptions

        super().__init__(**kwargs)
        self.app = app
        self.specs = {s.name: s for s in specs}
        self._unregistered = dict(self.specs)
        self._definitions_cache = _definitions_cache_path(app.settings.home, specs)
        # Registers the prompts and resource templates (create_server sets it): run on their first use,
        # since building their argument models is start-up time that `tools/list` need not pay.
        self.catalog: Callable[[], None] | None = None
        # Over OAuth (http_app), each caller sees and calls only the tools its token's scopes allow; a
        # request without a token then gets none (stdio and the static token keep every tool).
        self.scoped = False
        # tools.listChanged: server_enable_tools changes the list. Every transport (stdio, HTTP, in-memory)
        # asks the low-level server for its initialization options with no notification options.
        plain = self._lowlevel_server.create_initialization_options
        self._lowlevel_server.create_initialization_options = functools.partial(  # type: ignore[method-assign]
            plain, NotificationOptions(tools_changed=True)
        )

    def enable(self, specs: Sequence[ToolSpec]) -> None:
        """Add tools to this server process (server_enable_tools); each registers on its first call, and
        tools/list answers from the definitions cache of the new selection."""
        for spec in specs:
            self.specs[spec.name] = spec
            self._unregistered[spec.name] = spec
        self._definitions_cache = _definitions_cache_path(self.app.settings.home, list(self.specs.values()))

    def _register(self, spec: ToolSpec) -> None:
        settings = self.app.settings
        self.add_tool(
            bind(spec, settings),
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=True,
        )
        tool = self._tool_manager.get_tool(spec.name)
        assert tool is not None
        tool.parameters["additionalProperties"] = False  # advertise what _check_arguments enforces
        if tool.fn_metadata.output_schema is not None:  # the same schema, cheaper for clients to check
            tool.fn_metadata.output_schema = lean_schema(tool.fn_metadata.output_schema)
        self._unregistered.pop(spec.name, None)

    async def _handle_list_tools(self, ctx: Any, params: Any) -> Any:
        # Every tool comes in one page, so any cursor is one this server never gave (spec: -32602).
        if params is not None and getattr(params, "cursor", None) is not None:
            raise MCPError(
                code=INVALID_PARAMS, message="Invalid cursor: tools/list returns every tool in one page."
            )
        result = await super()._handle_list_tools(ctx, params)
        if self.scoped:
            result = result.model_copy(
                update={"tools": [t for t in result.tools if self.permits(t.name) is None]}
            )
        return result

    def _ensure_catalog(self) -> None:
        register, self.catalog = self.catalog, None
        if register is not None:
            register()

    async def list_prompts(self) -> list[MCPPrompt]:
        self._ensure_catalog()
        return await super().list_prompts()

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        self._ensure_catalog()
        return await super().list_resource_templates()

    def needed_scope(self, name: str) -> str | None:
        """The OAuth scope tool `name` needs (ToolSpec.required_scope); None for a name this server lacks."""
        spec = self.specs.get(name)
        return spec.required_scope if spec is not None else None

    async def refused(self, name: str, arguments: dict[str, Any], why: str) -> None:
        """A call the scope gate refused (HTTP 403): audited like the calls that run, as an error, when
        the tool is one the audit log records (not read-only)."""
        spec = self.specs.get(name)
        if spec is not None and not spec.read_only:
            await self._audit(spec, arguments, None, why, 0.0)

    def permits(self, name: str) -> str | None:
        """None when the caller may call tool `name`; else the scope it lacks. Over OAuth only: the
        request's token (its effective scopes) decides; a tool outside the specs needs mlops:admin."""
        if not self.scoped:
            return None
        needed = self.needed_scope(name) or auth.ADMIN
        granted = token_scopes()
        return None if granted is not None and needed in granted else needed

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[AppContext, Any] | None = None,
    ) -> Any:
        """An unknown prompt or a missing argument is the caller's mistake: -32602 with one sentence (the
        SDK answered code 0 and logged a traceback)."""
        self._ensure_catalog()
        prompt = self._prompt_manager.get_prompt(name)
        if prompt is None:
            known = sorted(p.name for p in self._prompt_manager.list_prompts())
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}; the prompts are {known}.")
        missing = [a.name for a in prompt.arguments or [] if a.required and a.name not in (arguments or {})]
        if missing:
            raise MCPError(code=INVALID_PARAMS, message=f"Prompt {name} needs the argument(s) {missing}.")
        return await super().get_prompt(name, arguments, context)

    async def read_resource(self, uri: Any, context: Context[AppContext, Any] | None = None) -> Any:
        """An artifact comes back with its own type (the template has none, so the SDK said text/plain for
        Parquet, PNG and HTML alike), and as text when it is text."""
        from mcp.server.lowlevel.helper_types import ReadResourceContents

        self._ensure_catalog()
        results = await super().read_resource(uri, context)
        if not str(uri).startswith(ARTIFACT_PREFIX) or not isinstance(results, list | tuple):
            return results
        mime = artifact_mime(str(uri))
        out = []
        for item in results:
            content = item.content
            if isinstance(content, bytes) and is_text_mime(mime):
                with contextlib.suppress(UnicodeDecodeError):
                    content = content.decode("utf-8")
            out.append(ReadResourceContents(content=content, mime_type=mime, meta=item.meta))
        return out

    async def list_resources(self) -> list[MCPResource]:
        """The fixed resources plus what the areas hold right now (suites, results, reports, endpoints)."""
        self._ensure_catalog()
        return [*await super().list_resources(), *await list_dynamic(self.app)]

    async def list_tools(self) -> list[MCPTool]:
        key = self._definitions_cache.name if self._definitions_cache is not None else None
        if key in _DEFINITIONS:
            return list(_DEFINITIONS[key])
        tools = _read_definitions(self._definitions_cache)
        if tools is None:
            for spec in list(self._unregistered.values()):
                self._register(spec)
            tools = await super().list_tools()
            _write_definitions(self._definitions_cache, tools)
        if key is not None:
            _DEFINITIONS[key] = tools
        return list(tools)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppContext, Any] | None = None
    ) -> Any:
        spec = self.specs.get(name)
        if spec is not None and name in self._unregistered:
            self._register(spec)
        if spec is None and self._tool_manager.get_tool(name) is None:
            # The spec's "Unknown tool" is a JSON-RPC error (-32602), not a tool result.
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {name}; tools/list shows the tools.")
        lacking = self.permits(name)
        if lacking is not None:  # the HTTP gate (core/auth.ScopeGate) answers 403 first; this is the backstop
            raise ToolError(
                f"{name} needs the OAuth scope {lacking}, which the caller's token does not grant."
            )
        started = time.perf_counter()
        error: str | None = None
        asked = False  # a round that only asks the user (2026-07-28 elicitation) did nothing to audit
        # The audit row of a write: the call's last write transaction commits it with its own rows
        # (store.transaction(audit=True)); else it is written here once the call has its answer.
        pending = (
            self._pending_audit(spec, arguments, context) if spec is not None and not spec.read_only else None
        )
        with pending_audit(pending):
            try:
                tool = self._tool_manager.get_tool(name)
                if tool is not None:
                    try:
                        _check_arguments(tool.parameters, arguments)
                    except InvalidInput as err:
                        error = f"Invalid arguments for {name}: {err.message}; see the tool's input schema."
                        raise ToolError(error) from None
                result = await super().call_tool(name, arguments, context)
                asked = isinstance(result, InputRequiredResult)
                return result
            except ToolError as exc:
                # The one place a tool's error text is made: masked once (core/store/redact.py) for the
                # client, the SDK's log line and the audit row alike.
                cause = exc.__cause__
                text = _argument_error(name, cause) if isinstance(cause, ValidationError) else str(exc)
                error = mask_text(text)
                if error == str(exc):
                    raise
                raise type(exc)(error) from cause
            finally:
                if pending is not None:
                    await self._settle_audit(pending, error, time.perf_counter() - started, asked)

    def _pending_audit(
        self, spec: ToolSpec, arguments: dict[str, Any], context: Context[AppContext, Any] | None
    ) -> PendingAudit:
        # Secret-named arguments dropped here; every other value is masked by the store (redact()).
        return PendingAudit(
            self.app.store,
            tool=spec.name,
            client=client_name(context),
            subject=token_subject(context),  # over OAuth: who, with what
            client_id=token_client(context),
            arguments={k: ("<secret>" if k in spec.secret_args else v) for k, v in arguments.items()},
        )

    async def _settle_audit(
        self, pending: PendingAudit, error: str | None, seconds: float, asked: bool
    ) -> None:
        """The call has its answer: its audit row is there (its last write committed it), or written now;
        a call that failed after that commit has its row say so. A round that only asked the user writes
        nothing."""
        if error is None and pending.joined_id() is not None:
            return  # the common write: one commit, already made

        def settle() -> None:
            row_id = pending.close()
            if asked and row_id is None:
                return
            if row_id is None:
                self.app.store.record_audit(
                    **pending.fields,
                    outcome="error" if error else "ok",
                    error=error,
                    duration_ms=seconds * 1000,
                )
            elif error is not None:
                self.app.store.amend_audit(row_id, outcome="error", error=error, duration_ms=seconds * 1000)

        try:
            await anyio.to_thread.run_sync(settle)
        except Exception:  # the call's own answer matters more than its audit row
            log.exception("could not write the audit row for %s", pending.fields["tool"])

    async def _audit(
        self,
        spec: ToolSpec,
        arguments: dict[str, Any],
        context: Context[AppContext, Any] | None,
        error: str | None,
        seconds: float,
    ) -> None:
        """An audit row written now, in its own transaction (a call the scope gate refused)."""
        pending = self._pending_audit(spec, arguments, context)
        pending.close()
        await self._settle_audit(pending, error, seconds, asked=False)


MAX_NESTING = 32
INT64 = 2**63


def _check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Arguments are data from an untrusted caller (SECURITY.md 13): no NaN or infinities, no NUL
    characters, no integers past 64 bits, no absurd nesting."""
    if depth > MAX_NESTING:
        raise InvalidInput(f"'{where}' is nested deeper than {MAX_NESTING} levels")
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -INT64 <= value < INT64:
        raise InvalidInput(f"'{where}' is an integer outside the 64-bit range")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"'{where}' is not a finite number")
    if isinstance(value, str) and "\x00" in value:
        raise InvalidInput(f"'{where}' contains a NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]", depth + 1)


def _check_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """Unknown keys are an error, not silently dropped as the SDK does; then the plain-value checks.

    Done here rather than by a stricter argument model: building one more pydantic model per tool
    would cost start-up time that `tools/list` pays.
    """
    known = schema.get("properties", {})
    unknown = [key for key in arguments if key not in known]
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' is not a parameter of this tool")
    _check_plain(arguments, "")


@functools.cache
def _package_digest() -> str:
    """The package's source files as this process found them (once: the code in memory does not change):
    each file's path, size and modification time, the test CPython's own bytecode cache trusts, so a
    start stats the files instead of reading them all."""
    package = str(Path(__file__).resolve().parents[1])
    stamps: list[str] = []

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        walk(entry.path)
                elif entry.name.endswith(".py"):
                    stat = entry.stat()
                    stamps.append(f"{entry.path[len(package) :]}|{stat.st_size}|{stat.st_mtime_ns}")

    walk(package)
    head = f"{sys.version}|{importlib.metadata.version('mcp')}|{__version__}|"
    return hashlib.sha256((head + "\n".join(sorted(stamps))).encode()).hexdigest()


def _definitions_cache_path(home: Path, specs: list[ToolSpec]) -> Path | None:
    """Where this selection's tool definitions are cached; None for tools defined outside the package."""
    if any(not s.module.startswith("mcp_server.") for s in specs):  # by name: nothing is imported
        return None
    digest = hashlib.sha256(_package_digest().encode())
    digest.update(json.dumps([s.name for s in specs]).encode())
    return home / "cache" / f"tool-definitions-{digest.hexdigest()[:24]}.json"


def _read_definitions(path: Path | None) -> list[MCPTool] | None:
    if path is None or not path.is_file():
        return None
    try:
        return [MCPTool.model_validate(item) for item in json.loads(path.read_text())]
    except (OSError, ValueError):
        return None  # a damaged cache is rebuilt


def _write_definitions(path: Path | None, tools: list[MCPTool]) -> None:
    if path is None:
        return
    from mcp_server.core.files import write_text_atomic

    try:
        write_text_atomic(
            path, json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools])
        )
    except OSError as err:  # a read-only home only costs start-up time
        log.debug("tool definitions not cached: %s", err)


def create_server(
    settings: Settings, app: AppContext | None = None, extra_tools: Sequence[ToolSpec] = ()
) -> MlopsServer:
    """The server for these settings; `extra_tools` registers tools beyond the areas (embedding, tests)."""
    specs, enabled, _disabled = select(settings)
    specs = [*specs, *extra_tools]
    app = app or AppContext.from_settings(settings)
    app.enabled_areas = enabled
    # An area's ON_START hooks run when the server starts (cheap: they only start work).
    on_start: list[Any] = []
    for area in enabled_areas(enabled):
        app.probes.update(area_probes(area))
        on_start.extend(getattr(importlib.import_module(area.module), "ON_START", ()))

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppContext]) -> AsyncIterator[AppContext]:
        for hook in on_start:
            hook(app)
        yield app

    server = MlopsServer(
        app,
        specs,
        name="mlops-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
    )

    def artifact(path: str) -> bytes:
        try:
            data, _mime = read_artifact(settings.home, path)
        except MlopsError as err:
            raise resource_error(err) from None
        return data

    def catalog() -> None:
        server.resource(
            ARTIFACT_TEMPLATE,
            name="artifact",
            description="A report, plot or file written under the server home.",
        )(artifact)
        register_prompts(server)
        register_resources(server, resource_error)

    server.catalog = catalog

    @server.completion()
    async def completion(ref: Any, argument: Any, context: Any) -> Any:
        from mcp.types import Completion

        from mcp_server.core.completions import complete

        known = dict(getattr(context, "arguments", None) or {})
        values = await anyio.to_thread.run_sync(
            complete, server.app, argument.name, argument.value or "", known
        )
        return Completion(values=values, total=len(values), has_more=False)

    _register_logging(server, settings)
    _register_subscriptions(server, Watcher(functools.partial(fingerprint, app), settings.watch_interval_s))
    return server


def _register_logging(server: MlopsServer, settings: Settings) -> None:
    """`logging/setLevel` and the handler that sends a call's log lines to its client (core/client_log.py).
    The SDK marks the method deprecated for 2026-07-28 (SEP-2577, where clients opt in per request); clients
    on the handshake versions, which most are, still use it."""
    from mcp_types import EmptyResult, SetLevelRequestParams

    from mcp_server.core import client_log

    client_log.install(settings.log_level)

    async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        client_log.set_level(ctx.session, params.level)
        return EmptyResult()

    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)


def tool_definitions_size(server: MlopsServer) -> int:
    """Bytes of JSON the assistant's context pays for the tool list."""

    async def measure() -> int:
        tools = await server.list_tools()
        return len(json.dumps([t.model_dump(by_alias=True, exclude_none=True) for t in tools]))

    return anyio.run(measure)


def _register_subscriptions(server: MlopsServer, watcher: Watcher) -> None:
    """`resources/subscribe`, `resources/unsubscribe` and a `subscriptions/listen` that tells the watcher
    which URIs its stream watches, on the SDK's low-level server . Like the SDK's
    listen handler, any URI is accepted: one this server does not hold never fires."""
    from mcp.server.subscriptions import ListenHandler, ResourceUpdated
    from mcp_types import (
        EmptyResult,
        SubscribeRequestParams,
        SubscriptionsListenRequestParams,
        UnsubscribeRequestParams,
    )

    from mcp_server.core.client_log import connection_of

    lowlevel = server._lowlevel_server
    bus = server._subscriptions  # the SDK's bus: what is published on it reaches every listen stream

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        session = ctx.session  # its standalone channel outlives this request
        await watcher.add(str(params.uri), connection_of(session), session.send_resource_updated)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        watcher.remove(str(params.uri), connection_of(ctx.session))
        return EmptyResult()

    listen = ListenHandler(bus)

    async def publish(uri: str) -> None:
        await bus.publish(ResourceUpdated(uri=uri))

    async def listen_and_watch(ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        key = object()
        try:
            for uri in params.notifications.resource_subscriptions or ():
                await watcher.add(uri, key, publish)
            return await listen(ctx, params)
        finally:
            watcher.remove_key(key)

    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen_and_watch)


# ---- runners ----


async def run_stdio(server: MlopsServer) -> None:
    """Serve over stdio on the protocol stream kept by the stdout guard (fd 1 already points at stderr)."""
    from mcp.server.stdio import stdio_server

    from mcp_server.core.blocking import guard_stdout

    protocol_out = guard_stdout()
    async with stdio_server(stdout=anyio.wrap_file(protocol_out)) as (read_stream, write_stream):
        lowlevel = server._lowlevel_server  # the SDK's own run_stdio_async does the same
        send, receive = anyio.create_memory_object_stream[Any](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_answer_unreadable, read_stream, send, write_stream)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()


async def _answer_unreadable(read_stream: Any, forward: Any, write_stream: Any) -> None:
    """Pass the SDK's incoming messages on, answering the lines it could not read: the SDK only logs those
    (at DEBUG) and a client waits for its reply forever. A lone UTF-16 surrogate ("\\ud800") or JSON nested
    past the reader's limit gets a JSON-RPC error with the request's id."""
    async with forward:
        async for item in read_stream:
            reply = unreadable_reply(item) if isinstance(item, Exception) else None
            if reply is None:
                await forward.send(item)
            else:
                await write_stream.send(reply)


def unreadable_reply(exc: Exception) -> Any:
    """The JSON-RPC error answering a line the SDK failed to parse, or None when there is nobody to answer."""
    import mcp_types as types
    from mcp.shared.message import SessionMessage

    errors = exc.errors() if isinstance(exc, ValidationError) else []
    raw = errors[0].get("input") if errors else None
    if not isinstance(raw, str) or errors[0]["type"] != "json_invalid":
        return None
    request_id = top_level_id(raw)
    if request_id is None:
        return None  # a notification, or no id to be found: a reply could not be matched anyway
    why = str(errors[0].get("msg", ""))
    if "recursion limit" in why:
        text = "The request nests its JSON deeper than this server reads; send flatter arguments."
    elif "escape" in why or "surrogate" in why:
        text = "The request holds a lone UTF-16 surrogate (such as \\ud800), which is not text; send valid Unicode."
    else:
        text = f"The request is not valid JSON ({why[:120]})."
    error = types.ErrorData(code=types.PARSE_ERROR, message=text)
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error))


def top_level_id(raw: str) -> int | str | None:
    """The `"id"` member of a JSON-RPC message's top-level object, read without parsing the rest (which
    is what could not be parsed): one pass that skips strings and tracks depth."""
    depth, i, n = 0, 0, len(raw)
    while i < n:
        c = raw[i]
        if c == '"':
            end = i + 1
            while end < n and raw[end] != '"':
                end += 2 if raw[end] == "\\" else 1
            key = raw[i + 1 : end]
            i = end + 1
            if depth == 1 and key == "id":
                rest = raw[i:].lstrip()
                if rest.startswith(":"):
                    value = rest[1:].lstrip()
                    try:
                        found, _ = json.JSONDecoder().raw_decode(value[:300])
                    except ValueError:
                        return None
                    ok = isinstance(found, str) or (isinstance(found, int) and not isinstance(found, bool))
                    return found if ok else None
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return None


def http_app(server: MlopsServer, settings: Settings, host: str, port: int) -> Any:
    """The streamable HTTP app with Host/Origin checks (DNS rebinding) and the auth mode of the settings
    (core/auth.py): none (loopback only), the static bearer token, or the OAuth resource server."""
    from mcp.server.transport_security import TransportSecuritySettings

    mode = auth.auth_mode(settings)
    token = settings.token.get_secret_value() if settings.token else None
    if not is_loopback(host) and mode == "none":
        raise MlopsError(
            f"Refusing to bind {host}: a non-loopback bind needs a bearer token; set MLOPS_MCP_TOKEN "
            "(or MLOPS_MCP_AUTH_ISSUER for OAuth)."
        )
    names = ["127.0.0.1", "localhost", "[::1]"] + ([host] if not is_loopback(host) else [])
    hosts = [f"{n}:{port}" for n in names] + names
    origins = [f"http://{n}:{port}" for n in names] + list(settings.allowed_origins)
    config = auth.oauth_config(settings, host, port) if mode == "oauth" else None
    if config is not None:  # the public URL clients use (behind a proxy): its Host is this server's too
        public = urlsplit(config.resource)
        hosts += [public.netloc, public.hostname or public.netloc]
        origins.append(f"{public.scheme}://{public.netloc}")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
    if config is not None:
        _use_oauth(server, config)
    app = server.streamable_http_app(transport_security=security, host=host)
    if config is not None:
        _guard_routes(app, server, config)
    return BearerAuth(app, token) if mode == "token" and token else app


class OAuthTokenVerifier:
    """The SDK's TokenVerifier over core/auth.JwtVerifier (PyJWT and the issuer's JWKS).

    The AccessToken's scopes are the effective ones (granted plus implied), so the SDK's required-scope
    check and the scope gate agree on the hierarchy. It keeps a digest in place of the token: nothing
    after this point can forward the caller's token anywhere (no token passthrough).
    """

    def __init__(self, verifier: auth.JwtVerifier) -> None:
        self.verifier = verifier

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken

        found = await anyio.to_thread.run_sync(self.verifier.verify, token)
        if found is None:
            return None
        return AccessToken(
            token="sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16],
            client_id=found.client_id or "",
            scopes=sorted(found.scopes),
            expires_at=found.expires_at,
            resource=self.verifier.config.resource,
            subject=found.subject,
            claims={"iss": found.issuer},
        )


def _use_oauth(server: MlopsServer, config: auth.OAuthConfig) -> None:
    """The SDK's resource-server mode (AuthSettings + a TokenVerifier). MCPServer takes them at
    construction; the audience depends on the bind, known only here, so they are set before the app is
    built. The token's audience is checked by the verifier (validate_token_resource=False)."""
    from mcp.server.auth.settings import AuthSettings

    server.settings.auth = AuthSettings(
        issuer_url=config.issuer,  # type: ignore[arg-type]
        resource_server_url=config.resource,  # type: ignore[arg-type]
        required_scopes=list(config.required_scopes) or None,
        validate_token_resource=False,
    )
    server._token_verifier = OAuthTokenVerifier(auth.JwtVerifier(config))
    server.scoped = True


def _guard_routes(app: Any, server: MlopsServer, config: auth.OAuthConfig) -> None:
    """On the SDK's app: the protected-resource metadata (RFC 9728) naming every scope, at the path the
    SDK's 401 points to and at the root, ahead of the SDK's own (which lists only the required scopes);
    and the scope gate inside the auth of the MCP endpoint (403 insufficient_scope)."""
    from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
    from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
    from starlette.routing import Route

    metadata_url = str(build_resource_metadata_url(config.resource))  # type: ignore[arg-type]
    served = create_protected_resource_routes(
        resource_url=config.resource,  # type: ignore[arg-type]
        authorization_servers=[config.issuer],  # type: ignore[list-item]
        scopes_supported=config.scopes_supported,
        resource_name="mlops-mcp",
    )
    root = "/.well-known/oauth-protected-resource"
    if served[0].path != root:
        served.append(Route(root, endpoint=served[0].endpoint, methods=["GET", "OPTIONS"]))
    app.router.routes[0:0] = served
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == "/mcp":
            route.app = auth.ScopeGate(
                route.app, server.needed_scope, metadata_url, DEFAULT_MAX_REQUEST_BODY_SIZE, server.refused
            )
            return
    raise RuntimeError("the SDK's app has no /mcp route to guard")


def resource_error(err: MlopsError) -> ResourceError:
    """A resource that is not there (or named badly) is the caller's mistake: the SDK answers -32602 with
    the uri in `data` for ResourceNotFoundError (SEP-2164); anything else stays an internal error."""
    if isinstance(err, NotFound | InvalidInput | OutsideWorkspace):
        return ResourceNotFoundError(err.message)
    return ResourceError(err.message)


def uvicorn_config(app: Any, host: str, port: int) -> Any:
    """uvicorn without its own logging config: its loggers propagate to the handlers `serve` installed,
    whose filter masks secrets (uvicorn's default config gives them handlers of their own, unmasked)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None)


async def run_http(server: MlopsServer, settings: Settings, host: str, port: int) -> None:
    import uvicorn

    await uvicorn.Server(uvicorn_config(http_app(server, settings, host, port), host, port)).serve()
