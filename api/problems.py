"""One handler table: domain exceptions and framework errors become RFC 9457 problem+json.

Every error body has ``type``, ``title``, ``status``, ``detail``, ``code`` and ``errors``
(``[{"field","code","message"}]``). Nothing else in the code base builds error responses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry import errors as E
from registry.privacy import redact_text

log = logging.getLogger("xinyong.api")

PROBLEM_JSON = "application/problem+json"

# Domain exception -> HTTP status. Order matters only for subclasses (none overlap today).
STATUS_BY_ERROR: dict[type[E.DomainError], int] = {
    E.ValidationFailed: 422,
    E.NotFound: 404,
    E.Conflict: 409,
    E.AuthenticationFailed: 401,
    E.PermissionDenied: 403,
    E.PayloadTooLarge: 413,
    E.SchemaNotReady: 503,
}


def problem(
    status: int,
    detail: str,
    *,
    code: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": f"/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": redact_text(detail),
        "code": code,
        "errors": errors or [],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, E.DomainError)
    status = next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, exc.message, code=exc.code, errors=[e.as_dict() for e in exc.errors], headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_name(tuple(err.get("loc", ()))),
            "code": err.get("type", "invalid"),
            "message": err.get("msg", ""),
        }
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is not valid"
    return problem(422, detail, code="invalid_request", errors=errors)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    return problem(exc.status_code, str(exc.detail), code=codes.get(exc.status_code, "http_error"), headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s: %r", request.method, request.url.path, exc, exc_info=exc)
    return problem(500, "an internal error occurred; it has been logged", code="internal_error")


def install(app: FastAPI) -> None:
    """Register the handler table on ``app``."""
    app.add_exception_handler(E.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
