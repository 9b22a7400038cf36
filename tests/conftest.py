"""Test fixtures: the API on SQLite and on PostgreSQL + Redis (real servers), a catalog subset.

Every test that takes ``client`` runs twice: once on the embedded default (SQLite, in-process
cache and rate limits) and once on PostgreSQL + Redis at 127.0.0.1. Those servers must be up;
the PostgreSQL run fails, it does not skip, when they are not (CI must exercise it).
Set ``CARDVAULT_TEST_BACKENDS=sqlite`` to run only the embedded backend locally.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from pipelines.catalog_sources import Catalog, load_catalog
from serve_app.api.factory import create_app
from serve_app.api.state import AppState
from serve_app.db.engine import create_engine
from serve_app.db.migrate import upgrade
from serve_app.services.catalog_import import import_catalog
from serve_app.settings import Settings
from tests.factories import ApiUser, register

DATA = Path(os.environ.get("CARDVAULT_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
PG_ADMIN_URL = os.environ.get("CARDVAULT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CARDVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKENDS = os.environ.get("CARDVAULT_TEST_BACKENDS", "sqlite,postgres").split(",")
# a few real sets of each game: modern and vintage Pokémon, shiny vault numbers, FaB foils
SUBSET = {"pokemon": {"sv2", "sv3pt5", "base1", "swsh45sv", "swsh45", "sv4"}, "fab": {"MST", "WTR"}}
TEST_MASTER_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


@dataclass
class Backend:
    name: str
    settings: Settings


@pytest.fixture(scope="session")
def catalogs() -> list[Catalog]:
    full = [
        load_catalog("pokemon", DATA / "pokemon_cards.json.gz", variants_path=DATA / "pokemon_price_snapshots.csv.gz"),
        load_catalog("fab", DATA / "fab_cards.json.gz"),
    ]
    subset = []
    for catalog in full:
        keep = SUBSET[catalog.game_id]
        subset.append(
            Catalog(
                catalog.game_id,
                [s for s in catalog.sets if s.id in keep],
                [c for c in catalog.cards if c.set_id in keep],
            )
        )
    return subset


def make_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        environment="test",
        data_dir=tmp,
        master_key=TEST_MASTER_KEY,
        log_json=True,
        log_level="WARNING",
        rate_limit_ip_capacity=100_000,
        rate_limit_ip_refill_per_s=10_000.0,
        rate_limit_user_capacity=100_000,
        rate_limit_user_refill_per_s=10_000.0,
        rate_limit_login_capacity=10_000,
        rate_limit_login_refill_per_s=1000.0,
        public_url="http://testserver",
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def _fresh_postgres_db() -> str:
    name = f"cardvault_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_postgres_db(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _pg_url(db: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{db}"


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, catalogs: list[Catalog]
) -> AsyncIterator[Backend]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        settings = make_settings(tmp)
        db_name = None
    else:
        db_name = await _fresh_postgres_db()
        redis = Redis.from_url(REDIS_URL)
        await redis.flushdb()
        await redis.aclose()
        settings = make_settings(tmp, database_url=_pg_url(db_name), redis_url=REDIS_URL)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    engine = create_engine(settings.effective_database_url)
    for catalog in catalogs:
        await import_catalog(engine, catalog)
    await engine.dispose()
    yield Backend(request.param, settings)
    if db_name:
        await _drop_postgres_db(db_name)


@pytest.fixture
async def empty_database_url(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly migrated, empty database of the backend's kind."""
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name = await _fresh_postgres_db()
    url = _pg_url(name)
    await asyncio.to_thread(upgrade, url)
    yield url
    await _drop_postgres_db(name)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray for the whole session (Serve tests, Ray Data jobs)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Serve's controller gives a starting HTTP proxy 5 s to answer that it is ready, then kills it; on a
    # 2-core machine busy with other work its worker had not started in that time (session 29: the Serve
    # tests failed at setup beside two evaluation runs). Ray's processes inherit this from the driver
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
async def api(backend: Backend) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(backend.settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


@pytest.fixture(scope="session")
def app_client(api: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return api[1]


@pytest.fixture
def app_state(api: tuple[FastAPI, httpx.AsyncClient]) -> AppState:
    """The running application's resources (database sessions, event bus, storage)."""
    state: AppState = api[0].state.cardvault
    return state


@pytest.fixture
def client(app_client: httpx.AsyncClient) -> Iterator[httpx.AsyncClient]:
    app_client.headers.pop("Authorization", None)
    yield app_client


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> ApiUser:
    return await register(client, display_name="Alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> ApiUser:
    return await register(client, display_name="Bob")
