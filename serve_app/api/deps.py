"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.api.state import AppState
from serve_app.core.errors import AuthenticationFailed, PermissionDenied, RateLimited
from serve_app.core.ratelimit import Bucket
from serve_app.db.tables import User
from serve_app.schemas.users import Role
from serve_app.services import auth as auth_service
from serve_app.settings import Settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.cardvault
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def limit_by_ip(request: Request, state: StateDep) -> None:
    s = state.settings
    decision = await state.limiter.hit(
        f"ip:{client_ip(request)}", Bucket(s.rate_limit_ip_capacity, s.rate_limit_ip_refill_per_s)
    )
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s, "too many requests from this address")


async def limit_login(state: AppState, request: Request, email: str) -> None:
    """A tighter bucket per address and account for password guesses."""
    s = state.settings
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]
    decision = await state.limiter.hit(
        f"login:{client_ip(request)}:{digest}", Bucket(s.rate_limit_login_capacity, s.rate_limit_login_refill_per_s)
    )
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s, "too many login attempts; try again later")


@dataclass(frozen=True)
class Principal:
    user: User
    session_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def role(self) -> Role:
        return Role(self.user.role)


async def current_principal(
    state: StateDep, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise AuthenticationFailed("missing bearer token")
    user, session_id = await auth_service.authenticate_access(session, keys=state.keys, token=token)
    s = state.settings
    decision = await state.limiter.hit(
        f"user:{user.id}", Bucket(s.rate_limit_user_capacity, s.rate_limit_user_refill_per_s)
    )
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s, "too many requests for this account")
    return Principal(user=user, session_id=session_id)


CurrentUser = Annotated[Principal, Depends(current_principal)]

_RANK = {Role.user: 0, Role.moderator: 1, Role.admin: 2}


def require_role(role: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    async def check(principal: CurrentUser) -> Principal:
        if _RANK[principal.role] < _RANK[role]:
            raise PermissionDenied(f"requires the {role.value} role")
        return principal

    return check


AdminUser = Annotated[Principal, Depends(require_role(Role.admin))]
