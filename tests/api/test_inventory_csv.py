"""CSV import and export in TCGplayer, Deckbox, Moxfield and ManaBox formats."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.factories import ApiUser, register

TCGPLAYER = """\
Quantity,Name,Simple Name,Set,Card Number,Set Code,Printing,Condition,Language,Rarity,Product ID,\
Purchase Price
2,Sprigatito,Sprigatito,Paldea Evolved,012/193,PAL,Reverse Holofoil,Near Mint Reverse Holofoil,English,Common,,0.25
1,Charizard,Charizard,Base Set,4/102,BS,Holofoil,Lightly Played,English,Rare Holo,,350.00
1,10,000 Year Reunion,10,000 Year Reunion,Part the Mistveil,MST131,MST,Rainbow Foil,Near Mint,English,Majestic,551703,
1,Pikachu,Pikachu,Paldea Evolved,999,PAL,Normal,Near Mint,English,Common,,
1,Sprigatito,Sprigatito,Paldea Evolved,12,PAL,Normal,Mint-ish,English,Common,,
1,Sprigatito,Sprigatito,Atlantis,12,ATL,Normal,Near Mint,English,Common,,
"""


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def _import(client: httpx.AsyncClient, user: ApiUser, fmt: str, text: str) -> dict:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/inventory/import",
        params={"format": fmt},
        headers=user.headers,
        files={"file": (f"{fmt}.csv", text.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_tcgplayer_import_reports_every_unmatched_row(client: httpx.AsyncClient, alice: ApiUser) -> None:
    # the FaB name has commas, so it is quoted as TCGplayer does
    text = TCGPLAYER.replace(
        "1,10,000 Year Reunion,10,000 Year Reunion,", '1,"10,000 Year Reunion","10,000 Year Reunion",'
    )
    result = await _import(client, alice, "tcgplayer", text)
    assert result["rows"] == 6 and result["imported"] == 3
    reasons = {u["row"]: u["reason"] for u in result["unmatched"]}
    assert set(reasons) == {4, 5, 6}
    assert "no card numbered '999'" in reasons[4]
    assert "unknown condition" in reasons[5]
    assert "unknown set" in reasons[6]
    assert result["unmatched"][0]["data"]["Name"] == "Pikachu"
    items = (await client.get("/api/v1/inventory", params={"sort": "name"}, headers=alice.headers)).json()["items"]
    got = {(i["printing_id"], i["quantity"], i["condition"], i["purchase_price"]) for i in items}
    assert got == {
        ("sv2-12:reverse_holofoil:en", 2, "NM", "0.25"),
        ("base1-4:holofoil:en", 1, "LP", "350.00"),
        ("MST131:rainbow_foil:en", 1, "NM", None),
    }


@pytest.mark.parametrize("fmt", ["tcgplayer", "deckbox", "moxfield", "manabox"])
async def test_export_then_import_round_trip(client: httpx.AsyncClient, alice: ApiUser, fmt: str) -> None:
    for body in (
        {"printing_id": "sv2-12:normal:en", "quantity": 3, "condition": "LP", "purchase_price": "1.25"},
        {"printing_id": "base1-4:holofoil:en", "condition": "HP"},
        {"printing_id": "MST131:rainbow_foil:en", "condition": "NM"},
    ):
        assert (await client.post("/api/v1/inventory", json=body, headers=alice.headers)).status_code == 201
    export = await client.get("/api/v1/inventory/export", params={"format": fmt}, headers=alice.headers)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = _rows(export.text)
    assert len(rows) == 3
    newcomer = await register(client)
    result = await _import(client, newcomer, fmt, export.text)
    assert result["unmatched"] == [] and result["imported"] == 3
    items = (await client.get("/api/v1/inventory", headers=newcomer.headers)).json()["items"]
    assert {(i["printing_id"], i["quantity"], i["condition"]) for i in items} == {
        ("sv2-12:normal:en", 3, "LP"),
        ("base1-4:holofoil:en", 1, "HP"),
        ("MST131:rainbow_foil:en", 1, "NM"),
    }


async def test_wrong_format_and_garbage(client: httpx.AsyncClient, alice: ApiUser) -> None:
    wrong = await client.post(
        "/api/v1/inventory/import",
        params={"format": "deckbox"},
        headers=alice.headers,
        files={"file": ("x.csv", TCGPLAYER.encode(), "text/csv")},
    )
    assert wrong.status_code == 400 and "missing column" in wrong.json()["detail"]
    binary = await client.post(
        "/api/v1/inventory/import",
        params={"format": "tcgplayer"},
        headers=alice.headers,
        files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")},
    )
    assert binary.status_code == 400
    unknown = await client.post(
        "/api/v1/inventory/import",
        params={"format": "excel"},
        headers=alice.headers,
        files={"file": ("x.csv", b"a,b", "text/csv")},
    )
    assert unknown.status_code == 422
    assert (await client.get("/api/v1/inventory", headers=alice.headers)).json()["total"] == 0
