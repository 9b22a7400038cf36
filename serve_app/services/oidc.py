"""Login with external OpenID Connect providers: authorization code flow with PKCE (S256).

State, nonce and the PKCE verifier live in the cache for ten minutes and are used once.
The ID token is verified against the provider's JWKS (signature, issuer, audience, expiry,
nonce) before any account is linked.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client

from serve_app.core.cache import Cache
from serve_app.core.errors import AuthenticationFailed, BadRequest, OIDCProviderNotFound, ServiceUnavailable
from serve_app.settings import OIDCProvider, Settings

STATE_TTL_S = 600
ACCEPTED_ALGS = ["RS256", "ES256", "PS256", "EdDSA"]


def provider(settings: Settings, name: str) -> OIDCProvider:
    for p in settings.oidc_providers:
        if p.name == name:
            return p
    raise OIDCProviderNotFound(f"no identity provider named {name!r} is configured")


def redirect_uri(settings: Settings, name: str) -> str:
    return f"{settings.public_url.rstrip('/')}/api/v1/auth/oidc/{name}/callback"


async def _fetch_json(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await http.get(url, timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailable(f"identity provider unreachable: {exc}") from exc


async def metadata(http: httpx.AsyncClient, cache: Cache, p: OIDCProvider) -> dict[str, Any]:
    key = f"oidc:meta:{p.name}"
    cached = await cache.get(key)
    if cached:
        data: dict[str, Any] = json.loads(cached)
        return data
    data = await _fetch_json(http, p.issuer.rstrip("/") + "/.well-known/openid-configuration")
    if data.get("issuer") != p.issuer.rstrip("/") and data.get("issuer") != p.issuer:
        raise ServiceUnavailable("identity provider metadata names another issuer")
    await cache.set(key, json.dumps(data).encode(), 3600)
    return data


def _client(p: OIDCProvider, settings: Settings) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=p.client_id,
        client_secret=p.client_secret.get_secret_value() or None,
        scope=p.scopes,
        redirect_uri=redirect_uri(settings, p.name),
        code_challenge_method="S256",
    )


async def authorization_url(*, settings: Settings, cache: Cache, http: httpx.AsyncClient, name: str) -> str:
    p = provider(settings, name)
    meta = await metadata(http, cache, p)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    async with _client(p, settings) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
        )
    await cache.set(
        f"oidc:state:{state}",
        json.dumps({"provider": name, "nonce": nonce, "verifier": verifier}).encode(),
        STATE_TTL_S,
    )
    return str(url)


async def complete(
    *, settings: Settings, cache: Cache, http: httpx.AsyncClient, name: str, code: str, state: str
) -> dict[str, Any]:
    """Exchange the code and verify the ID token; returns its claims."""
    stored = await cache.pop(f"oidc:state:{state}")
    if stored is None:
        raise BadRequest("unknown or expired login state; start the login again")
    pending = json.loads(stored)
    if pending["provider"] != name:
        raise BadRequest("login state belongs to another provider")
    p = provider(settings, name)
    meta = await metadata(http, cache, p)
    async with _client(p, settings) as client:
        try:
            token = await client.fetch_token(meta["token_endpoint"], code=code, code_verifier=pending["verifier"])
        except Exception as exc:  # authlib raises OAuthError and httpx errors alike
            raise AuthenticationFailed(f"the identity provider refused the code: {exc}") from exc
    id_token = token.get("id_token")
    if not id_token:
        raise AuthenticationFailed("the identity provider returned no ID token")
    jwks = jwt.PyJWKSet.from_dict(await _fetch_json(http, meta["jwks_uri"]))
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        key = next((k for k in jwks.keys if k.key_id == kid), None) or jwks.keys[0]
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=ACCEPTED_ALGS,
            audience=p.client_id,
            issuer=meta["issuer"],
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"invalid ID token: {exc}") from exc
    if claims.get("nonce") != pending["nonce"]:
        raise AuthenticationFailed("ID token nonce mismatch")
    return claims
