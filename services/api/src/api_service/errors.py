"""One JSON error shape for every 4xx and 5xx, whatever raised it.

Unhandled exceptions become a bare 500; the request middleware logs them with the request id. A
database that does not answer is a 503 (logged here, naming which; the caller is not told where
it lives).

``{"error": {"status": 404, "code": "not_found", "message": "...", "request_id": "...",
"details": [...]}}``. A 500 says only that something went wrong; the details go to the log.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_service.request_id import current_request_id
from core_config import get_logger
from db_core import DatabaseUnavailableError

logger = get_logger(__name__)


class ErrorDetail(BaseModel):
    location: list[str | int]
    message: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    request_id: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error a route raises on purpose: its status, a stable code and a message for the caller."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        status=status, code=code, message=message, request_id=current_request_id(), details=details
    )
    return JSONResponse({"error": body.model_dump(exclude_none=True)}, status_code=status, headers=headers)


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, _code_for(exc.status_code), message, headers=exc.headers)


# Pydantic's length errors of a value that is not a ``str`` to it (a ``SecretStr``) speak of
# "items"; a caller sent text, whose length is in characters.
_LENGTH_IN_CHARACTERS = {
    "too_short": "should have at least {min_length} characters",
    "too_long": "should have at most {max_length} characters",
}


def _message(error: Mapping[str, Any]) -> str:
    template = _LENGTH_IN_CHARACTERS.get(error["type"])
    if template is not None and isinstance(error.get("input"), str):
        return template.format(**error.get("ctx", {}))
    return str(error["msg"])


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # The input is left out on purpose: it may hold a secret the caller sent.
    details = [ErrorDetail(location=list(e["loc"]), message=_message(e)) for e in exc.errors()]
    return error_response(422, "validation_error", "the request is not valid", details=details)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    logger.warning("a database does not answer", error=str(exc))
    return error_response(503, "database_unavailable", "a database does not answer; try again shortly")


def internal_error_response() -> JSONResponse:
    return error_response(500, "internal_error", "an internal error occurred; quote the request id")


async def _unhandled_error(_: Request, __: Exception) -> JSONResponse:
    return internal_error_response()  # logged, with its traceback, by the request middleware


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DatabaseUnavailableError, _database_unavailable)
    app.add_exception_handler(Exception, _unhandled_error)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting the error shape for ``statuses``."""
    return {status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase} for status in statuses}
