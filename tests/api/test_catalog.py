"""Catalog search: typo-tolerant names, printed collector lines, filters, details."""

from __future__ import annotations

import httpx
import pytest


async def _search(client: httpx.AsyncClient, **params: object) -> dict:  # type: ignore[type-arg]
    response = await client.get("/api/v1/catalog/cards", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("typo", ["Charzard", "charizrd", "CHARIZARD", "Charizard ex"])
async def test_typo_tolerant_name_search(client: httpx.AsyncClient, typo: str) -> None:
    page = await _search(client, q=typo)
    names = [c["name"] for c in page["items"]]
    assert names, typo
    assert names[0].startswith("Charizard"), names[:5]


async def test_accents_do_not_matter(client: httpx.AsyncClient) -> None:
    page = await _search(client, q="pokemon center")
    assert page["items"][0]["name"] == "Pokémon Center"


async def test_collector_line_lookup(client: httpx.AsyncClient) -> None:
    page = await _search(client, q="012/193")
    assert [c["id"] for c in page["items"]] == ["sv2-12"]
    assert page["items"][0]["collector_line"] == "012/193"
    assert page["interpreted_as"] == {"collector_number": "12", "printed_total": "193"}


async def test_vintage_collector_line(client: httpx.AsyncClient) -> None:
    page = await _search(client, q="4/102")
    assert [c["id"] for c in page["items"]] == ["base1-4"]
    assert page["items"][0]["name"] == "Charizard"
    assert page["items"][0]["collector_line"] == "4/102"


async def test_shiny_vault_and_fab_identifiers(client: httpx.AsyncClient) -> None:
    sv = await _search(client, q="SV107")
    assert "swsh45sv-SV107" in [c["id"] for c in sv["items"]]
    fab = await _search(client, q="MST131")
    assert [c["id"] for c in fab["items"]] == ["MST131"]
    assert fab["items"][0]["name"] == "10,000 Year Reunion"


async def test_name_plus_line_and_filters(client: httpx.AsyncClient) -> None:
    page = await _search(client, q="Charizard 4/102")
    assert [c["id"] for c in page["items"]] == ["base1-4"]
    fab_only = await _search(client, q="reunion", game="fab")
    assert fab_only["items"] and all(c["game"] == "fab" for c in fab_only["items"])
    by_set = await _search(client, set="sv2", number="12")
    assert [c["id"] for c in by_set["items"]] == ["sv2-12"]
    by_set_code = await _search(client, set="PAL", number="012")
    assert [c["id"] for c in by_set_code["items"]] == ["sv2-12"]


async def test_pagination(client: httpx.AsyncClient) -> None:
    first = await _search(client, set="sv2", page_size=10, page=1)
    second = await _search(client, set="sv2", page_size=10, page=2)
    assert first["total"] == second["total"] >= 190
    assert not {c["id"] for c in first["items"]} & {c["id"] for c in second["items"]}


async def test_card_detail_with_printings(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalog/cards/sv2-12")
    assert response.status_code == 200
    card = response.json()
    assert card["set"]["name"] == "Paldea Evolved" and card["set"]["printed_total"] == 193
    assert {p["finish"] for p in card["printings"]} >= {"normal", "reverse_holofoil"}
    fab = (await client.get("/api/v1/catalog/cards/MST131")).json()
    assert {p["finish"] for p in fab["printings"]} == {"normal", "rainbow_foil"}


async def test_unknown_card_and_bad_params(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/catalog/cards/nope-999")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/card-not-found")
    bad = await client.get("/api/v1/catalog/cards", params={"game": "mtg", "page": 0})
    assert bad.status_code == 422
    nothing = await _search(client, q="zzzzqqqxxx")
    assert nothing["items"] == [] and nothing["total"] == 0
