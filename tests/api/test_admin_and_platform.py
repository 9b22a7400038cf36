"""RBAC on admin routes, encryption at rest, health, metrics, request ids, problem documents."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from serve_app.db.engine import create_engine
from serve_app.db.migrate import upgrade  # noqa: F401  (the schema comes from the migrations)
from tests.factories import ApiUser, register


async def _promote(backend, user_id: str, role: str) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(backend.settings.effective_database_url)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET role = :role WHERE id = :id"),
            {"role": role, "id": user_id.replace("-", "") if backend.name == "sqlite" else user_id},
        )
    await engine.dispose()


async def test_admin_routes_are_guarded(backend, client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/api/v1/admin/users", headers=alice.headers)).status_code == 403
    assert (await client.get("/api/v1/admin/users")).status_code == 401
    await _promote(backend, alice.id, "admin")
    users = await client.get("/api/v1/admin/users", params={"page_size": 200}, headers=alice.headers)
    assert users.status_code == 200
    assert bob.email in {u["email"] for u in users.json()["items"]}
    promoted = await client.put(f"/api/v1/admin/users/{bob.id}/role", json={"role": "moderator"}, headers=alice.headers)
    assert promoted.status_code == 200 and promoted.json()["role"] == "moderator"
    # a moderator is still not an admin
    assert (await client.get("/api/v1/admin/users", headers=bob.headers)).status_code == 403
    bad_role = await client.put(f"/api/v1/admin/users/{bob.id}/role", json={"role": "owner"}, headers=alice.headers)
    assert bad_role.status_code == 422
    ghost = await client.put(
        "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/role", json={"role": "admin"}, headers=alice.headers
    )
    assert ghost.status_code == 404


async def test_personal_data_is_not_stored_in_plaintext(backend, client: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    secrets = {
        "email": "brock.harrison@pewter.example",
        "real_name": "Brock Harrison",
        "shipping_address": "12 Boulder Lane, Pewter City",
        "phone": "+81 90 1234 5678",
    }
    user = await register(
        client,
        email=secrets["email"],
        real_name=secrets["real_name"],
        shipping_address=secrets["shipping_address"],
        phone=secrets["phone"],
    )
    engine = create_engine(backend.settings.effective_database_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM users"))).mappings().all()
    await engine.dispose()
    raw = b" ".join(
        v if isinstance(v, bytes) else str(v).encode() for row in rows for v in row.values() if v is not None
    )
    for value in secrets.values():
        assert value.encode() not in raw and value.lower().encode() not in raw
        for word in value.replace(".", " ").replace("@", " ").split():
            if len(word) >= 5:
                assert word.encode() not in raw, word  # not even a part of it
    me = (await client.get("/api/v1/me", headers=user.headers)).json()
    assert {k: me[k] for k in secrets} == secrets


async def test_profile_update_keeps_encryption(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.patch(
        "/api/v1/me", json={"phone": "+44 20 7946 0000", "display_name": "Ali"}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "+44 20 7946 0000" and response.json()["display_name"] == "Ali"
    # login by email still works after the update (blind index unchanged)
    token = await client.post("/api/v1/auth/token", data={"username": alice.email.upper(), "password": alice.password})
    assert token.status_code == 200


async def test_health_ready_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    await client.get("/api/v1/catalog/cards", params={"q": "pikachu"})
    metrics = await client.get("/metrics")
    assert "cardvault_http_requests_total" in metrics.text
    assert 'route="/api/v1/catalog/cards"' in metrics.text
    spec = (await client.get("/openapi.json")).json()
    assert {"/api/v1/inventory", "/api/v1/auth/token", "/api/v1/catalog/cards/{card_id}"} <= set(spec["paths"])
    assert (await client.get("/docs")).status_code == 200


async def test_request_ids_and_problem_documents(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert given.headers["x-request-id"] == "trace-abc.123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    assert made.headers["x-request-id"] != "bad id with spaces" and len(made.headers["x-request-id"]) == 32
    missing = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "r-1"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["request_id"] == "r-1" and missing.json()["instance"] == "/api/v1/nothing-here"
    wrong_method = await client.put("/healthz")
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
    malformed = await client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422


async def test_access_log_and_metrics_record_the_status_behind_serve(caplog: pytest.LogCaptureFixture) -> None:
    """Behind the Ray Serve proxy the middleware adds no X-Request-ID header (the proxy does), and
    still records each response's real status in the access log and the request counter."""
    import logging

    from fastapi import FastAPI, HTTPException

    from serve_app.api.middleware import REQUESTS, RequestContextMiddleware

    app = FastAPI()

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout")

    app.add_middleware(RequestContextMiddleware, request_id_source=lambda: "serve-id-1", emit_header=False)
    before = REQUESTS.labels("GET", "/teapot", "418")._value.get()
    with caplog.at_level(logging.INFO, logger="cardvault.access"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as plain:
            response = await plain.get("/teapot")
    assert response.status_code == 418 and "x-request-id" not in response.headers
    assert [r.status for r in caplog.records if r.name == "cardvault.access"] == [418]  # type: ignore[attr-defined]
    assert REQUESTS.labels("GET", "/teapot", "418")._value.get() == before + 1
