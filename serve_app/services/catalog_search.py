"""Typo-tolerant name matching for SQLite, where there are no trigram indexes.

PostgreSQL answers name search with ``pg_trgm`` (see ``services.catalog``); on SQLite each
replica keeps the distinct normalised card names in memory (about 13k strings) and ranks
them with rapidfuzz, then fetches the matching rows by the indexed ``name_search`` column.
"""

from __future__ import annotations

import asyncio
import time

from rapidfuzz import fuzz, process
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.db.tables import Card

CHECK_EVERY_S = 30.0


class NameIndex:
    def __init__(self) -> None:
        self._names: list[str] = []
        self._count = -1
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def ensure(self, session: AsyncSession) -> None:
        """Reload when the catalog changed (another process may have imported a set)."""
        if time.monotonic() - self._checked_at < CHECK_EVERY_S:
            return
        async with self._lock:
            if time.monotonic() - self._checked_at < CHECK_EVERY_S:
                return
            count = (await session.exec(select(func.count()).select_from(Card))).one()
            if count != self._count:
                names = (await session.exec(select(Card.name_search).distinct())).all()
                self._names = sorted(names)
                self._count = int(count)
            self._checked_at = time.monotonic()

    def invalidate(self) -> None:
        self._checked_at = 0.0

    def match(self, query: str, *, limit: int = 200, cutoff: float = 75.0) -> list[tuple[str, float]]:
        """Names close to ``query`` with a 0-100 score, best first."""
        hits = process.extract(query, self._names, scorer=fuzz.WRatio, limit=limit, score_cutoff=cutoff)
        return [(name, float(score)) for name, score, _ in hits]
