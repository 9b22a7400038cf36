"""Card prices (public) and the signed-in user's portfolio."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from serve_app.api.deps import CurrentUser, SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.schemas.prices import CardPrices, Portfolio
from serve_app.services import portfolio as portfolio_service
from serve_app.services import prices as price_service

router = APIRouter(prefix=API_PREFIX, tags=["prices"], dependencies=[Depends(limit_by_ip)])


@router.get("/prices/{card_id}")
async def card_prices(card_id: str, session: SessionDep) -> CardPrices:
    """Fair market value (Near Mint, raw, USD) of each printing, with its interval and history."""
    return await price_service.card_prices(session, card_id=card_id)


@router.get("/portfolio")
async def read_portfolio(principal: CurrentUser, state: StateDep, session: SessionDep) -> Portfolio:
    """The collection's value, cost basis and unrealised gain, by game and set, and over time."""
    return await portfolio_service.portfolio(session, engine=state.engine, cache=state.cache, user_id=principal.id)
