"""Administration: users and roles (admin role required)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from serve_app.api.deps import AdminUser, SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.schemas.users import RoleUpdate, UserList, UserPublic
from serve_app.services import users as user_service

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"], dependencies=[Depends(limit_by_ip)])


@router.get("/users")
async def list_users(
    _: AdminUser,
    state: StateDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UserList:
    items, total = await user_service.list_users(session, vault=state.vault, page=page, page_size=page_size)
    return UserList(items=items, total=total, page=page, page_size=page_size)


@router.put("/users/{user_id}/role")
async def change_role(
    user_id: uuid.UUID, body: RoleUpdate, _: AdminUser, state: StateDep, session: SessionDep
) -> UserPublic:
    user = await user_service.set_role(session, user_id=user_id, role=body.role)
    await session.commit()
    return user_service.to_public(user, vault=state.vault)
