"""The JWT key set kept in the database, shared by every replica, rotated on a schedule."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.core.crypto import derive_key, open_sealed, seal
from serve_app.core.errors import InvalidToken
from serve_app.core.jwt_keys import KeyRing, generate_key, load_key
from serve_app.db.tables import SigningKey

RELOAD_EVERY_S = 60.0
MIN_RELOAD_GAP_S = 1.0


class SigningKeys:
    """Loads the key ring from the database, creating or rotating the active key when due."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        master_key: bytes,
        issuer: str,
        rotation_s: int,
        access_ttl_s: int,
    ) -> None:
        self._sessions = sessions
        self._wrap_key = derive_key(master_key, "jwt-signing-keys")
        self._issuer = issuer
        self._rotation = timedelta(seconds=rotation_s)
        # a retired key keeps verifying until every token it signed has expired
        self._keep = self._rotation + timedelta(seconds=access_ttl_s + 60)
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0

    async def ring(self) -> KeyRing:
        if self._ring is None or time.monotonic() - self._loaded_at > RELOAD_EVERY_S:
            await self.reload()
        assert self._ring is not None
        return self._ring

    async def reload(self) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as session:
            rows = (await session.exec(select(SigningKey).order_by(col(SigningKey.created_at).desc()))).all()
            if not rows or rows[0].created_at < now - self._rotation:
                rows = [await self._create(session, now), *rows]
            for stale in [r for r in rows if r.created_at < now - self._keep]:
                await session.delete(stale)
            await session.commit()
        live = [r for r in rows if r.created_at >= now - self._keep]
        self._ring = KeyRing(
            [
                load_key(r.kid, open_sealed(self._wrap_key, r.private_key_ct, r.kid.encode()), r.created_at)
                for r in live
            ],
            issuer=self._issuer,
        )
        self._loaded_at = time.monotonic()

    async def rotate(self) -> str:
        """Make a new active key now; returns its kid."""
        async with self._sessions() as session:
            row = await self._create(session, datetime.now(UTC))
            await session.commit()
        await self.reload()
        return row.kid

    async def _create(self, session: AsyncSession, now: datetime) -> SigningKey:
        key = generate_key(now)
        row = SigningKey(
            kid=key.kid,
            private_key_ct=seal(self._wrap_key, key.private_pem(), key.kid.encode()),
            public_jwk=key.public_jwk,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return row

    async def sign(self, claims: dict[str, Any], ttl_s: int) -> str:
        return (await self.ring()).sign(claims, ttl_s)

    async def verify(self, token: str) -> dict[str, Any]:
        ring = await self.ring()
        try:
            return ring.verify(token)
        except InvalidToken as exc:
            # another replica may have rotated: reload once, not more often than every few seconds
            if str(exc) == "unknown signing key" and time.monotonic() - self._loaded_at > MIN_RELOAD_GAP_S:
                await self.reload()
                assert self._ring is not None
                return self._ring.verify(token)
            raise
