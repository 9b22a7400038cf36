"""Registration, login, refresh rotation with reuse detection, logout, sessions, tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import jwt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.factories import register


async def test_register_login_and_me(client: httpx.AsyncClient) -> None:
    user = await register(
        client,
        email="Misty@Example.com",
        display_name="Misty",
        real_name="Misty Waterflower",
        phone="+1 555 0100",
        shipping_address="Cerulean Gym, Kanto",
    )
    me = await client.get("/api/v1/me", headers=user.headers)
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "misty@example.com"
    assert body["real_name"] == "Misty Waterflower"
    assert body["phone"] == "+1 555 0100"
    assert body["role"] == "user"


async def test_duplicate_email_is_conflict(client: httpx.AsyncClient) -> None:
    user = await register(client)
    again = await client.post(
        "/api/v1/auth/register", json={"email": user.email.upper(), "password": "x" * 12, "display_name": "Dup"}
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["type"].endswith("/email-already-registered")


async def test_bad_registration_is_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": "short", "display_name": ""}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and {tuple(e["loc"])[-1] for e in problem["errors"]} >= {"email", "password"}


async def test_wrong_password_and_unknown_email_are_401(client: httpx.AsyncClient) -> None:
    user = await register(client)
    wrong = await client.post("/api/v1/auth/token", data={"username": user.email, "password": "nope nope nope"})
    unknown = await client.post("/api/v1/auth/token", data={"username": "ghost@example.com", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_refresh_rotates_and_reuse_revokes_family(client: httpx.AsyncClient) -> None:
    user = await register(client)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != user.refresh_token
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    ).status_code == 200
    # the old token is presented again: theft assumed, the whole family dies
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reuse.status_code == 401
    assert reuse.json()["type"].endswith("/refresh-token-reused")
    newest = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert newest.status_code == 401
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 401


async def test_logout_kills_access_and_refresh(client: httpx.AsyncClient) -> None:
    user = await register(client)
    assert (await client.post("/api/v1/auth/logout", headers=user.headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 401
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


async def test_sessions_list_and_revoke(client: httpx.AsyncClient) -> None:
    user = await register(client)
    second = await client.post(
        "/api/v1/auth/token",
        data={"username": user.email, "password": user.password},
        headers={"User-Agent": "phone-app/1.0"},
    )
    other = second.json()
    sessions = (await client.get("/api/v1/me/sessions", headers=user.headers)).json()
    assert len(sessions) == 2
    assert sum(s["current"] for s in sessions) == 1
    phone = next(s for s in sessions if s["user_agent"] == "phone-app/1.0")
    assert (await client.delete(f"/api/v1/me/sessions/{phone['id']}", headers=user.headers)).status_code == 204
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    ).status_code == 401
    assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200
    assert len((await client.get("/api/v1/me/sessions", headers=user.headers)).json()) == 1


async def test_revoke_all_other_sessions(client: httpx.AsyncClient) -> None:
    user = await register(client)
    other = (await client.post("/api/v1/auth/token", data={"username": user.email, "password": user.password})).json()
    assert (await client.delete("/api/v1/me/sessions", headers=user.headers)).status_code == 204
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    ).status_code == 401
    assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_none_alg_and_hs256_tokens_rejected(client: httpx.AsyncClient) -> None:
    user = await register(client)
    header, _payload, signature = user.access_token.split(".")
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    forged_payload = _b64({**claims, "role": "admin"})
    tampered = f"{header}.{forged_payload}.{signature}"
    none_alg = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{forged_payload}."
    jwks = (await client.get("/.well-known/jwks.json")).json()
    # the classic confusion attack: HMAC-sign with the public key as the shared secret
    public_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': jwks['keys'][0]['kid']})}.{forged_payload}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    hs256 = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    for token in (tampered, none_alg, hs256, "garbage", user.access_token + "x"):
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_rejected(backend, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    from serve_app.api.state import build_state

    user = await register(client)
    state = build_state(backend.settings)
    try:
        ring = await state.keys.ring()
        claims = jwt.decode(user.access_token, options={"verify_signature": False})
        expired = ring.sign({"sub": claims["sub"], "sid": claims["sid"], "role": "user"}, ttl_s=-10)
        fresh = ring.sign({"sub": claims["sub"], "sid": claims["sid"], "role": "user"}, ttl_s=60)
    finally:
        await state.close()
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})).status_code == 401
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
