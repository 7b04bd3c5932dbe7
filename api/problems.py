"""problem+json (RFC 9457) for every error the API returns, with a message a person can act on."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockpatrol import errors

log = logging.getLogger("dockpatrol.api")

PROBLEM_JSON = "application/problem+json"

STATUS_OF: list[tuple[type[errors.DockpatrolError], int]] = [
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.ConfigError, 500),
    (errors.InvalidInput, 422),
    (errors.GeorefError, 422),
    (errors.Unavailable, 503),
    (errors.FlightError, 502),
    (errors.StorageError, 503),
]


def status_for(exc: errors.DockpatrolError) -> int:
    declared = getattr(exc, "http_status", None)  # API-only errors (401, 429) carry their status
    if isinstance(declared, int):
        return declared
    for kind, status in STATUS_OF:
        if isinstance(exc, kind):
            return status
    return 500


def problem(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _headers_for(exc: errors.DockpatrolError, status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    retry = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(retry)} if isinstance(retry, int) else None


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path"))


def install(app: FastAPI) -> None:
    """Register handlers so no error leaves the API as anything but problem+json."""

    @app.exception_handler(errors.DockpatrolError)
    async def _domain(request: Request, exc: errors.DockpatrolError) -> JSONResponse:
        status = status_for(exc)
        return problem(status, exc.title, str(exc), headers=_headers_for(exc, status),
                       instance=str(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        summary = "; ".join(f"{i['field'] or 'body'}: {i['message']}" for i in issues[:3])
        return problem(422, "Invalid input", f"request is invalid: {summary}", errors=issues,
                       instance=str(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(exc.status_code, "HTTP error", detail, headers=getattr(exc, "headers", None),
                       instance=str(request.url.path))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error, incident %s", incident)
        return problem(500, "Internal error",
                       f"an unexpected error occurred; nothing was changed. Report incident {incident}.",
                       incident=incident, instance=str(request.url.path))
