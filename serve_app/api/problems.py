"""Render every error once, as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve_app.core.errors import CardVaultError
from serve_app.core.request_context import request_id_var

PROBLEM_BASE = "https://cardvault.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("cardvault.api")


def problem(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id_var.get(),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CardVaultError)
    return problem(
        request,
        status=exc.status,
        slug=exc.type_slug,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers or None,
        **exc.extra,
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
    return problem(
        request,
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        errors=errors,
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem(
        request,
        status=exc.status_code,
        slug=slug,
        title=str(exc.detail),
        detail=str(exc.detail),
        headers=dict(exc.headers or {}) or None,
    )


async def _database(request: Request, exc: Exception) -> JSONResponse:
    # text the database cannot store (NUL characters in PostgreSQL) is the client's error
    if "invalid byte sequence" in str(exc) or "CharacterNotInRepertoire" in type(getattr(exc, "orig", exc)).__name__:
        return problem(
            request,
            status=422,
            slug="unstorable-text",
            title="Unprocessable content",
            detail="the request contains characters that cannot be stored (NUL)",
        )
    return await _unhandled(request, exc)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        request,
        status=500,
        slug="internal-error",
        title="Internal error",
        detail="An unexpected error occurred; it has been logged.",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(CardVaultError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Exception, _unhandled)
