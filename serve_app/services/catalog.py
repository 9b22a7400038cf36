"""Catalog lookups: typo-tolerant name search, printed collector lines, card details."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pipelines.catalog_sources import CardRecord, SetRecord, collector_key, normalize_name, printed_collector_line
from serve_app.core.errors import CardNotFound
from serve_app.db.tables import Card, CardSet, Printing
from serve_app.schemas.catalog import CardDetail, CardPage, CardSummary, PrintingPublic, SetPublic
from serve_app.services.catalog_search import NameIndex

_LINE = re.compile(r"(?P<num>[A-Za-z]{0,4}\d{1,4}[A-Za-z]?)\s*/\s*(?P<total>[A-Za-z]{0,4}\d{1,4})")
_CODE = re.compile(r"[A-Za-z0-9]{0,5}\d{1,4}[A-Za-z]?")


@dataclass(frozen=True)
class ParsedQuery:
    name: str
    collector: str | None
    printed_total: int | None

    def describe(self) -> dict[str, str]:
        out = {"name": self.name} if self.name else {}
        if self.collector:
            out["collector_number"] = self.collector
        if self.printed_total is not None:
            out["printed_total"] = str(self.printed_total)
        return out


def parse_query(q: str) -> ParsedQuery:
    """Split a search box entry into a name part and a printed collector line, if any."""
    q = q.strip()
    match = _LINE.search(q)
    if match:
        total = match["total"]
        rest = (q[: match.start()] + " " + q[match.end() :]).strip()
        return ParsedQuery(normalize_name(rest), collector_key(match["num"]), int(total) if total.isdigit() else None)
    if _CODE.fullmatch(q) and any(ch.isdigit() for ch in q):
        return ParsedQuery("", collector_key(q), None)
    return ParsedQuery(normalize_name(q), None, None)


def _set_public(s: CardSet) -> SetPublic:
    return SetPublic(
        id=s.id,
        game=s.game_id,
        name=s.name,
        code=s.code,
        series=s.series,
        printed_total=s.printed_total,
        total=s.total,
        release_date=s.release_date,
    )


def collector_line(card: Card, card_set: CardSet) -> str:
    return printed_collector_line(
        CardRecord(
            id=card.id,
            game_id=card.game_id,
            set_id=card.set_id,
            name=card.name,
            number=card.number,
            printed_total=card.printed_total,
        ),
        SetRecord(id=card_set.id, game_id=card_set.game_id, name=card_set.name, release_date=card_set.release_date),
    )


def _summary(card: Card, card_set: CardSet, score: float | None = None) -> CardSummary:
    return CardSummary(
        id=card.id,
        game=card.game_id,
        set=_set_public(card_set),
        name=card.name,
        number=card.number,
        collector_line=collector_line(card, card_set),
        rarity=card.rarity,
        supertype=card.supertype,
        image_url=card.image_url,
        score=score,
    )


async def search_cards(
    session: AsyncSession,
    *,
    names: NameIndex,
    q: str | None,
    game: str | None,
    set_: str | None,
    number: str | None,
    page: int,
    page_size: int,
) -> CardPage:
    parsed = parse_query(q or "")
    filters: list[ColumnElement[bool]] = []
    if game:
        filters.append(col(Card.game_id) == game.lower())
    if set_:
        s = set_.strip()
        filters.append(
            or_(col(CardSet.id) == s, func.lower(CardSet.code) == s.lower(), func.lower(CardSet.name) == s.lower())
        )
    if number:
        filters.append(col(Card.collector_key) == collector_key(number))
    if parsed.collector and not parsed.name:
        # a lone code such as SV107 or MST131: a collector number if one matches, else a name
        line = [col(Card.collector_key) == parsed.collector]
        if parsed.printed_total is not None:
            line.append(col(Card.printed_total) == parsed.printed_total)
        result = await _run(session, filters + line, None, page, page_size)
        if result[1] or parsed.printed_total is not None:
            return CardPage(
                items=result[0], total=result[1], page=page, page_size=page_size, interpreted_as=parsed.describe()
            )
        parsed = ParsedQuery(normalize_name(q or ""), None, None)
    if parsed.collector:
        filters.append(col(Card.collector_key) == parsed.collector)
        if parsed.printed_total is not None:
            filters.append(col(Card.printed_total) == parsed.printed_total)
    score: Any = None
    if parsed.name:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            term = literal(parsed.name)
            filters.append(or_(col(Card.name_search).op("%")(term), term.op("<%")(col(Card.name_search))))
            score = (
                func.greatest(func.similarity(Card.name_search, term), func.word_similarity(term, Card.name_search))
                * 100
            )
        else:
            await names.ensure(session)
            hits = names.match(parsed.name)
            if not hits:
                return CardPage(items=[], total=0, page=page, page_size=page_size, interpreted_as=parsed.describe())
            filters.append(col(Card.name_search).in_([h[0] for h in hits]))
            score = case({name: s for name, s in hits}, value=Card.name_search, else_=0.0)
    items, total = await _run(session, filters, score, page, page_size)
    return CardPage(items=items, total=total, page=page, page_size=page_size, interpreted_as=parsed.describe())


async def _run(
    session: AsyncSession, filters: list[ColumnElement[bool]], score: Any, page: int, page_size: int
) -> tuple[list[CardSummary], int]:
    base = select(Card, CardSet).join(CardSet, col(Card.set_id) == col(CardSet.id)).where(*filters)
    total = (await session.exec(select(func.count()).select_from(base.subquery()))).one()
    order: list[Any] = [col(CardSet.release_date).desc(), func.length(Card.number), col(Card.number)]
    stmt: Any = base
    if score is not None:
        stmt = base.add_columns(score.label("score"))
        order.insert(0, score.desc())
    rows = (
        await session.exec(stmt.order_by(*order, col(Card.id)).offset((page - 1) * page_size).limit(page_size))
    ).all()
    items = [_summary(r[0], r[1], float(r[2]) if score is not None else None) for r in rows]
    return items, int(total)


async def get_card(session: AsyncSession, card_id: str) -> CardDetail:
    row = (
        await session.exec(
            select(Card, CardSet).join(CardSet, col(Card.set_id) == col(CardSet.id)).where(Card.id == card_id)
        )
    ).first()
    if row is None:
        raise CardNotFound(f"no card with id {card_id!r}")
    card, card_set = row
    printings = (
        await session.exec(select(Printing).where(Printing.card_id == card_id).order_by(col(Printing.id)))
    ).all()
    return CardDetail(
        **_summary(card, card_set).model_dump(exclude={"set"}),
        set=_set_public(card_set),
        subtypes=card.subtypes,
        types=card.types,
        hp=card.hp,
        artist=card.artist,
        details=card.details,
        printings=[PrintingPublic(**p.model_dump(exclude={"card_id"})) for p in printings],
    )
