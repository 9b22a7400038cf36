"""The signed-in user's profile and sessions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, status

from serve_app.api.deps import CurrentUser, SessionDep, StateDep, limit_by_ip
from serve_app.api.paths import API_PREFIX
from serve_app.schemas.users import SessionPublic, UserPublic, UserUpdate
from serve_app.services import auth as auth_service
from serve_app.services import users as user_service

router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["me"], dependencies=[Depends(limit_by_ip)])


@router.get("")
async def read_me(principal: CurrentUser, state: StateDep) -> UserPublic:
    return user_service.to_public(principal.user, vault=state.vault)


@router.patch("")
async def update_me(data: UserUpdate, principal: CurrentUser, state: StateDep, session: SessionDep) -> UserPublic:
    user = await user_service.update_profile(session, vault=state.vault, user=principal.user, data=data)
    await session.commit()
    return user_service.to_public(user, vault=state.vault)


@router.get("/sessions")
async def list_sessions(principal: CurrentUser, session: SessionDep) -> list[SessionPublic]:
    return await auth_service.list_sessions(session, user_id=principal.id, current=principal.session_id)


@router.delete("/sessions", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_other_sessions(principal: CurrentUser, session: SessionDep) -> None:
    """Sign out everywhere else; the current session stays."""
    await auth_service.revoke_all_sessions(session, user_id=principal.id, except_id=principal.session_id)
    await session.commit()


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> None:
    await auth_service.revoke_session(session, user_id=principal.id, session_id=session_id)
    await session.commit()
