"""Load a catalog (see ``pipelines.catalog_sources``) into the database, idempotently.

Rows are upserted in batches, so importing a newer file of the same schema updates what
changed and adds what is new; nothing already referenced by inventory is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pipelines.catalog_sources import GAMES, Catalog
from serve_app.db.tables import Card, CardSet, Game, Printing
from serve_app.db.upsert import table_of, upsert

BATCH = 2000
Progress = Callable[[int], None]


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
        await upsert(conn, table_of(Game), [{"id": catalog.game_id, "name": GAMES[catalog.game_id]}])
        await upsert(conn, table_of(CardSet), sets, batch=BATCH, progress=progress)
        await upsert(conn, table_of(Card), cards, batch=BATCH, progress=progress)
        await upsert(conn, table_of(Printing), printings, batch=BATCH, progress=progress)
    return {"sets": len(sets), "cards": len(cards), "printings": len(printings)}
