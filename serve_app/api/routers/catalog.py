"""The card catalog: search and details. Public, rate limited per address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from serve_app.api.deps import SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.schemas.catalog import CardDetail, CardPage
from serve_app.services import catalog as catalog_service

router = APIRouter(prefix=f"{API_PREFIX}/catalog", tags=["catalog"], dependencies=[Depends(limit_by_ip)])


@router.get("/cards")
async def search_cards(
    state: StateDep,
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="name (typos allowed) and/or a printed "
            "collector line: `Charizard`, `012/193`, `SV107`, `MST131`",
        ),
    ] = None,
    game: Annotated[str | None, Query(pattern="^(pokemon|fab)$")] = None,
    set: Annotated[str | None, Query(max_length=128, description="set id, code or name")] = None,
    number: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CardPage:
    return await catalog_service.search_cards(
        session, names=state.names, q=q, game=game, set_=set, number=number, page=page, page_size=page_size
    )


@router.get("/cards/{card_id}")
async def get_card(card_id: str, session: SessionDep) -> CardDetail:
    return await catalog_service.get_card(session, card_id)
