"""The signed-in user's inventory, with CSV import and export."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status

from serve_app.api.deps import CurrentUser, SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.core.errors import PayloadTooLarge
from serve_app.schemas.inventory import (
    Condition,
    ImportResult,
    InventoryCreate,
    InventoryPage,
    InventoryPublic,
    InventoryUpdate,
    SortKey,
)
from serve_app.services import inventory as inventory_service
from serve_app.services import inventory_csv

router = APIRouter(prefix=f"{API_PREFIX}/inventory", tags=["inventory"], dependencies=[Depends(limit_by_ip)])
MAX_CSV_BYTES = 10 * 1024 * 1024
CsvFormatName = Annotated[str, Query(pattern="^(tcgplayer|deckbox|moxfield|manabox)$")]


@router.get("")
async def list_inventory(
    principal: CurrentUser,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    game: Annotated[str | None, Query(pattern="^(pokemon|fab)$")] = None,
    set: Annotated[str | None, Query(max_length=128)] = None,
    card_id: Annotated[str | None, Query(max_length=64)] = None,
    condition: Condition | None = None,
    location: Annotated[str | None, Query(max_length=128)] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    graded: bool | None = None,
    sort: SortKey = SortKey.created_desc,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InventoryPage:
    filters = inventory_service.InventoryFilter(
        q=q,
        game=game,
        set=set,
        card_id=card_id,
        condition=condition.value if condition else None,
        location=location,
        tag=tag,
        graded=graded,
    )
    return await inventory_service.list_items(
        session, user_id=principal.id, filters=filters, sort=sort, page=page, page_size=page_size
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_inventory_item(
    data: InventoryCreate, principal: CurrentUser, session: SessionDep, state: StateDep
) -> InventoryPublic:
    item = await inventory_service.create_item(session, user_id=principal.id, data=data)
    await session.commit()
    await state.events.publish(f"user:{principal.id}", {"type": "inventory.created", "id": str(item.id)})
    return await inventory_service.public_item(session, item)


@router.post("/import")
async def import_inventory(
    principal: CurrentUser,
    session: SessionDep,
    format: CsvFormatName,
    file: Annotated[UploadFile, File(description="CSV export of TCGplayer, Deckbox, Moxfield or ManaBox")],
    location: Annotated[str | None, Form(max_length=128)] = None,
) -> ImportResult:
    """Import a CSV; the response lists every row that was not imported and why."""
    content = await file.read(MAX_CSV_BYTES + 1)
    if len(content) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"CSV files are limited to {MAX_CSV_BYTES // (1024 * 1024)} MiB")
    result = await inventory_csv.import_csv(
        session, user_id=principal.id, format_name=format, content=content, location=location
    )
    await session.commit()
    return result


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_inventory(principal: CurrentUser, session: SessionDep, format: CsvFormatName) -> Response:
    body = await inventory_csv.export_csv(session, user_id=principal.id, format_name=format)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cardvault-{format}.csv"'},
    )


@router.get("/{item_id}")
async def get_inventory_item(item_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> InventoryPublic:
    item = await inventory_service.get_item(session, user_id=principal.id, item_id=item_id)
    return await inventory_service.public_item(session, item)


@router.patch("/{item_id}")
async def update_inventory_item(
    item_id: uuid.UUID, data: InventoryUpdate, principal: CurrentUser, session: SessionDep, state: StateDep
) -> InventoryPublic:
    item = await inventory_service.update_item(session, user_id=principal.id, item_id=item_id, data=data)
    await session.commit()
    await state.events.publish(f"user:{principal.id}", {"type": "inventory.updated", "id": str(item_id)})
    return await inventory_service.public_item(session, item)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_inventory_item(
    item_id: uuid.UUID, principal: CurrentUser, session: SessionDep, state: StateDep
) -> None:
    await inventory_service.delete_item(session, user_id=principal.id, item_id=item_id)
    await session.commit()
    await state.events.publish(f"user:{principal.id}", {"type": "inventory.deleted", "id": str(item_id)})
