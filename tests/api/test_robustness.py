"""Bad input never yields a 5xx: every operation in the OpenAPI document, fed garbage."""

from __future__ import annotations

import re

import httpx
import jwt

from tests.factories import ApiUser

GARBAGE_PATH_VALUES = ["x", "0", "-1", "%00", "a" * 300, "00000000-0000-0000-0000-000000000000", "..%2F..%2Fetc"]
GARBAGE_BODIES: list[tuple[bytes, str]] = [
    (b"{not json", "application/json"),
    (b"[]", "application/json"),
    (b'{"email": 5, "password": null, "quantity": "many", "printing_id": [], "role": {}}', "application/json"),
    (b"\xff\xfe\x00\x01", "application/octet-stream"),
    (
        b'{"email": "a\\u0000@example.com", "password": "\\u0000 0123456789", '
        b'"display_name": "\\u0000", "card_id": "\\u0000", "tags": ["\\u0000"], "notes": "\\u0000"}',
        "application/json",
    ),
    (b"username=&password=", "application/x-www-form-urlencoded"),
    (b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--x--\r\n", "multipart/form-data; boundary=x"),
]


async def test_no_operation_answers_5xx_to_garbage(client: httpx.AsyncClient, alice: ApiUser) -> None:
    spec = (await client.get("/openapi.json")).json()
    calls = 0
    for path, operations in spec["paths"].items():
        for method in operations:
            for value in GARBAGE_PATH_VALUES:
                url = re.sub(r"\{[^}]+\}", value, path)
                for body, content_type in GARBAGE_BODIES:
                    for headers in ({}, alice.headers):
                        response = await client.request(
                            method.upper(),
                            url,
                            content=body,
                            headers={**headers, "content-type": content_type},
                            params={"page": "-5", "q": "\x00" * 3, "format": "x"},
                        )
                        calls += 1
                        assert response.status_code < 500, (method, url, body, response.text)
                        if response.status_code >= 400:
                            assert response.headers["content-type"].startswith("application/problem+json")
    assert calls > 1000


async def test_signing_key_rotation_keeps_old_tokens_valid(
    backend,
    client: httpx.AsyncClient,  # type: ignore[no-untyped-def]
    alice: ApiUser,
) -> None:
    import asyncio

    from serve_app.api.state import build_state

    old_kid = jwt.get_unverified_header(alice.access_token)["kid"]
    claims = jwt.decode(alice.access_token, options={"verify_signature": False})
    state = build_state(backend.settings)  # another replica, or `cardvault keys rotate`
    try:
        new_kid = await state.keys.rotate()
        signed_by_new = (await state.keys.ring()).sign(
            {"sub": claims["sub"], "sid": claims["sid"], "role": "user"}, ttl_s=60
        )
    finally:
        await state.close()
    assert new_kid != old_kid and jwt.get_unverified_header(signed_by_new)["kid"] == new_kid
    await asyncio.sleep(1.1)  # reloads on an unknown kid are throttled to one a second
    # the running app meets the new kid, reloads its key ring and accepts it; old tokens stay valid
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {signed_by_new}"})).status_code == 200
    assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 200
    jwks = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= jwks
    fresh = await client.post("/api/v1/auth/token", data={"username": alice.email, "password": alice.password})
    assert jwt.get_unverified_header(fresh.json()["access_token"])["kid"] == new_kid
