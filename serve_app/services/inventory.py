"""Per-user inventory. Every query is scoped by ``user_id``: another user's item is not found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pipelines.catalog_sources import normalize_name
from serve_app.core.errors import InventoryItemNotFound, UnprocessableContent
from serve_app.db.tables import Card, CardSet, Image, InventoryItem, Printing, utcnow
from serve_app.schemas.inventory import (
    Grading,
    InventoryCard,
    InventoryCreate,
    InventoryPage,
    InventoryPublic,
    InventoryUpdate,
    SortKey,
)


@dataclass(frozen=True)
class InventoryFilter:
    q: str | None = None
    game: str | None = None
    set: str | None = None
    card_id: str | None = None
    condition: str | None = None
    location: str | None = None
    tag: str | None = None
    graded: bool | None = None


async def resolve_printing(
    session: AsyncSession, *, printing_id: str | None, card_id: str | None, finish: str | None, language: str = "en"
) -> Printing:
    """The printing a request names, or a 422 that says what would have been accepted."""
    if printing_id:
        printing = await session.get(Printing, printing_id)
        if printing is None:
            raise UnprocessableContent(f"no printing with id {printing_id!r}")
        return printing
    printings = (await session.exec(select(Printing).where(Printing.card_id == card_id))).all()
    if not printings:
        raise UnprocessableContent(f"no card with id {card_id!r}")
    candidates = [p for p in printings if p.language == language] or printings
    if finish:
        candidates = [p for p in candidates if p.finish == finish]
    if len(candidates) == 1:
        return candidates[0]
    finishes = sorted({p.finish for p in printings})
    if not candidates:
        raise UnprocessableContent(
            f"card {card_id} has no {finish} printing; finishes: {', '.join(finishes)}", finishes=finishes
        )
    raise UnprocessableContent(
        f"card {card_id} has several printings; give finish or printing_id", printings=sorted(p.id for p in candidates)
    )


async def _check_image(session: AsyncSession, user_id: uuid.UUID, key: str | None) -> None:
    if key is None:
        return
    image = await session.get(Image, key)
    if image is None or image.user_id != user_id:
        raise UnprocessableContent(f"no image {key!r} among your uploads")


def _grading_columns(graded: Grading | None) -> dict[str, Any]:
    if graded is None:
        return {"graded_company": None, "grade": None, "cert_number": None}
    return {"graded_company": graded.company.value, "grade": graded.grade, "cert_number": graded.cert_number}


async def create_item(session: AsyncSession, *, user_id: uuid.UUID, data: InventoryCreate) -> InventoryItem:
    printing = await resolve_printing(
        session, printing_id=data.printing_id, card_id=data.card_id, finish=data.finish, language=data.language
    )
    await _check_image(session, user_id, data.source_image_key)
    fields = data.model_dump(exclude={"printing_id", "card_id", "finish", "language", "graded"})
    item = InventoryItem(
        user_id=user_id,
        printing_id=printing.id,
        card_id=printing.card_id,
        finish=printing.finish,
        language=printing.language,
        **fields,
        **_grading_columns(data.graded),
    )
    session.add(item)
    await session.flush()
    return item


async def get_item(session: AsyncSession, *, user_id: uuid.UUID, item_id: uuid.UUID) -> InventoryItem:
    item = await session.get(InventoryItem, (user_id, item_id))
    if item is None:
        raise InventoryItemNotFound()
    return item


async def update_item(
    session: AsyncSession, *, user_id: uuid.UUID, item_id: uuid.UUID, data: InventoryUpdate
) -> InventoryItem:
    item = await get_item(session, user_id=user_id, item_id=item_id)
    changes = data.model_dump(exclude_unset=True)
    if "printing_id" in changes:
        if changes["printing_id"] is None:
            raise UnprocessableContent("printing_id cannot be removed")
        printing = await resolve_printing(session, printing_id=changes.pop("printing_id"), card_id=None, finish=None)
        item.printing_id, item.card_id = printing.id, printing.card_id
        item.finish, item.language = printing.finish, printing.language
    if "graded" in changes:
        changes.pop("graded")
        for key, value in _grading_columns(data.graded).items():
            setattr(item, key, value)
    if "source_image_key" in changes:
        await _check_image(session, user_id, changes["source_image_key"])
    for key, value in changes.items():
        if value is None and key in ("quantity", "condition", "currency", "tags"):
            raise UnprocessableContent(f"{key} cannot be null")
        setattr(item, key, value)
    item.updated_at = utcnow()
    session.add(item)
    await session.flush()
    return item


async def delete_item(session: AsyncSession, *, user_id: uuid.UUID, item_id: uuid.UUID) -> None:
    item = await get_item(session, user_id=user_id, item_id=item_id)
    await session.delete(item)
    await session.flush()


def _tag_filter(session: AsyncSession, tag: str) -> ColumnElement[bool]:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return col(InventoryItem.tags).op("?")(tag)
    each = func.json_each(InventoryItem.tags).table_valued("value")
    return exists(select(text("1")).select_from(each).where(each.c.value == tag))


_SORTS: dict[SortKey, list[Any]] = {
    SortKey.created: [col(InventoryItem.created_at)],
    SortKey.created_desc: [col(InventoryItem.created_at).desc()],
    SortKey.updated_desc: [col(InventoryItem.updated_at).desc()],
    SortKey.name: [col(Card.name_search), col(Card.set_id)],
    SortKey.name_desc: [col(Card.name_search).desc()],
    SortKey.set: [col(CardSet.release_date), col(Card.set_id), func.length(Card.number), col(Card.number)],
    SortKey.price: [col(InventoryItem.purchase_price).asc().nulls_last()],
    SortKey.price_desc: [col(InventoryItem.purchase_price).desc().nulls_last()],
    SortKey.quantity: [col(InventoryItem.quantity)],
    SortKey.quantity_desc: [col(InventoryItem.quantity).desc()],
}


async def list_items(
    session: AsyncSession, *, user_id: uuid.UUID, filters: InventoryFilter, sort: SortKey, page: int, page_size: int
) -> InventoryPage:
    where: list[ColumnElement[bool]] = [col(InventoryItem.user_id) == user_id]
    if filters.q:
        where.append(col(Card.name_search).contains(normalize_name(filters.q)))
    if filters.game:
        where.append(col(Card.game_id) == filters.game)
    if filters.set:
        where.append(
            or_(
                col(CardSet.id) == filters.set,
                func.lower(CardSet.code) == filters.set.lower(),
                func.lower(CardSet.name) == filters.set.lower(),
            )
        )
    if filters.card_id:
        where.append(col(InventoryItem.card_id) == filters.card_id)
    if filters.condition:
        where.append(col(InventoryItem.condition) == filters.condition)
    if filters.location:
        where.append(col(InventoryItem.location) == filters.location)
    if filters.graded is not None:
        graded = col(InventoryItem.graded_company)
        where.append(graded.is_not(None) if filters.graded else graded.is_(None))
    if filters.tag:
        where.append(_tag_filter(session, filters.tag))
    base = (
        select(InventoryItem, Card, CardSet)
        .join(Card, col(Card.id) == col(InventoryItem.card_id))
        .join(CardSet, col(CardSet.id) == col(Card.set_id))
        .where(*where)
    )
    total = (await session.exec(select(func.count()).select_from(base.subquery()))).one()
    rows = (
        await session.exec(
            base.order_by(*_SORTS[sort], col(InventoryItem.id)).offset((page - 1) * page_size).limit(page_size)
        )
    ).all()
    return InventoryPage(
        items=[to_public(i, c, s) for i, c, s in rows], total=int(total), page=page, page_size=page_size
    )


async def public_item(session: AsyncSession, item: InventoryItem) -> InventoryPublic:
    card = await session.get(Card, item.card_id)
    assert card is not None
    card_set = await session.get(CardSet, card.set_id)
    assert card_set is not None
    return to_public(item, card, card_set)


def to_public(item: InventoryItem, card: Card, card_set: CardSet) -> InventoryPublic:
    graded = None
    if item.graded_company and item.grade is not None:
        graded = Grading(
            company=item.graded_company,
            grade=item.grade,
            cert_number=item.cert_number,
        )
    return InventoryPublic(
        id=item.id,
        printing_id=item.printing_id,
        finish=item.finish,
        language=item.language,
        quantity=item.quantity,
        condition=item.condition,
        graded=graded,
        purchase_price=item.purchase_price,
        currency=item.currency,
        purchase_date=item.purchase_date,
        location=item.location,
        tags=item.tags,
        notes=item.notes,
        source_image_key=item.source_image_key,
        created_at=item.created_at,
        updated_at=item.updated_at,
        card=InventoryCard(
            id=card.id,
            game=card.game_id,
            name=card.name,
            set_id=card_set.id,
            set_name=card_set.name,
            number=card.number,
        ),
    )
