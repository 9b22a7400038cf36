"""Liveness, readiness, metrics and the public JWT key set."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from serve_app.api.deps import StateDep
from serve_app.core.errors import ServiceUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> dict[str, Any]:
    """The database (and Redis, when configured) answer."""
    checks: dict[str, str] = {}
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        raise ServiceUnavailable(f"database: {exc}") from exc
    if state.redis is not None:
        try:
            await state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            raise ServiceUnavailable(f"redis: {exc}") from exc
    return {"status": "ready", "checks": checks}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json")
async def jwks(state: StateDep) -> dict[str, Any]:
    """Public keys that verify CardVault access tokens."""
    return (await state.keys.ring()).jwks()
