"""The schema the migrations build: partitioned inventory and trigram search on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from serve_app.db.engine import create_engine
from tests.conftest import Backend


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_partitions_and_trigram_index(backend: Backend) -> None:
    engine = create_engine(backend.settings.effective_database_url)
    async with engine.connect() as conn:
        strategy = (
            await conn.execute(
                text("SELECT partstrat::text FROM pg_partitioned_table WHERE partrelid = 'inventory_items'::regclass")
            )
        ).scalar()
        partitions = (
            await conn.execute(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'inventory_items'::regclass"))
        ).scalar()
        trigram = (
            await conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_cards_name_trgm'"))
        ).scalar()
    await engine.dispose()
    assert strategy == "h" and partitions == 16
    assert trigram is not None and "gin_trgm_ops" in trigram


async def test_migrated_tables(backend: Backend) -> None:
    engine = create_engine(backend.settings.effective_database_url)
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if backend.name == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    async with engine.connect() as conn:
        tables = set((await conn.execute(text(query))).scalars())
    await engine.dispose()
    assert {
        "users",
        "auth_sessions",
        "refresh_tokens",
        "signing_keys",
        "cards",
        "printings",
        "inventory_items",
        "images",
        "sales",
        "fair_values",
        "price_review_queue",
        "alembic_version",
    } <= tables
