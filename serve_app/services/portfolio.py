"""What a collection is worth: fair values x condition x quantity, against what was paid.

Fair values are Near Mint, raw. A card in worse condition is valued with the condition
multipliers of ``pipelines.prices.fair_value``; graded cards are valued as raw Near Mint (graded
markets are not priced yet) and the response says so. Purchase prices in other currencies are
converted at the rate of the purchase date (or of the day it was entered).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import date

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from pipelines.prices.fair_value import PRIOR_MULTIPLIERS
from serve_app.core.cache import Cache
from serve_app.db.tables import Card, CardSet, FairValue, FairValueHistory, InventoryItem
from serve_app.schemas.prices import Breakdown, Portfolio, ValuePoint
from serve_app.services.price_ingest import FxTable, load_fx
from serve_app.services.valuation import latest_run_id

CACHE_TTL_S = 600
GAME_NAMES = {"pokemon": "Pokémon TCG", "fab": "Flesh and Blood"}


async def _cache_key(session: AsyncSession, run_id: int, user_id: uuid.UUID) -> str:
    count, updated = (
        await session.exec(
            select(func.count(), func.max(InventoryItem.updated_at)).where(InventoryItem.user_id == user_id)
        )
    ).one()
    # the run id and the inventory's shape are in the key: a revaluation or an edit is seen at once
    return f"portfolio:{run_id}:{user_id}:{count}:{updated}"


async def portfolio(session: AsyncSession, *, engine: AsyncEngine, cache: Cache, user_id: uuid.UUID) -> Portfolio:
    run_id = await latest_run_id(engine)
    key = await _cache_key(session, run_id, user_id)
    cached = await cache.get(key)
    if cached:
        return Portfolio.model_validate(json.loads(cached))
    result = await _compute(session, engine=engine, user_id=user_id, run_id=run_id)
    await cache.set(key, result.model_dump_json().encode(), CACHE_TTL_S)
    return result


async def _compute(session: AsyncSession, *, engine: AsyncEngine, user_id: uuid.UUID, run_id: int) -> Portfolio:
    rows = (
        await session.exec(
            select(InventoryItem, Card, CardSet, FairValue)
            .join(Card, col(Card.id) == col(InventoryItem.card_id))
            .join(CardSet, col(CardSet.id) == col(Card.set_id))
            .outerjoin(FairValue, col(FairValue.printing_id) == col(InventoryItem.printing_id))
            .where(InventoryItem.user_id == user_id)
        )
    ).all()
    fx = await load_fx(engine)
    total = cost = 0.0
    valued = unvalued = thin = graded = 0
    games: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    sets: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    set_names: dict[str, str] = {}
    weights: dict[str, float] = defaultdict(float)  # printing -> quantity x condition multiplier
    for item, card, card_set, value in rows:
        factor = PRIOR_MULTIPLIERS.get(item.condition, 1.0) if item.graded_company is None else 1.0
        graded += item.graded_company is not None
        worth = value.fmv_usd * factor * item.quantity if value else 0.0
        if value:
            valued += 1
            thin += value.thin
            weights[item.printing_id] += factor * item.quantity
        else:
            unvalued += 1
        total += worth
        cost += _cost_usd(item, fx)
        for bucket, key in ((games, card.game_id), (sets, card_set.id)):
            bucket[key][0] += 1
            bucket[key][1] += item.quantity
            bucket[key][2] += worth
        set_names[card_set.id] = card_set.name
    history = await _history(session, weights)
    notes = []
    if graded:
        notes.append(f"{graded} graded item(s) valued as raw Near Mint: graded prices are not tracked yet")
    if unvalued:
        notes.append(f"{unvalued} item(s) have no fair value yet and count as 0")
    return Portfolio(
        total_value_usd=round(total, 2),
        cost_basis_usd=round(cost, 2),
        unrealized_gain_usd=round(total - cost, 2),
        unrealized_gain_pct=round((total - cost) / cost * 100, 2) if cost else None,
        items=len(rows),
        cards=sum(item.quantity for item, *_ in rows),
        valued_items=valued,
        unvalued_items=unvalued,
        thin_market_items=thin,
        by_game=_breakdown(games, GAME_NAMES),
        by_set=_breakdown(sets, set_names),
        history=history,
        valuation_run=run_id,
        notes=notes,
    )


def _cost_usd(item: InventoryItem, fx: FxTable) -> float:
    if item.purchase_price is None:
        return 0.0
    day = item.purchase_date or item.created_at.date()
    rate = fx.usd_per_unit(item.currency, day) or 0.0
    return float(item.purchase_price) * item.quantity * rate


def _breakdown(bucket: dict[str, list[float]], labels: dict[str, str]) -> list[Breakdown]:
    return sorted(
        (
            Breakdown(key=k, label=labels.get(k, k), items=int(v[0]), cards=int(v[1]), value_usd=round(v[2], 2))
            for k, v in bucket.items()
        ),
        key=lambda b: -b.value_usd,
    )


async def _history(session: AsyncSession, weights: dict[str, float]) -> list[ValuePoint]:
    """The current holdings valued at each past revaluation day."""
    if not weights:
        return []
    per_day: dict[date, float] = defaultdict(float)
    ids = list(weights)
    for start in range(0, len(ids), 500):
        for h in (
            await session.exec(
                select(FairValueHistory).where(col(FairValueHistory.printing_id).in_(ids[start : start + 500]))
            )
        ).all():
            per_day[h.day] += h.fmv_usd * weights[h.printing_id]
    return [ValuePoint(day=d, value_usd=round(v, 2)) for d, v in sorted(per_day.items())]
