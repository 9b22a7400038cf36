"""The catalog in memory for feed matching: sets by name or code, cards by number or title."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pipelines.catalog_sources import collector_key, normalize_name
from serve_app.db.tables import Card, CardSet, Printing

_LINE = re.compile(r"\b([A-Z]{0,4}\d{1,4}[a-z]?)\s*/\s*([A-Z]{0,4}\d{1,4})\b", re.IGNORECASE)


@dataclass(frozen=True)
class CardRef:
    id: str
    game: str
    set_id: str
    name: str
    name_search: str
    collector_key: str
    printed_total: int | None


class CatalogIndex:
    def __init__(self, sets: list[CardSet], cards: list[CardRef], printings: list[Printing]) -> None:
        self._sets: dict[str, set[str]] = defaultdict(set)
        for s in sets:
            for token in (s.id, s.code, s.name):
                if token:
                    self._sets[token.lower()].add(s.id)
        self.cards = {c.id: c for c in cards}
        self._by_number: dict[tuple[str, str], list[CardRef]] = defaultdict(list)
        self._by_key: dict[str, list[CardRef]] = defaultdict(list)
        self._by_name: dict[tuple[str, str], list[CardRef]] = defaultdict(list)
        for c in cards:
            self._by_number[(c.set_id, c.collector_key)].append(c)
            self._by_key[c.collector_key].append(c)
            self._by_name[(c.set_id, c.name_search)].append(c)
        self.printings: dict[tuple[str, str], str] = {(p.card_id, p.finish): p.id for p in printings}
        self.finishes: dict[str, set[str]] = defaultdict(set)
        self.by_product: dict[str, list[Printing]] = defaultdict(list)
        for p in printings:
            self.finishes[p.card_id].add(p.finish)
            if p.tcgplayer_product_id:
                self.by_product[p.tcgplayer_product_id].append(p)

    @classmethod
    async def load(cls, engine: AsyncEngine) -> CatalogIndex:
        async with engine.connect() as conn:
            sets = [CardSet(**dict(r._mapping)) for r in await conn.execute(select(CardSet))]
            cards = [
                CardRef(*r)
                for r in await conn.execute(
                    select(  # type: ignore[call-overload]
                        Card.id,
                        Card.game_id,
                        Card.set_id,
                        Card.name,
                        Card.name_search,
                        Card.collector_key,
                        Card.printed_total,
                    )
                )
            ]
            printings = [Printing(**dict(r._mapping)) for r in await conn.execute(select(Printing))]
        return cls(sets, cards, printings)

    def set_ids(self, *tokens: str | None) -> set[str]:
        for token in tokens:
            if token and (found := self._sets.get(token.strip().lower())):
                return found
        return set()

    def by_set_number(self, set_ids: set[str], number: str) -> list[CardRef]:
        key = collector_key(number.split("/")[0])
        return [c for s in set_ids for c in self._by_number.get((s, key), [])]

    def by_set_name(self, set_ids: set[str], name: str) -> list[CardRef]:
        return [c for s in set_ids for c in self._by_name.get((s, normalize_name(name)), [])]

    def from_title(self, title: str) -> list[CardRef]:
        """Cards a listing title names by its printed collector line and card name."""
        text = normalize_name(title)
        match = _LINE.search(title)
        if match:
            total = match[2]
            candidates = [
                c
                for c in self._by_key.get(collector_key(match[1]), [])
                if not total.isdigit() or c.printed_total == int(total)
            ]
        else:
            candidates = []
        named = [c for c in candidates if c.name_search and c.name_search in text]
        return named

    def printing(self, card_id: str, finish: str) -> str | None:
        return self.printings.get((card_id, finish))
