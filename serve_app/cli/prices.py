"""Price commands: imports, feeds, revaluation and its schedule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from serve_app.cli.base import (
    _on_database,
    _upgrade,
    _with_engine,
    console,
    prices_app,
)
from serve_app.settings import Settings, get_settings


class EngineName(StrEnum):
    ray = "ray"
    polars = "polars"


@prices_app.command("import")
def prices_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import a CSV of sales: card_id,price,currency,sold_at,condition,finish,source,listing_id."""
    from serve_app.services.price_ingest import import_sales_csv

    report = _on_database(lambda engine: import_sales_csv(engine, path.read_bytes()))
    console.print(
        f"[green]{report.rows} rows: {report.inserted} new sales, {report.duplicates} duplicates, "
        f"{report.review} to review {report.reasons or ''}[/green]"
    )


@prices_app.command("snapshots")
def prices_snapshots(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import aggregate price snapshots (the long-format TCGplayer/CardMarket file)."""
    from serve_app.services.price_ingest import import_snapshots

    report = _on_database(lambda engine: import_snapshots(engine, path))
    console.print(f"[green]{report.rows} rows: {report.inserted} figures stored, {report.review} to review[/green]")


@prices_app.command("fx")
def prices_fx(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Load FX rates from a CSV with columns currency,day,usd_per_unit."""
    from serve_app.services.price_ingest import ensure_fx_rates

    count = _on_database(lambda engine: ensure_fx_rates(engine, path))
    console.print(f"[green]{count} rates loaded[/green]")


class FeedName(StrEnum):
    tcgplayer = "tcgplayer"
    ebay = "ebay"
    cardmarket = "cardmarket"


@prices_app.command("fetch")
def prices_fetch(source: FeedName) -> None:
    """Fetch prices from a marketplace feed; unmatched records go to the review queue."""
    import httpx

    from serve_app.feeds.cardmarket import CardMarketPriceGuide
    from serve_app.feeds.catalog_index import CatalogIndex
    from serve_app.feeds.ebay import EbaySoldFeed
    from serve_app.feeds.http import FeedHttp
    from serve_app.feeds.result import FeedResult
    from serve_app.feeds.tcgplayer import TCGplayerFeed
    from serve_app.services.price_ingest import store_feed_result

    settings = get_settings()

    async def work(engine: Any) -> Any:
        catalog = await CatalogIndex.load(engine)
        async with httpx.AsyncClient(timeout=60) as client:
            http = FeedHttp(client)
            combined = FeedResult()
            if source == FeedName.tcgplayer:
                for category in settings.tcgplayer_category_ids:
                    feed = TCGplayerFeed(
                        http,
                        settings.tcgplayer_api_url,
                        settings.tcgplayer_client_id,
                        settings.tcgplayer_client_secret.get_secret_value(),
                        category,
                    )
                    _merge(combined, await feed.fetch(catalog, observed_at=datetime.now().date()))
            elif source == FeedName.ebay:
                ebay = EbaySoldFeed(
                    http, settings.ebay_api_url, settings.ebay_client_id, settings.ebay_client_secret.get_secret_value()
                )
                for query in settings.ebay_queries:
                    _merge(combined, await ebay.fetch(catalog, query=query))
            else:
                if not settings.cardmarket_url:
                    raise typer.BadParameter("set CARDVAULT_CARDMARKET_URL")
                _merge(combined, await CardMarketPriceGuide(http, settings.cardmarket_url).fetch(catalog))
        report = await store_feed_result(engine, combined)
        return combined, report, http.retries

    result, report, retries = _on_database(work, settings)
    console.print(
        f"[green]{source.value}: {result.pages} pages ({retries} retries), {len(result.sales)} sales, "
        f"{len(result.aggregates)} figures, {report.review} to review, {len(result.errors)} errors[/green]"
    )
    for error in result.errors:
        console.print(f"[yellow]{error}[/yellow]")


def _merge(into: Any, other: Any) -> None:
    for name in ("aggregates", "sales", "unmatched", "errors"):
        getattr(into, name).extend(getattr(other, name))
    into.pages += other.pages


def run_revaluation(settings: Settings, *, use: str, address: str | None = None, as_of: datetime | None = None) -> None:
    from serve_app.core.cache import RedisCache
    from serve_app.services.valuation import revalue

    if use == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)

    async def work(engine: Any) -> Any:
        from redis.asyncio import Redis

        from serve_app.core.events import RedisEventBus

        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        try:
            with console.status("revaluing") as status:
                return await revalue(
                    engine,
                    work_dir=settings.data_dir / "revaluation",
                    use=use,  # type: ignore[arg-type]
                    cache=RedisCache(redis) if redis else None,
                    events=RedisEventBus(redis) if redis else None,
                    as_of=as_of,
                    progress=lambda msg: status.update(msg),
                )
        finally:
            if redis is not None:
                await redis.aclose()

    summary = _with_engine(settings, work)
    console.print(
        f"[green]run {summary.run_id}: {summary.sales} sales, {summary.from_sales} printings from sales, "
        f"{summary.from_aggregates} from aggregates in {summary.seconds:.1f} s ({summary.engine})[/green]"
    )


@prices_app.command("revalue")
def prices_revalue(
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: local Ray)")] = None,
    engine: EngineName = EngineName.ray,
    as_of: Annotated[datetime | None, typer.Option(help="value as of this time (default: now), UTC")] = None,
) -> None:
    """Revalue every printing now: fair values from sales, aggregates where sales are few."""
    settings = get_settings()
    _upgrade(settings)
    run_revaluation(
        settings,
        use=engine.value,
        address=address,
        as_of=as_of.replace(tzinfo=UTC) if as_of and as_of.tzinfo is None else as_of,
    )


@prices_app.command("schedule")
def prices_schedule(
    every: Annotated[int, typer.Option(help="seconds between revaluations")] = 6 * 3600,
    address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
) -> None:
    """Run revaluations on a schedule (APScheduler) until stopped."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    settings = get_settings()
    _upgrade(settings)
    scheduler = BlockingScheduler()
    scheduler.add_job(
        run_revaluation,
        "interval",
        seconds=every,
        args=[settings],
        kwargs={"use": "ray", "address": address},
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(),
    )
    console.print(f"revaluing every {every} s; Ctrl-C stops")
    scheduler.start()
