"""Login sessions, access tokens and rotating refresh tokens.

A login starts a session: the family of refresh tokens that descend from it. Each refresh
token works once and is exchanged for a new pair. Presenting a token that was already
exchanged means it leaked: the whole family is revoked, and its access tokens stop working
at once because every request checks its session.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.core.errors import InvalidToken, RefreshTokenReused, SessionNotFound
from serve_app.db.tables import AuthSession, RefreshToken, User
from serve_app.schemas.users import SessionPublic, TokenPair
from serve_app.services.signing_keys import SigningKeys


@dataclass(frozen=True)
class TokenPolicy:
    access_ttl_s: int
    refresh_ttl_s: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


async def _issue(
    session: AsyncSession, *, keys: SigningKeys, policy: TokenPolicy, user: User, auth_session: AuthSession
) -> TokenPair:
    refresh = secrets.token_urlsafe(32)
    now = _now()
    expires = now + timedelta(seconds=policy.refresh_ttl_s)
    session.add(RefreshToken(token_hash=_hash(refresh), session_id=auth_session.id, issued_at=now, expires_at=expires))
    auth_session.last_used_at = now
    auth_session.expires_at = expires
    session.add(auth_session)
    await session.flush()
    access = await keys.sign({"sub": str(user.id), "sid": str(auth_session.id), "role": user.role}, policy.access_ttl_s)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=policy.access_ttl_s)


async def start_session(
    session: AsyncSession,
    *,
    keys: SigningKeys,
    policy: TokenPolicy,
    user: User,
    user_agent: str,
    ip: str,
    method: str = "password",
) -> TokenPair:
    auth_session = AuthSession(
        user_id=user.id, user_agent=user_agent[:255], ip=ip[:64], auth_method=method, expires_at=_now()
    )
    session.add(auth_session)
    await session.flush()
    return await _issue(session, keys=keys, policy=policy, user=user, auth_session=auth_session)


async def refresh_session(
    session: AsyncSession, *, keys: SigningKeys, policy: TokenPolicy, refresh_token: str
) -> TokenPair:
    token_hash = _hash(refresh_token)
    row = await session.get(RefreshToken, token_hash)
    if row is None:
        raise InvalidToken("unknown refresh token")
    auth_session = await session.get(AuthSession, row.session_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise InvalidToken("session revoked")
    # claim the token atomically so two concurrent refreshes cannot both succeed
    claimed = await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.token_hash) == token_hash, col(RefreshToken.used_at).is_(None))
        .values(used_at=_now())
    )
    if claimed.rowcount != 1:
        await _revoke(session, auth_session, reason="refresh-token-reuse")
        await session.commit()
        raise RefreshTokenReused()
    if row.expires_at < _now():
        raise InvalidToken("refresh token expired")
    user = await session.get(User, auth_session.user_id)
    if user is None or not user.is_active:
        raise InvalidToken("user disabled")
    return await _issue(session, keys=keys, policy=policy, user=user, auth_session=auth_session)


async def _revoke(session: AsyncSession, auth_session: AuthSession, *, reason: str) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at = _now()
        auth_session.revoked_reason = reason
        session.add(auth_session)
        await session.flush()


async def authenticate_access(session: AsyncSession, *, keys: SigningKeys, token: str) -> tuple[User, uuid.UUID]:
    """The user and session behind an access token; the session must still be live."""
    claims = await keys.verify(token)
    try:
        user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
    except (KeyError, ValueError):
        raise InvalidToken("token subject invalid") from None
    row = (
        await session.exec(
            select(User, AuthSession)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(User.id == user_id, AuthSession.id == session_id)
        )
    ).first()
    if row is None:
        raise InvalidToken("session not found")
    user, auth_session = row
    if auth_session.revoked_at is not None or not user.is_active:
        raise InvalidToken("session revoked")
    return user, session_id


async def list_sessions(session: AsyncSession, *, user_id: uuid.UUID, current: uuid.UUID) -> list[SessionPublic]:
    rows = (
        await session.exec(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id, col(AuthSession.revoked_at).is_(None), AuthSession.expires_at > _now()
            )
            .order_by(col(AuthSession.last_used_at).desc())
        )
    ).all()
    return [
        SessionPublic(
            id=r.id,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            expires_at=r.expires_at,
            user_agent=r.user_agent,
            ip=r.ip,
            auth_method=r.auth_method,
            current=r.id == current,
        )
        for r in rows
    ]


async def revoke_session(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID, reason: str = "revoked-by-user"
) -> None:
    """Revoke one of the user's own sessions; someone else's is reported as not found."""
    auth_session = await session.get(AuthSession, session_id)
    if auth_session is None or auth_session.user_id != user_id or auth_session.revoked_at is not None:
        raise SessionNotFound()
    await _revoke(session, auth_session, reason=reason)


async def revoke_all_sessions(session: AsyncSession, *, user_id: uuid.UUID, except_id: uuid.UUID | None = None) -> int:
    rows = (
        await session.exec(
            select(AuthSession).where(AuthSession.user_id == user_id, col(AuthSession.revoked_at).is_(None))
        )
    ).all()
    count = 0
    for row in rows:
        if row.id != except_id:
            await _revoke(session, row, reason="revoked-by-user")
            count += 1
    return count
