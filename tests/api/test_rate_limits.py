"""Token-bucket rate limits per address, per account and on login; 429 with Retry-After."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from serve_app.api.factory import create_app
from tests.factories import register


@pytest.fixture
async def strict_client(backend) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    settings = backend.settings.model_copy(
        update={
            "rate_limit_ip_capacity": 8,
            "rate_limit_ip_refill_per_s": 0.5,
            "rate_limit_login_capacity": 3,
            "rate_limit_login_refill_per_s": 0.01,
        }
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        # a fresh address per test, so buckets persisted in Redis by earlier runs do not interfere
        transport = httpx.ASGITransport(
            app=manager.app, client=(f"10.{uuid.uuid4().int % 250}.0.{uuid.uuid4().int % 250}", 5000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_per_address_bucket(strict_client: httpx.AsyncClient) -> None:
    statuses = [
        (await strict_client.get("/api/v1/catalog/cards", params={"q": "pikachu"})).status_code for _ in range(12)
    ]
    assert statuses[:8] == [200] * 8
    assert statuses[8:] == [429] * 4
    limited = await strict_client.get("/api/v1/catalog/cards")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["retry_after"] == int(limited.headers["retry-after"])
    assert (await strict_client.get("/healthz")).status_code == 200  # health is never limited


async def test_login_bucket_per_account(strict_client: httpx.AsyncClient) -> None:
    email = f"guess-{uuid.uuid4().hex[:8]}@example.com"
    codes = [
        (
            await strict_client.post("/api/v1/auth/token", data={"username": email, "password": f"guess{i}xxxxx"})
        ).status_code
        for i in range(5)
    ]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


async def test_per_user_bucket(backend) -> None:  # type: ignore[no-untyped-def]
    settings = backend.settings.model_copy(update={"rate_limit_user_capacity": 5, "rate_limit_user_refill_per_s": 0.2})
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            user = await register(client)
            other = await register(client)
            codes = [(await client.get("/api/v1/me", headers=user.headers)).status_code for _ in range(7)]
            assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
            # another account from the same address is not affected
            assert (await client.get("/api/v1/me", headers=other.headers)).status_code == 200
