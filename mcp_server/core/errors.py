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
    └── NotConfirmed            a destructive call the user declined or did not confirm (core/confirm.py)

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


# Library error codes -> the project's errors. Read by code, never by message text.
_MLFLOW_CODES: dict[str, type[MlopsError]] = {
    "RESOURCE_DOES_NOT_EXIST": NotFound,
    "RESOURCE_ALREADY_EXISTS": Conflict,
    "INVALID_PARAMETER_VALUE": InvalidInput,
    "INVALID_STATE": Conflict,
    "ABORTED": Conflict,
    "RESOURCE_EXHAUSTED": LimitExceeded,
    "TEMPORARILY_UNAVAILABLE": BackendUnavailable,
    "ENDPOINT_NOT_FOUND": BackendUnavailable,
}
_BOTO_CODES: dict[str, type[MlopsError]] = {
    "NoSuchBucket": NotFound,
    "NoSuchKey": NotFound,
    "404": NotFound,
    "NotFound": NotFound,
    "AccessDenied": InvalidInput,
    "InvalidAccessKeyId": InvalidInput,
    "SignatureDoesNotMatch": InvalidInput,
    "SlowDown": BackendUnavailable,
    "ServiceUnavailable": BackendUnavailable,
}


def from_library(exc: BaseException) -> MlopsError | None:
    """The project's error for a library exception the areas did not translate, or None (internal).

    MLflow by `MlflowException.error_code`, botocore by its error code or connection classes, pymongo
    by its exception classes. The libraries are never imported here: an exception of theirs means
    they are loaded already.
    """
    import sys

    module = type(exc).__module__ or ""
    if module.startswith("mlflow"):
        code = str(getattr(exc, "error_code", ""))
        cls = _MLFLOW_CODES.get(code)
        if cls is not None:
            return cls(f"MLflow refused the request ({code.lower().replace('_', ' ')}): {_first_line(exc)}")
    if module.startswith("botocore"):
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in _BOTO_CODES:
            return _BOTO_CODES[code](
                f"The object store answered {code}; check the bucket, key and credentials."
            )
        exceptions = sys.modules.get("botocore.exceptions")
        if exceptions is not None and isinstance(
            exc,
            exceptions.EndpointConnectionError | exceptions.ConnectTimeoutError | exceptions.ReadTimeoutError,
        ):
            return BackendUnavailable("The object store did not answer; check that the S3 endpoint is up.")
    if module.startswith("pymongo"):
        errors = sys.modules.get("pymongo.errors")
        if errors is not None:
            if isinstance(exc, errors.DuplicateKeyError):
                return Conflict("MongoDB refused a document whose key already exists.")
            if isinstance(exc, errors.ExecutionTimeout | errors.WTimeoutError):
                return DeadlineExceeded("MongoDB did not finish the operation within its time limit.")
            if isinstance(exc, errors.ConnectionFailure | errors.ServerSelectionTimeoutError):
                return BackendUnavailable("MongoDB did not answer; check that the server is up and the URI.")
            if isinstance(exc, errors.OperationFailure):
                return InvalidInput(f"MongoDB refused the operation (code {getattr(exc, 'code', '?')}).")
    return None


def _first_line(exc: BaseException) -> str:
    from mcp_server.core.store.redact import mask_text

    text = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
    return mask_text(text[0][:300]) if text else ""
