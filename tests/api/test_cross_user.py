"""Isolation matrix: another user's inventory items, sessions and images are simply not there."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from tests.factories import ApiUser


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 90), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def alices_things(client: httpx.AsyncClient, alice: ApiUser) -> dict[str, str]:
    item = await client.post(
        "/api/v1/inventory", json={"printing_id": "MST131:normal:en", "quantity": 4}, headers=alice.headers
    )
    image = await client.post("/api/v1/images", files={"file": ("a.png", _png(), "image/png")}, headers=alice.headers)
    sessions = await client.get("/api/v1/me/sessions", headers=alice.headers)
    return {"item": item.json()["id"], "image": image.json()["key"], "session": sessions.json()[0]["id"]}


ROUTES = [
    ("GET", "/api/v1/inventory/{item}", None),
    ("PATCH", "/api/v1/inventory/{item}", {"quantity": 99}),
    ("DELETE", "/api/v1/inventory/{item}", None),
    ("DELETE", "/api/v1/me/sessions/{session}", None),
    ("GET", "/api/v1/images/{image}", None),
    ("POST", "/api/v1/images/{image}/complete", None),
    ("DELETE", "/api/v1/images/{image}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_other_user_gets_404_and_changes_nothing(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    alices_things: dict[str, str],
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    url = path.format(**alices_things)
    response = await client.request(method, url, json=body, headers=bob.headers)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert set(response.json()) == {"type", "title", "status", "detail", "instance", "request_id"}
    assert "MST131" not in response.text
    # Alice still has everything, unchanged
    item = await client.get(f"/api/v1/inventory/{alices_things['item']}", headers=alice.headers)
    assert item.status_code == 200 and item.json()["quantity"] == 4
    assert (await client.get(f"/api/v1/images/{alices_things['image']}", headers=alice.headers)).status_code == 200
    assert (await client.get("/api/v1/me", headers=alice.headers)).status_code == 200


async def test_lists_and_exports_show_only_own_rows(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, alices_things: dict[str, str]
) -> None:
    listing = (await client.get("/api/v1/inventory", headers=bob.headers)).json()
    assert listing["total"] == 0 and listing["items"] == []
    export = await client.get("/api/v1/inventory/export", params={"format": "tcgplayer"}, headers=bob.headers)
    assert export.status_code == 200 and "MST131" not in export.text and "Reunion" not in export.text
    sessions = (await client.get("/api/v1/me/sessions", headers=bob.headers)).json()
    assert alices_things["session"] not in {s["id"] for s in sessions}


async def test_cannot_attach_someone_elses_image(
    client: httpx.AsyncClient, bob: ApiUser, alices_things: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/inventory",
        headers=bob.headers,
        json={"printing_id": "MST131:normal:en", "source_image_key": alices_things["image"]},
    )
    assert response.status_code == 422
    assert (await client.get("/api/v1/inventory", headers=bob.headers)).json()["total"] == 0
