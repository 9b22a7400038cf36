"""Build the FastAPI application: routers, error rendering, middleware, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from serve_app.api import problems
from serve_app.api.middleware import RejectNulMiddleware, RequestContextMiddleware
from serve_app.api.routers import admin, auth, catalog, health, images, inventory, live, me, prices, scans
from serve_app.api.state import AppState, build_state
from serve_app.core.logging import configure_logging
from serve_app.services.scanner import LocalScanner
from serve_app.services.scans import Scanner
from serve_app.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None,
    *,
    state: AppState | None = None,
    request_id_source: Callable[[], str | None] | None = None,
    emit_request_id: bool = True,
    scanner: Scanner | None = None,
) -> FastAPI:
    """The HTTP application. Heavy resources are created in the lifespan, not here."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json_lines=settings.log_json)
        app_state = state or build_state(settings)
        await app_state.keys.ring()  # create the first signing key before taking traffic
        if settings.scans_enabled and app_state.scan_worker is None:
            app_state.start_scans(
                scanner
                or LocalScanner(
                    settings.resolved_catalog_dir(),
                    device=settings.models_device,
                    models_dir=settings.models_dir,
                    faces_dir=settings.data_dir / "faces",
                    art_vouches=settings.art_vouches,
                )
            )
        app.state.cardvault = app_state
        try:
            yield
        finally:
            if state is None:
                await app_state.close()

    app = FastAPI(
        title="CardVault API",
        version="0.1.0",
        lifespan=lifespan,
        description="Scan, identify, grade, price and trade trading cards.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    problems.install(app)
    app.add_middleware(RejectNulMiddleware)
    app.add_middleware(RequestContextMiddleware, request_id_source=request_id_source, emit_header=emit_request_id)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # routers carry their full prefix so metrics and logs see the whole route template
    for router in (
        health.router,
        auth.router,
        me.router,
        admin.router,
        catalog.router,
        inventory.router,
        images.router,
        prices.router,
        scans.router,
        live.router,
    ):
        app.include_router(router)
    return app
