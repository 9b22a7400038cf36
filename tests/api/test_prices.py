"""Sales ingest, snapshot aggregates, revaluation, the prices API and the portfolio."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from serve_app.db.engine import create_engine
from serve_app.services.price_ingest import import_sales_csv, import_snapshots
from serve_app.services.valuation import revalue
from tests.conftest import DATA, Backend
from tests.factories import ApiUser

AS_OF = datetime(2024, 8, 5, tzinfo=UTC)
SALES = """card_id,price,currency,sold_at,condition,finish,source,listing_id
sv2-12,0.50,USD,2024-07-30T18:02:00Z,NM,normal,ebay,t-1
sv2-12,0.52,USD,2024-07-29,NM,normal,tcgplayer,t-2
sv2-12,0.48,USD,2024-07-20,NM,normal,tcgplayer,t-3
sv2-12,0.46,EUR,2024-07-21,NM,normal,cardmarket,t-4
sv2-12,0.51,USD,2024-07-10,NM,normal,ebay,t-5
sv2-12,0.49,USD,2024-07-02,NM,normal,ebay,t-6
sv2-12,0.50,USD,2024-06-25,NM,normal,ebay,t-7
sv2-12,0.425,USD,2024-07-25,LP,normal,ebay,t-8
sv2-12,9.99,USD,2024-07-26,NM,normal,ebay,t-9-shill
sv2-12,0.50,USD,2024-07-30T18:02:00Z,NM,normal,ebay,t-1
sv2-12,0.50,USD,2024-07-30,NM,gold_foil,ebay,t-10
nope-1,0.50,USD,2024-07-30,NM,normal,ebay,t-11
sv2-12,0.50,USD,2024-07-30,MINT,normal,ebay,t-12
sv2-12,-3,USD,2024-07-30,NM,normal,ebay,t-13
sv2-12,0.50,XYZ,2024-07-30,NM,normal,ebay,t-14
"""


@pytest.fixture(scope="module")
async def priced(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    engine = create_engine(backend.settings.effective_database_url)
    try:
        report = await import_sales_csv(engine, SALES.encode())
        again = await import_sales_csv(engine, SALES.encode())
        snapshots = await import_snapshots(engine, DATA / "pokemon_price_snapshots.csv.gz")
        summary = await revalue(engine, work_dir=tmp_path_factory.mktemp("rv"), as_of=AS_OF, use="polars")
        async with engine.connect() as conn:
            reviews = (await conn.execute(text("SELECT reason FROM price_review_queue WHERE source = 'ebay'"))).all()
    finally:
        await engine.dispose()
    return {
        "report": report,
        "again": again,
        "snapshots": snapshots,
        "summary": summary,
        "reviews": [r[0] for r in reviews],
    }


async def test_sales_import_dedupes_and_queues_what_it_cannot_match(priced: dict[str, object]) -> None:
    report, again = priced["report"], priced["again"]
    assert report.rows == 15 and report.inserted == 9 and report.duplicates == 1  # type: ignore[attr-defined]
    assert report.review == 5  # type: ignore[attr-defined]
    assert again.inserted == 0 and again.duplicates == 10  # type: ignore[attr-defined]
    reasons = " | ".join(priced["reviews"])  # type: ignore[arg-type]
    for expected in (
        "no such printing: sv2-12:gold_foil:en",
        "no such printing: nope-1:normal:en",
        "unknown condition: MINT",
        "bad price",
        "no exchange rate: XYZ",
    ):
        assert expected in reasons


async def test_price_from_sales_with_interval(client: httpx.AsyncClient, priced: dict[str, object]) -> None:
    response = await client.get("/api/v1/prices/sv2-12")
    assert response.status_code == 200
    normal = next(p for p in response.json()["printings"] if p["finish"] == "normal")
    assert normal["method"] == "sales"
    assert normal["fmv_usd"] == pytest.approx(0.50, abs=0.02)
    assert normal["ci_low"] <= normal["fmv_usd"] <= normal["ci_high"] < 1
    assert normal["n"] == 8 and normal["n_rejected"] == 1  # the $9.99 shill bid
    assert normal["thin"] is False or normal["n"] < 8
    assert set(normal["sources"]) == {"cardmarket", "ebay", "tcgplayer"}
    assert [h["day"] for h in normal["history"]] == ["2024-08-05"]


async def test_price_falls_back_to_aggregates(client: httpx.AsyncClient, priced: dict[str, object]) -> None:
    charizard = (await client.get("/api/v1/prices/base1-4")).json()
    holo = next(p for p in charizard["printings"] if p["finish"] == "holofoil")
    assert holo["method"] == "aggregate" and holo["thin"] is True and holo["n"] == 0
    assert holo["fmv_usd"] > 50  # a Base Set Charizard
    assert {a["source"] for a in holo["aggregates"]} == {"tcgplayer", "cardmarket"}
    eur = next(a for a in holo["aggregates"] if a["currency"] == "EUR")
    assert eur["value_usd"] == pytest.approx(eur["value"] * 1.08, rel=0.05)
    assert (await client.get("/api/v1/prices/none-0")).status_code == 404


async def test_portfolio_value_cost_and_gain(
    client: httpx.AsyncClient, alice: ApiUser, priced: dict[str, object]
) -> None:
    for body in (
        {"printing_id": "sv2-12:normal:en", "quantity": 2, "purchase_price": "0.30", "currency": "USD"},
        {
            "printing_id": "base1-4:holofoil:en",
            "condition": "LP",
            "purchase_price": "200.00",
            "currency": "EUR",
            "purchase_date": "2024-05-01",
        },
        {"printing_id": "MST131:normal:en"},
    ):
        assert (await client.post("/api/v1/inventory", json=body, headers=alice.headers)).status_code == 201
    prices = {
        p["printing_id"]: p["fmv_usd"]
        for card in ("sv2-12", "base1-4")
        for p in (await client.get(f"/api/v1/prices/{card}")).json()["printings"]
    }
    portfolio = (await client.get("/api/v1/portfolio", headers=alice.headers)).json()
    expected = 2 * prices["sv2-12:normal:en"] + 0.85 * prices["base1-4:holofoil:en"]
    assert portfolio["total_value_usd"] == pytest.approx(expected, abs=0.02)
    assert portfolio["cost_basis_usd"] == pytest.approx(0.60 + 200 * 1.0812, abs=0.01)
    assert portfolio["unrealized_gain_usd"] == pytest.approx(expected - portfolio["cost_basis_usd"], abs=0.02)
    assert (portfolio["items"], portfolio["cards"], portfolio["valued_items"], portfolio["unvalued_items"]) == (
        3,
        4,
        2,
        1,
    )
    assert {b["key"] for b in portfolio["by_game"]} == {"pokemon", "fab"}
    assert portfolio["by_set"][0]["key"] == "base1"
    assert portfolio["history"][-1]["day"] == "2024-08-05"
    assert any("no fair value" in note for note in portfolio["notes"])
    # an edit shows at once (the cache key follows the inventory)
    await client.post("/api/v1/inventory", json={"printing_id": "sv2-12:normal:en"}, headers=alice.headers)
    after = (await client.get("/api/v1/portfolio", headers=alice.headers)).json()
    assert after["total_value_usd"] == pytest.approx(expected + prices["sv2-12:normal:en"], abs=0.02)


async def test_new_revaluation_lands_in_cached_portfolio(
    backend: Backend, client: httpx.AsyncClient, alice: ApiUser, priced: dict[str, object], tmp_path: Path
) -> None:
    await client.post("/api/v1/inventory", json={"printing_id": "sv2-12:normal:en"}, headers=alice.headers)
    before = (await client.get("/api/v1/portfolio", headers=alice.headers)).json()
    engine = create_engine(backend.settings.effective_database_url)
    try:
        await import_sales_csv(
            engine,
            b"card_id,price,currency,sold_at,condition,finish,source,listing_id\n"
            + "".join(
                f"sv2-12,0.80,USD,2024-08-0{d},NM,normal,ebay,new-{d}-{i}\n" for d in (3, 4) for i in range(12)
            ).encode(),
        )
        await revalue(engine, work_dir=tmp_path, as_of=AS_OF, use="polars")
    finally:
        await engine.dispose()
    after = (await client.get("/api/v1/portfolio", headers=alice.headers)).json()
    assert after["valuation_run"] > before["valuation_run"]
    assert after["total_value_usd"] > before["total_value_usd"]
