"""One error shape for every 4xx: ``{"error": code, "message": text, "field": name}``.

``answers(...)`` documents, per route, each error status it can give, with that shape:
the OpenAPI schema lists every answer a client may see (checked by the conformance test).
"""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from heaven.wire.api import ErrorOut

MEANING = {
    400: "refused by the original protocol (unknown agent, job not allocated); or a list's ``continue`` "
         "token that this list did not give",
    401: "no valid bearer token (missing, expired, forged, revoked); WWW-Authenticate: Bearer",
    403: "the caller's role in the organization (or belonging to none) does not allow this",
    404: "no such job, node, cluster or organization (another organization's answers the same); "
         "or the original protocol, not served on this address",
    409: "conflicts with the current state",
    422: "invalid input: the field and its limit are named",
    429: "too many requests from this address; Retry-After says when to try again",
    502: "the node's agent did not answer",
    413: "the request body is over HEAVEN_MAX_BODY_BYTES; it was not read",
    503: "the store could not be reached (a write whose commit was cut off may still have been recorded), "
         "or (not_leader) only the leading replica can answer (nothing was written)",
}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None, extra: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field
        self.extra = extra or {}
        self.headers = headers  # e.g. WWW-Authenticate on a 401, Retry-After on a 429

    def body(self) -> dict:
        return {**self.extra, "error": self.error, "message": self.message, "field": self.field}


def answers(*statuses: int) -> dict[int, dict]:
    """``responses=`` for a route that can answer each of ``statuses`` with an error body."""
    return {status: {"model": ErrorOut, "description": MEANING[status]} for status in statuses}


def errors_are_json(schema: dict) -> dict:
    """Every error answer is JSON, whatever the route's own answer is: FastAPI documents the
    ``answers(...)`` of a route whose 200 is plain text or a stream under that media type."""
    for operation in (op for ops in schema.get("paths", {}).values() for op in ops.values() if isinstance(op, dict)):
        for status, answer in operation.get("responses", {}).items():
            content = answer.get("content", {})
            if status[:1] in "45" and content and "application/json" not in content:
                answer["content"] = {"application/json": next(iter(content.values()))}
    return schema


def not_found(what: str, key) -> ApiError:
    return ApiError(404, "not_found", f"{what} {key} does not exist", what)


STORE_UNAVAILABLE = {"error": "store_unavailable", "field": None,
                     "message": "the database cannot be reached right now; try again (a write whose commit "
                                "was cut off may still have been recorded: list before submitting again)"}


INVALID_JSON = {"error": "invalid_json", "message": "the request body is not valid JSON", "field": None}


def _validation_body(exc: RequestValidationError) -> dict:
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    message = first.get("msg", "invalid input").removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return INVALID_JSON
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

    async def _store_down(_: Request, exc: Exception):
        # PostgreSQL restarting, a connection cut, or every pooled connection stuck on a hung
        # server: a 503 the client may retry (agents do), not a 500 and a traceback (seen in
        # the chaos test).
        return JSONResponse(STORE_UNAVAILABLE, status_code=503, headers={"Retry-After": "1"})

    app.add_exception_handler(OperationalError, _store_down)
    app.add_exception_handler(PoolTimeout, _store_down)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's bare 400 for a body it cannot even decode: answered like any unparseable JSON.
            return JSONResponse(INVALID_JSON, status_code=422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(exc.detail), "field": None}, status_code=exc.status_code)
