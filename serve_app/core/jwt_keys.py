"""Access tokens: short-lived ES256 JWTs signed with a rotating key set.

The algorithm is pinned to ES256: tokens naming any other ``alg`` (``none``, ``HS256`` with the
public key as secret, ...) are rejected before any key is used. Each key has a ``kid``; new
tokens are signed with the newest key and older keys verify until their tokens have expired.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from serve_app.core.errors import InvalidToken

ALGORITHM = "ES256"


@dataclass(frozen=True)
class SigningKeyMaterial:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: datetime

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, alg=ALGORITHM, use="sig")
        return jwk

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_key(now: datetime) -> SigningKeyMaterial:
    return SigningKeyMaterial(
        kid=f"{now:%Y%m%d}-{secrets.token_hex(4)}",
        private_key=ec.generate_private_key(ec.SECP256R1()),
        created_at=now,
    )


def load_key(kid: str, pem: bytes, created_at: datetime) -> SigningKeyMaterial:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"signing key {kid} is not an EC key")
    return SigningKeyMaterial(kid=kid, private_key=key, created_at=created_at)


class KeyRing:
    """The signing keys a replica knows, newest first."""

    def __init__(self, keys: list[SigningKeyMaterial], *, issuer: str) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = sorted(keys, key=lambda k: k.created_at, reverse=True)
        self._by_kid = {k.kid: k for k in self.keys}
        self.issuer = issuer

    @property
    def active(self) -> SigningKeyMaterial:
        return self.keys[0]

    def knows(self, kid: str) -> bool:
        return kid in self._by_kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys]}

    def sign(self, claims: dict[str, Any], ttl_s: int) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": secrets.token_urlsafe(12),
            **claims,
        }
        return jwt.encode(
            payload, self.active.private_key, algorithm=ALGORITHM, headers={"kid": self.active.kid, "typ": "at+jwt"}
        )

    def verify(self, token: str) -> dict[str, Any]:
        """Decode and verify a token; raise ``InvalidToken`` for anything off."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not accepted")
        key = self._by_kid.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.private_key.public_key(),
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("token signature or claims invalid") from exc
        return claims
