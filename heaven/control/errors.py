"""One error shape for every 4xx: ``{"error": code, "message": text, "field": name}``."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heaven.wire.api import ErrorOut


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None, extra: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field
        self.extra = extra or {}
        self.headers = headers  # e.g. WWW-Authenticate on a 401, Retry-After on a 429

    def body(self) -> dict:
        return {**self.extra, "error": self.error, "message": self.message, "field": self.field}


STATUS_TEXT = {400: "Bad request", 401: "No valid bearer token (WWW-Authenticate: Bearer)",
               403: "The caller's role does not allow this", 404: "Does not exist, or belongs to another organization",
               409: "Conflicts with what exists", 422: "Invalid input: the field and the limit are named",
               429: "Too many requests from this address (Retry-After says when to try again)"}


def documented(*statuses: int) -> dict:
    """``responses=`` for a route: each error status it can answer, all in the one error shape."""
    return {s: {"model": ErrorOut, "description": STATUS_TEXT[s]} for s in statuses}


def not_found(what: str, key) -> ApiError:
    return ApiError(404, "not_found", f"{what} {key} does not exist", what)


def _validation_body(exc: RequestValidationError) -> dict:
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    message = first.get("msg", "invalid input").removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return {"error": "invalid_json", "message": "the request body is not valid JSON", "field": None}
    if first.get("type") == "missing":
        message = "is required"
    elif first.get("type") == "extra_forbidden":
        message = "is not a known field"
    return {"error": "invalid_input", "message": f"{field}: {message}" if field else message, "field": field}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        return JSONResponse(_validation_body(exc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(exc.detail), "field": None}, status_code=exc.status_code)
