"""Load a catalog (see ``pipelines.catalog_sources``) into the database, idempotently.

Rows are upserted in batches, so importing a newer file of the same schema updates what
changed and adds what is new; nothing already referenced by inventory is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from pipelines.catalog_sources import GAMES, Catalog
from serve_app.db.tables import Card, CardSet, Game, Printing

BATCH = 2000
Progress = Callable[[int], None]


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def _upsert(conn: Any, table: Table, rows: Sequence[dict[str, Any]], progress: Progress | None) -> None:
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    pk = [c.name for c in table.primary_key.columns]
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        stmt = insert(table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in pk}
        await conn.execute(stmt.on_conflict_do_update(index_elements=pk, set_=updates), chunk)
        if progress:
            progress(len(chunk))


async def import_catalog(engine: AsyncEngine, catalog: Catalog, *, progress: Progress | None = None) -> dict[str, int]:
    """Upsert a catalog's game, sets, cards and printings; returns the counts written."""
    sets = [asdict(s) for s in catalog.sets]
    cards: list[dict[str, Any]] = []
    printings: list[dict[str, Any]] = []
    for card in catalog.cards:
        row = asdict(card)
        row.pop("printings")
        row["name_search"] = card.name_search
        row["collector_key"] = card.collector_key
        cards.append(row)
        printings.extend(asdict(p) for p in card.printings)
    async with engine.begin() as conn:
        await _upsert(conn, _table(Game), [{"id": catalog.game_id, "name": GAMES[catalog.game_id]}], None)
        await _upsert(conn, _table(CardSet), sets, progress)
        await _upsert(conn, _table(Card), cards, progress)
        await _upsert(conn, _table(Printing), printings, progress)
    return {"sets": len(sets), "cards": len(cards), "printings": len(printings)}
