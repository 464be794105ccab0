"""The REST API's errors: one JSON shape, `{"error": {"code": "...", "message": "one sentence"}}`,
with stable codes a script can branch on. A job's own failure is told the same way (in its status
and, for a waiting request, as the answer)."""
from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.jobs.job_control import TimeLimitExceeded
from utils.errors import (Cancelled, ChecksumMismatch, DownloadFailed, InvalidInput, ModelUnsupported, OutOfMemory,
                          OutputError, UserError, WeightsMissing, describe_error)
from utils.files import OutputWriteError

# code -> HTTP status; the README's table lists the same codes.
CODES = {
    "bad_input": 400,
    "unauthorized": 401,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_finished": 409,
    "already_ended": 409,
    "too_large": 413,
    "busy": 503,
    "cancelled": 409,
    "weights_missing": 400,
    "out_of_memory": 503,
    "time_limit": 503,
    "output_error": 507,
    "internal": 500,
}


class ApiError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}

    @property
    def status(self) -> int:
        return CODES[self.code]


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error.code, error.message), status_code=error.status,
                        headers={"X-Content-Type-Options": "nosniff", **error.headers})


def code_of(error: BaseException) -> str:
    """The stable code of an engine failure."""
    if isinstance(error, ApiError):
        return error.code
    if isinstance(error, Cancelled):
        return "cancelled"
    if isinstance(error, (WeightsMissing, ChecksumMismatch, DownloadFailed)):
        return "weights_missing"
    if isinstance(error, (InvalidInput, ModelUnsupported)):
        return "bad_input"
    if isinstance(error, OutOfMemory):
        return "out_of_memory"
    if isinstance(error, TimeLimitExceeded):
        return "time_limit"
    if isinstance(error, (OutputError, OutputWriteError)):
        return "output_error"
    return "internal"


def message_of(error: BaseException) -> str:
    """The one sentence for an engine failure; missing weights are told without server paths."""
    if isinstance(error, WeightsMissing) and error.model:
        return (f"{error.model} is not on this server yet; download it in the web UI's System tab (or ask the "
                f"administrator to put {error.filename} in the weights folder), then try again.")
    return describe_error(error)


def as_api_error(error: BaseException, logged_message: str = "") -> ApiError:
    """An engine failure as the API tells it: its code and its one sentence (a traceback goes to
    the log; `logged_message`: the sentence already worked out, so an unexpected error is logged once)."""
    if isinstance(error, ApiError):
        return error
    if logged_message and not isinstance(error, (UserError, OutputWriteError)):
        return ApiError(code_of(error), logged_message)
    return ApiError(code_of(error), message_of(error))


async def on_api_error(request: Request, error: ApiError) -> JSONResponse:
    return error_response(error)


async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 404:
        return error_response(ApiError("not_found", f"There is no {request.url.path}; see /api/v1/docs."))
    if error.status_code == 405:
        return error_response(ApiError("method_not_allowed",
                                       f"{request.method} is not allowed on {request.url.path}; see /api/v1/docs."))
    return error_response(ApiError("bad_input", str(error.detail)))


async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = error.errors()
    first = problems[0] if problems else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
    if first.get("type") == "missing":
        message = f"The request has no {where or 'required field'}; see /api/v1/docs."
    else:
        message = f"{where or 'A field'} is not valid ({first.get('msg', 'wrong type')}); see /api/v1/docs."
    return error_response(ApiError("bad_input", message))


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    return error_response(ApiError("internal", describe_error(error)))


HANDLERS = {ApiError: on_api_error, StarletteHTTPException: on_http_error,
            RequestValidationError: on_validation_error, Exception: on_unexpected}
