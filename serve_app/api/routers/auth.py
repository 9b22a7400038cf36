"""Registration, password and OIDC login, token refresh and logout."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.api.deps import CurrentUser, SessionDep, StateDep, client_ip, limit_by_ip, limit_login
from serve_app.api.paths import API_PREFIX
from serve_app.api.state import AppState
from serve_app.db.tables import User
from serve_app.schemas.users import RefreshRequest, TokenPair, UserCreate, UserPublic
from serve_app.services import auth as auth_service
from serve_app.services import oidc
from serve_app.services import users as user_service

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"], dependencies=[Depends(limit_by_ip)])


async def _start_session(
    session: AsyncSession, state: AppState, request: Request, user: User, *, method: str
) -> TokenPair:
    """A new login session for ``user`` from this request's client; committed."""
    pair = await auth_service.start_session(
        session,
        keys=state.keys,
        policy=state.tokens,
        user=user,
        user_agent=request.headers.get("user-agent", ""),
        ip=client_ip(request),
        method=method,
    )
    await session.commit()
    return pair


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(data: UserCreate, request: Request, state: StateDep, session: SessionDep) -> UserPublic:
    await limit_login(state, request, str(data.email))
    user = await user_service.create_user(session, vault=state.vault, data=data)
    await session.commit()
    return user_service.to_public(user, vault=state.vault)


@router.post("/token")
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, state: StateDep, session: SessionDep
) -> TokenPair:
    """OAuth2 password grant: ``username`` is the email address."""
    await limit_login(state, request, form.username)
    user = await user_service.authenticate(session, vault=state.vault, email=form.username, password=form.password)
    return await _start_session(session, state, request, user, method="password")


@router.post("/refresh")
async def refresh(body: RefreshRequest, state: StateDep, session: SessionDep) -> TokenPair:
    """Exchange a refresh token for a new pair; a reused token revokes its whole session."""
    pair = await auth_service.refresh_session(
        session, keys=state.keys, policy=state.tokens, refresh_token=body.refresh_token
    )
    await session.commit()
    return pair


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: CurrentUser, session: SessionDep) -> None:
    await auth_service.revoke_session(session, user_id=principal.id, session_id=principal.session_id, reason="logout")
    await session.commit()


@router.get("/oidc/{provider}/login", response_class=RedirectResponse, status_code=status.HTTP_302_FOUND)
async def oidc_login(provider: str, state: StateDep) -> RedirectResponse:
    """Redirect to the identity provider (authorization code + PKCE)."""
    async with httpx.AsyncClient() as http:
        url = await oidc.authorization_url(settings=state.settings, cache=state.cache, http=http, name=provider)
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.get("/oidc/{provider}/callback")
async def oidc_callback(
    provider: str,
    code: str,
    state_param: Annotated[str, Query(alias="state")],
    request: Request,
    state: StateDep,
    session: SessionDep,
) -> TokenPair:
    async with httpx.AsyncClient() as http:
        claims = await oidc.complete(
            settings=state.settings, cache=state.cache, http=http, name=provider, code=code, state=state_param
        )
    user = await user_service.user_for_oidc(
        session,
        vault=state.vault,
        provider=provider,
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=bool(claims.get("email_verified")),
        display_name=claims.get("name"),
    )
    return await _start_session(session, state, request, user, method=f"oidc:{provider}")
