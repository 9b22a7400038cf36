"""Feed adapters against local servers: paging, 429 back-off, partial failures, mapping, review."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from serve_app.db.engine import create_engine
from serve_app.feeds.cardmarket import CardMarketPriceGuide
from serve_app.feeds.catalog_index import CatalogIndex
from serve_app.feeds.ebay import EbaySoldFeed
from serve_app.feeds.http import FeedHttp
from serve_app.feeds.tcgplayer import TCGplayerFeed
from serve_app.services.price_ingest import store_feed_result
from tests.conftest import Backend
from tests.feeds.servers import cardmarket_app, ebay_app, tcgplayer_app
from tests.http_server import running


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(backend.settings.effective_database_url)
    yield engine
    await engine.dispose()


async def _rows(engine: AsyncEngine, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]


async def test_tcgplayer_paging_retry_partial_failure(engine: AsyncEngine) -> None:
    app, flaky = tcgplayer_app(failing_product=600_004)
    catalog = await CatalogIndex.load(engine)
    with running(app) as url:
        async with httpx.AsyncClient() as client:
            http = FeedHttp(client, base_delay_s=0.01)
            feed = TCGplayerFeed(http, url, "tcg-id", "tcg-secret", category_id=3)
            result = await feed.fetch(catalog, observed_at=date(2024, 8, 10))
    assert flaky.calls["products"] >= 2 and http.retries >= 1  # the 429 was retried
    assert result.pages >= 4  # 297 products in pages of 100, and the groups
    assert len(result.errors) == 1 and "HTTP 500" in result.errors[0]  # one batch of 100 failed
    report = await store_feed_result(engine, result)
    assert report.inserted == len(result.aggregates) > 0
    rows = await _rows(
        engine,
        "SELECT printing_id, field, value_usd FROM price_aggregates "
        "WHERE source='tcgplayer' AND observed_at = :d ORDER BY printing_id, field",
        d=date(2024, 8, 10),
    )
    got = {(p, f): v for p, f, v in rows}
    assert got[("sv2-12:reverse_holofoil:en", "market")] == pytest.approx(0.35)
    assert got[("MST131:rainbow_foil:en", "market")] == pytest.approx(40.0)  # matched by product id
    assert ("base1-4:holofoil:en", "market") not in got  # its batch failed: nothing invented
    reasons = " | ".join(u["reason"] for u in result.unmatched)
    assert "#999/193" in reasons


async def test_ebay_titles_to_sales(engine: AsyncEngine) -> None:
    app, _flaky = ebay_app()
    catalog = await CatalogIndex.load(engine)
    with running(app) as url:
        async with httpx.AsyncClient() as client:
            http = FeedHttp(client, base_delay_s=0.01)
            result = await EbaySoldFeed(http, url, "ebay-id", "ebay-secret").fetch(catalog, query="pokemon")
    assert result.pages == 3 and http.retries == 1
    report = await store_feed_result(engine, result)
    assert report.inserted == 3 and report.duplicates == 1
    sales = await _rows(
        engine,
        "SELECT printing_id, condition, graded_company, grade, currency, price_usd "
        "FROM sales WHERE source='ebay' AND listing_id LIKE 'v1|100%' ORDER BY listing_id",
    )
    assert sales[0][:2] == ("base1-4:holofoil:en", "LP")
    assert sales[1][0] == "sv2-12:reverse_holofoil:en"
    assert sales[2][2:5] == ("PSA", 10.0, "GBP") and sales[2][5] == pytest.approx(40 * 1.2857, rel=0.01)
    review = await _rows(engine, "SELECT reason FROM price_review_queue WHERE source='ebay'")
    assert any("no card named in title" in r[0] for r in review)


async def test_cardmarket_price_guide(engine: AsyncEngine) -> None:
    app, flaky = cardmarket_app()
    catalog = await CatalogIndex.load(engine)
    with running(app) as url:
        async with httpx.AsyncClient() as client:
            result = await CardMarketPriceGuide(FeedHttp(client, base_delay_s=0.01), url).fetch(catalog)
    assert flaky.calls["priceguide"] == 2
    await store_feed_result(engine, result)
    rows = await _rows(
        engine,
        "SELECT printing_id, field, value, value_usd FROM price_aggregates "
        "WHERE source='cardmarket' AND observed_at = :d",
        d=date(2024, 8, 3),
    )
    got = {(p, f): (v, u) for p, f, v, u in rows}
    assert got[("sv2-12:normal:en", "trendPrice")][0] == pytest.approx(0.20)
    assert got[("sv2-12:reverse_holofoil:en", "reverseHoloTrend")][0] == pytest.approx(0.60)
    value, usd = got[("base1-4:holofoil:en", "trendPrice")]
    assert usd == pytest.approx(value * 1.1012, rel=1e-6)  # EUR at August 2024's rate
    reasons = sorted(u["reason"] for u in result.unmatched)
    assert len(reasons) == 3
    assert any("Missingno" in r for r in reasons) and any("unknown expansion" in r for r in reasons)
    assert any("unknown product" in r for r in reasons)
