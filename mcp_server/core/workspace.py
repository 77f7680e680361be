"""Path arguments -> real paths inside the allowed roots (SECURITY.md 1-2).

Every path a caller gives goes through `Workspace.resolve`. The allowlist is the server's configured
roots plus its home; a client's own roots never widen it. A path a tool will write goes through
`Workspace.resolve_output`, which also refuses the server's own state (lake, suites, MLflow, store, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mcp_server.core.errors import InvalidInput, NotFound, OutsideWorkspace
from mcp_server.core.store.redact import mask_text

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Percent-encoded '.', '/' or '\\' in a plain path only ever serves to slip past a check.
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{1,30}://")  # one letter: a Windows drive
_ENCODED_RE = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
MAX_PATH_CHARS = 4096
# The kernel's limits (NAME_MAX, PATH_MAX on Linux; macOS and most file systems agree on 255): past them every
# file call raises ENAMETOOLONG, so such a path is refused here rather than deep inside a library.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
# The server's own state under its home (issue #22.6): only the tools that own these write them, so a caller's
# `output=` can never overwrite a lake version, a GX suite, an ONNX twin or a database. <home>/workspace and
# the configured roots outside these stay writable.
OWN_DIRS = ("lake", "gx", "mlartifacts", "gateway", "backups", "keys", "feature_repo", "cache", "reports")
OWN_FILES = (
    *(f"{db}{end}" for db in ("metadata.db", "mlflow.db") for end in ("", "-wal", "-shm", "-journal")),
    "metadata.lock",
    "feature_repo.json",
)


def check_name(value: str, what: str = "name") -> str:
    """Validate an identifier-like name (suite, model, endpoint, dataset)."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        shown = repr(value if len(str(value)) <= 80 else str(value)[:77] + "...")
        raise InvalidInput(
            f"The {what} {shown} is not a valid name: use 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit."
        )
    return value


def is_broad_root(path: Path) -> bool:
    """A root of `/` or the user's home directory exposes far more than an ML workspace needs."""
    resolved = path.expanduser().resolve()
    return resolved == Path(resolved.anchor) or resolved == Path.home().resolve()


def own_locations(lake_root: str | None = None, feature_repo: Path | None = None) -> list[Path]:
    """The extra places the server owns outside the fixed home entries: a local lake root, a Feast repo."""
    extra: list[Path] = []
    if lake_root and lake_root.strip() and "://" not in lake_root:
        extra.append(Path(lake_root).expanduser())
    if feature_repo is not None:
        extra.append(Path(feature_repo).expanduser())
    return extra


class Workspace:
    def __init__(self, roots: list[Path], home: Path, own: Sequence[Path] = ()) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.home = Path(home).resolve()
        self.allowed = [*self.roots, *([self.home] if self.home not in self.roots else [])]
        # Resolved, so a symlinked <home>/lake is compared by where it really is.
        self.own = [(self.home / n).resolve() for n in (*OWN_DIRS, *OWN_FILES)]
        self.own += [Path(p).resolve() for p in own]

    @property
    def default_root(self) -> Path:
        return self.roots[0]

    def display(self, path: Path) -> str:
        """A path as shown to the assistant: relative to its root where possible."""
        for root in self.roots:
            if path == root or path.is_relative_to(root):
                return str(path.relative_to(root)) or "."
        if path.is_relative_to(self.home):
            return "<home>/" + str(path.relative_to(self.home))
        return "<outside>"

    def stored(self, path: Path) -> str:
        """How a path is kept in the store: relative, so a home restored elsewhere reads the same.

        Under a root: the root-relative path (`@N/` in front for the N-th root when there are several);
        elsewhere under the home: `home:<relative path>`; anything else stays absolute.
        """
        path = Path(path)
        for index, root in enumerate(self.roots):
            if path == root or path.is_relative_to(root):
                rel = path.relative_to(root).as_posix()
                return rel if index == 0 else f"@{index}/{rel}"
        if path == self.home or path.is_relative_to(self.home):
            return "home:" + path.relative_to(self.home).as_posix()
        return str(path)

    def from_stored(self, value: str) -> Path:
        """The path `stored` gave, in this server's roots and home (absolute values pass through)."""
        if value.startswith("home:"):
            return self.home / value.removeprefix("home:")
        if value.startswith("@"):
            index, _, rel = value[1:].partition("/")
            if index.isdigit() and int(index) < len(self.roots):
                return self.roots[int(index)] / rel
        path = Path(value)
        return path if path.is_absolute() else self.default_root / path

    def resolve(self, value: str, *, must_exist: bool = False) -> Path:
        """Resolve a caller's path (relative to the first root, absolute, or a file:// URI) inside the roots.

        Symlinks are resolved (for a path that does not exist yet, through its nearest existing parent)
        and the result is compared component by component, so `/data-evil` is not inside `/data`.
        """
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("The path is empty; pass a file or folder inside the workspace.")
        if "\x00" in value or len(value) > MAX_PATH_CHARS:
            raise InvalidInput("The path contains a NUL character or is too long; pass a plain path.")
        text = value.strip()
        if text.lower().startswith("file:"):
            parts = urlsplit(text)
            if parts.query or parts.fragment or "?" in text or "#" in text:
                raise InvalidInput("A file URI must not contain '?' or '#'; pass a plain path instead.")
            if parts.netloc not in ("", "localhost"):
                raise InvalidInput("Only local file URIs are accepted; pass a path inside the workspace.")
            text = unquote(parts.path)
            if "\x00" in text:
                raise InvalidInput("The path contains a NUL character; pass a plain path.")
        elif _URL_RE.match(text):
            # "s3://u:pw@host/x" would otherwise become a local folder named "s3:" (and keep the password).
            raise InvalidInput(
                f"'{text.split(':', 1)[0][:20]}://...' is a URL; this argument takes a path in the workspace "
                "(or a file:// URI)."
            )
        elif mask_text(text) != text:
            # "s3:/u:pw@host/x" or "u:pw@host/x" would become a local file whose name (then shown in
            # results and stored in lineage) holds the password: the one masking rule decides what is one.
            raise InvalidInput(
                "The path holds what looks like a user:password@ credential; pass a plain path (credentials "
                "belong in the server's settings, never in a path)."
            )
        elif _ENCODED_RE.search(text):
            raise InvalidInput("The path contains percent-encoded characters; pass a plain path.")
        try:
            os.fsencode(text)
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800") cannot name a file
            raise InvalidInput("The path is not valid Unicode text; pass a plain path.") from None
        raw = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
        if ".." in raw.parts:
            raise OutsideWorkspace("Paths may not contain '..'; pass a path inside the workspace.")
        long = next((part for part in raw.parts if len(os.fsencode(part)) > MAX_NAME_BYTES), None)
        if long is not None:
            raise InvalidInput(
                f"The path component '{long[:40]}...' is {len(os.fsencode(long))} bytes, over the "
                f"{MAX_NAME_BYTES}-byte limit of file and folder names; use a shorter name."
            )
        candidate = raw if raw.is_absolute() else self.default_root / raw
        resolved = candidate.resolve(strict=False)
        if len(os.fsencode(resolved)) > MAX_PATH_BYTES:
            raise InvalidInput(
                f"The path is over the {MAX_PATH_BYTES}-byte limit once inside its root; use a shorter path."
            )
        if not any(resolved == root or resolved.is_relative_to(root) for root in self.allowed):
            raise OutsideWorkspace(f"'{value[:200]}' is outside the allowed roots; {self._roots_hint()}.")
        if must_exist and not resolved.exists():
            raise NotFound(f"No file or folder at '{self.display(resolved)}' in the workspace.")
        return resolved

    def _roots_hint(self) -> str:
        """The roots as a caller can name them (issue #22.9): relative paths resolve under the default root
        (shown as `<home>/...` when it is in the home); any other root by the absolute path that reaches it."""
        default = self.default_root
        first = (
            "<home>/" + default.relative_to(self.home).as_posix()
            if default != self.home and default.is_relative_to(self.home)
            else str(default)
        )
        others = [
            root.relative_to(default).as_posix() if root.is_relative_to(default) else str(root)
            for root in self.roots[1:]
        ]
        hint = f"use a relative path (relative paths resolve under {first!r})"
        if others:
            hint += " or a path under " + ", ".join(repr(o) for o in others)
        return hint + ", or start the server with --root for that folder"

    def resolve_output(self, value: str) -> Path:
        """`resolve` for a path a tool will write: also refused when it is (or is under) the server's own state,
        whatever the roots say; those files change only through the tools that own them."""
        resolved = self.resolve(value)
        # A root that holds the home (roots=[home]) must not make the home's state writable either.
        if any(resolved == own or resolved.is_relative_to(own) for own in self.own):
            raise OutsideWorkspace(
                f"{self.display(resolved)!r} is in the server's own state, which no tool writes as an output; "
                "write the output to a new path in the workspace instead."
            )
        return resolved
