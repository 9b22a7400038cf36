"""Factories for test data, created through the public API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx


@dataclass
class ApiUser:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(
    client: httpx.AsyncClient,
    *,
    email: str | None = None,
    password: str = "correct horse battery",
    display_name: str = "Ash",
    **extra: object,
) -> ApiUser:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "display_name": display_name, **extra}
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    body = token.json()
    return ApiUser(user_id, email, password, body["access_token"], body["refresh_token"])
