"""The one exception tree of syncd: API errors (shared by server and client), transport and
local errors. The server raises ApiError subclasses and renders them once; the client
translates every HTTP answer back into the same classes once, at its boundary."""

from __future__ import annotations

from typing import Any, ClassVar


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """Bad configuration: one clear message naming the key; the CLI exits 78 (EX_CONFIG)."""

    exit_code: ClassVar[int] = 78


class LocalError(SyncdError):
    """A local file system condition the daemon reports (not a bug)."""


class RootMissingError(LocalError):
    """Sync root or its `.syncd-root` marker is missing, or belongs to another library."""


class FileChangedError(LocalError):
    """A local file changed while it was being read for upload; retried after it settles."""


class StaleError(LocalError):
    """A local path no longer matches what the plan saw: rescan and re-plan instead of acting."""


class RootLimitError(LocalError):
    """The sync root's file system cannot hold this file (e.g. over 4 GiB on FAT32)."""


class StoreError(SyncdError):
    """The metadata database refused a statement; translated once from the driver's error
    (sqlite3 or psycopg) in syncd/server/meta, so callers never import a driver."""


class ConstraintViolation(StoreError):
    """A write broke a UNIQUE (or other) constraint; the caller maps it (e.g. NameTaken)."""


class TransportError(SyncdError):
    """The server could not be reached or the connection broke (retryable)."""


class ApiError(SyncdError):
    """An error answer of the library API: `{"error": {"code", "message", ...details}}`."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.http_status: int = self.status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidName(BadRequest):
    code = "invalid_name"


class DigestMismatch(BadRequest):
    code = "digest_mismatch"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"


class NameTaken(ApiError):
    status, code = 409, "name_taken"


class HookNeeded(ApiError):
    """A send the account's gateway hooks do not allow (none, several, one that cannot send)."""

    status, code = 409, "hook_needed"


class CursorExpired(ApiError):
    status, code = 410, "cursor_expired"


class LengthRequired(ApiError):
    status, code = 411, "length_required"


class RevMismatch(ApiError):
    status, code = 412, "rev_mismatch"


class FileTooLarge(ApiError):
    status, code = 413, "file_too_large"


class BodyTooLarge(ApiError):
    """A request body (JSON, webhook) above the route's limit; uploads use FileTooLarge."""

    status, code = 413, "body_too_large"


class RangeNotSatisfiable(ApiError):
    status, code = 416, "range_not_satisfiable"


class RateLimited(ApiError):
    status, code, retryable = 429, "rate_limited", True


class ServerError(ApiError):
    status, code, retryable = 500, "internal_error", True


class Unavailable(ServerError):
    status, code = 503, "unavailable"


class QuotaExceeded(ApiError):
    status, code = 507, "quota_exceeded"


_BY_CODE: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        InvalidJson,
        InvalidName,
        DigestMismatch,
        Unauthorized,
        Forbidden,
        HookNeeded,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        NameTaken,
        CursorExpired,
        LengthRequired,
        RevMismatch,
        FileTooLarge,
        BodyTooLarge,
        RangeNotSatisfiable,
        RateLimited,
        ServerError,
        Unavailable,
        QuotaExceeded,
    )
}


def api_error_from_body(status: int, body: object) -> ApiError:
    """Translate an HTTP error answer into the matching ApiError (the client's one boundary)."""
    code, message, details = "", f"HTTP {status}", {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = dict(body["error"])
        code = str(err.pop("code", ""))
        message = str(err.pop("message", message))
        details = err
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if status >= 500 else BadRequest
        for candidate in _BY_CODE.values():
            if candidate.status == status and candidate.__bases__[0] is ApiError:
                cls = candidate
                break
    error = cls(message, **details)
    error.http_status = status
    return error


RETRY_AFTER_CAP_S = 120.0


def api_error_from_answer(status: int, body: object, retry_after: str | None) -> ApiError:
    """`api_error_from_body`, with the answer's Retry-After (seconds, capped) kept in the
    details of a 429 or a retryable error, as the floor of the client's backoff."""
    error = api_error_from_body(status, body)
    if isinstance(error, RateLimited) or error.retryable:
        seconds = None
        if retry_after is not None:
            try:
                seconds = min(float(retry_after), RETRY_AFTER_CAP_S)
            except ValueError:
                seconds = None
        error.details.setdefault("retry_after_s", seconds)
    return error


class DaemonNotRunning(LocalError):
    """No sync daemon answers on the status socket; `syncd status|pause|resume` exit 3."""

    exit_code: ClassVar[int] = 3
