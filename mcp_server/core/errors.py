"""The project's exception tree and the text each error carries to the assistant.

    MlopsError                  expected failure; its message is one actionable sentence
    ├── InvalidInput            the arguments or the file are not usable as given
    │   └── OutsideWorkspace    a path leaves the configured roots
    ├── NotFound                a named thing does not exist
    ├── Conflict                the state changed under the call, or a lock is held
    ├── LimitExceeded           rows, bytes, output or time over the configured limit
    │   └── DeadlineExceeded    the call ran past its deadline and was stopped
    ├── BackendUnavailable      a store or service did not answer in time
    ├── MissingExtra            the area's optional dependencies are not installed
    └── ReadOnlyMode            a write was asked of a read-only server

The tool boundary (core/registry.py) turns these into `isError` results with the message
as it is; any other exception is logged to stderr with a short id and reported as
"internal error (id ...)" so no traceback, foreign path or secret reaches the client.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every expected failure; `str(err)` is shown to the assistant verbatim."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(MlopsError):
    kind = "invalid_input"


class OutsideWorkspace(InvalidInput):
    kind = "outside_workspace"


class NotFound(MlopsError):
    kind = "not_found"


class Conflict(MlopsError):
    kind = "conflict"


class LimitExceeded(MlopsError):
    kind = "limit_exceeded"


class DeadlineExceeded(LimitExceeded):
    kind = "deadline_exceeded"


class BackendUnavailable(MlopsError):
    kind = "backend_unavailable"


class MissingExtra(MlopsError):
    kind = "missing_extra"


class ReadOnlyMode(MlopsError):
    kind = "read_only"
