"""Inventory CRUD, filters, sorting and pagination."""

from __future__ import annotations

import httpx

from tests.factories import ApiUser


async def _add(client: httpx.AsyncClient, user: ApiUser, **body: object) -> dict:  # type: ignore[type-arg]
    response = await client.post("/api/v1/inventory", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_with_every_field(client: httpx.AsyncClient, alice: ApiUser) -> None:
    item = await _add(
        client,
        alice,
        card_id="sv2-12",
        finish="reverse_holofoil",
        quantity=3,
        condition="LP",
        graded={"company": "PSA", "grade": 9.5, "cert_number": "12345678"},
        purchase_price="4.50",
        currency="EUR",
        purchase_date="2024-05-01",
        location="Binder A",
        tags=["trade", "trade", "pauper"],
        notes="from a league prize",
    )
    assert item["printing_id"] == "sv2-12:reverse_holofoil:en"
    assert item["card"] == {
        "id": "sv2-12",
        "game": "pokemon",
        "name": "Sprigatito",
        "set_id": "sv2",
        "set_name": "Paldea Evolved",
        "number": "12",
    }
    assert item["graded"] == {"company": "PSA", "grade": 9.5, "cert_number": "12345678"}
    assert item["tags"] == ["trade", "pauper"]
    assert item["purchase_price"] == "4.50" and item["currency"] == "EUR"
    fetched = await client.get(f"/api/v1/inventory/{item['id']}", headers=alice.headers)
    assert fetched.json() == item


async def test_printing_resolution_errors(client: httpx.AsyncClient, alice: ApiUser) -> None:
    several = await client.post("/api/v1/inventory", json={"card_id": "sv2-12"}, headers=alice.headers)
    assert several.status_code == 422
    assert "several printings" in several.json()["detail"]
    missing_finish = await client.post(
        "/api/v1/inventory", json={"card_id": "sv2-12", "finish": "gold_foil"}, headers=alice.headers
    )
    assert missing_finish.status_code == 422 and "normal" in missing_finish.json()["finishes"]
    bogus = await client.post("/api/v1/inventory", json={"printing_id": "nope:normal:en"}, headers=alice.headers)
    assert bogus.status_code == 422
    neither = await client.post("/api/v1/inventory", json={"quantity": 1}, headers=alice.headers)
    assert neither.status_code == 422
    bad_grade = await client.post(
        "/api/v1/inventory",
        json={"printing_id": "MST131:normal:en", "graded": {"company": "PSA", "grade": 9.3}},
        headers=alice.headers,
    )
    assert bad_grade.status_code == 422


async def test_patch_and_delete(client: httpx.AsyncClient, alice: ApiUser) -> None:
    item = await _add(client, alice, printing_id="MST131:normal:en")
    patched = await client.patch(
        f"/api/v1/inventory/{item['id']}",
        headers=alice.headers,
        json={"printing_id": "MST131:rainbow_foil:en", "quantity": 2, "graded": None, "location": "Box 3"},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["finish"], body["quantity"], body["location"]) == ("rainbow_foil", 2, "Box 3")
    assert body["updated_at"] >= item["updated_at"]
    null_quantity = await client.patch(
        f"/api/v1/inventory/{item['id']}", json={"quantity": None}, headers=alice.headers
    )
    assert null_quantity.status_code == 422
    assert (await client.delete(f"/api/v1/inventory/{item['id']}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"/api/v1/inventory/{item['id']}", headers=alice.headers)).status_code == 404


async def test_filter_sort_paginate(client: httpx.AsyncClient, alice: ApiUser) -> None:
    await _add(
        client,
        alice,
        printing_id="base1-4:holofoil:en",
        purchase_price="300.00",
        location="Vault",
        tags=["grail"],
        graded={"company": "BGS", "grade": 8.5},
    )
    await _add(client, alice, card_id="sv2-12", finish="normal", purchase_price="0.10", condition="MP")
    await _add(client, alice, printing_id="MST131:rainbow_foil:en", purchase_price="25.00", tags=["grail", "fab"])
    everything = (await client.get("/api/v1/inventory", headers=alice.headers)).json()
    assert everything["total"] == 3
    by_price = (await client.get("/api/v1/inventory", params={"sort": "-purchase_price"}, headers=alice.headers)).json()
    assert [i["card"]["id"] for i in by_price["items"]] == ["base1-4", "MST131", "sv2-12"]
    grails = (
        await client.get("/api/v1/inventory", params={"tag": "grail", "sort": "name"}, headers=alice.headers)
    ).json()
    assert [i["card"]["id"] for i in grails["items"]] == ["MST131", "base1-4"]
    graded = (await client.get("/api/v1/inventory", params={"graded": True}, headers=alice.headers)).json()
    assert [i["card"]["id"] for i in graded["items"]] == ["base1-4"]
    fab = (await client.get("/api/v1/inventory", params={"game": "fab"}, headers=alice.headers)).json()
    assert [i["card"]["id"] for i in fab["items"]] == ["MST131"]
    named = (await client.get("/api/v1/inventory", params={"q": "chariz"}, headers=alice.headers)).json()
    assert [i["card"]["id"] for i in named["items"]] == ["base1-4"]
    mp = (await client.get("/api/v1/inventory", params={"condition": "MP"}, headers=alice.headers)).json()
    assert [i["card"]["id"] for i in mp["items"]] == ["sv2-12"]
    page2 = (
        await client.get(
            "/api/v1/inventory", params={"page_size": 2, "page": 2, "sort": "-purchase_price"}, headers=alice.headers
        )
    ).json()
    assert [i["card"]["id"] for i in page2["items"]] == ["sv2-12"] and page2["total"] == 3
    bad = await client.get("/api/v1/inventory", params={"sort": "bogus"}, headers=alice.headers)
    assert bad.status_code == 422


async def test_inventory_requires_auth(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/inventory")).status_code == 401
    assert (await client.post("/api/v1/inventory", json={"printing_id": "MST131:normal:en"})).status_code == 401
