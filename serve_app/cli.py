"""The ``cardvault`` command line: serve, database, catalog, users, keys."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serve_app.settings import Settings, get_settings

app = typer.Typer(help="CardVault: scan, identify, grade, price and trade trading cards.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="Card catalogs.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="JWT signing keys.", no_args_is_help=True)
dataset_app = typer.Typer(help="Synthetic training and evaluation data.", no_args_is_help=True)
prices_app = typer.Typer(help="Sales, aggregates, FX rates and fair-value revaluation.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
app.add_typer(prices_app, name="prices")
app.add_typer(dataset_app, name="dataset")


class SplitName(StrEnum):
    train = "train"
    heldout = "heldout"


train_app = typer.Typer(help="Train the models (the notebooks call the same pipelines).", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("detector")
def train_detector_command(
    data: Annotated[Path, typer.Option(help="scene dataset folder; built first when it has no data.yaml")],
    runs: Annotated[Path, typer.Option(help="training runs folder")] = Path("runs"),
    images: Annotated[int, typer.Option(help="images to render when building the dataset")] = 2000,
    seed: int = 0,
    epochs: int = 30,
    imgsz: int = 640,
    batch: int = 16,
    device: str = "cpu",
    ship: Annotated[bool, typer.Option(help="copy the ONNX weights and a model card into models/detector")] = False,
) -> None:
    """Train the card detector (YOLO pose, 4 corners) and export it to ONNX."""
    import sys

    from pipelines.catalog_sources import load_catalog
    from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset
    from pipelines.train.detector import DetectorConfig, train_detector, write_model_card

    dataset = {"images": images, "seed": seed, "folder": str(data)}
    if not (data / "data.yaml").exists():
        source = get_settings().resolved_catalog_dir()
        catalogs = [
            load_catalog("pokemon", source / "pokemon_cards.json.gz"),
            load_catalog("fab", source / "fab_cards.json.gz"),
        ]
        with _progress() as progress:
            task = progress.add_task("rendering scenes", total=images)
            dataset.update(
                build_scene_dataset(
                    SceneDatasetConfig(out=data, images=images, seed=seed),
                    catalogs,
                    progress=lambda n: progress.advance(task, n),
                )
            )
    result = train_detector(
        DetectorConfig(data=data, runs=runs, epochs=epochs, imgsz=imgsz, batch=batch, device=device, seed=seed)
    )
    console.print(f"[green]trained in {result.seconds / 60:.1f} min: {result.onnx}[/green]")
    for key, value in sorted(result.metrics.items()):
        console.print(f"  {key}: {value:.4f}")
    if ship:
        models = Path(__file__).resolve().parents[1] / "models" / "detector"
        card = write_model_card(result, models, command="cardvault " + " ".join(sys.argv[1:]), dataset=dataset)
        console.print(f"[green]shipped {models / 'detector.onnx'} with {card}[/green]")


@train_app.command("identifier")
def train_identifier_command(
    out: Annotated[Path, typer.Option(help="where the weights and ONNX go")] = Path("runs/identifier"),
    printings: Annotated[int, typer.Option(help="training printings (classes)")] = 3000,
    views: Annotated[int, typer.Option(help="photo-like views per printing and epoch")] = 6,
    epochs: int = 5,
    gallery: Annotated[int, typer.Option(help="reference faces in the evaluation index")] = 3000,
    queries: Annotated[int, typer.Option(help="evaluation queries from held-out sets")] = 300,
    seed: int = 0,
    ship: Annotated[bool, typer.Option(help="copy the ONNX weights and a model card into models/identifier")] = False,
) -> None:
    """Train the identifier (ArcFace embedding), export ONNX, measure retrieval on held-out sets."""
    import random
    import shutil
    import sys

    from pipelines.catalog_sources import load_catalog
    from pipelines.scene_dataset import printing_pool
    from pipelines.train.identifier import IdentifierConfig, evaluate_retrieval, train_identifier, write_card

    source = get_settings().resolved_catalog_dir()
    catalogs = [
        load_catalog("pokemon", source / "pokemon_cards.json.gz"),
        load_catalog("fab", source / "fab_cards.json.gz"),
    ]
    with console.status("training the identifier"):
        result = train_identifier(
            IdentifierConfig(out=out, printings=printings, views_per_printing=views, epochs=epochs, seed=seed),
            printing_pool(catalogs, "train"),
        )
    held = printing_pool(catalogs, "heldout")
    picker = random.Random(seed)
    query_specs = picker.sample(held, min(queries, len(held)))
    others = [s for s in held + printing_pool(catalogs, "train") if s not in query_specs]
    gallery_specs = query_specs + picker.sample(others, max(0, min(gallery, len(others)) - len(query_specs)))
    with console.status("evaluating retrieval"):
        metrics = evaluate_retrieval(Path(result["onnx"]), gallery_specs, query_specs, seed=seed + 1)
    console.print(f"[green]loss {result['loss']}; held-out retrieval {metrics}[/green]")
    if ship:
        models = Path(__file__).resolve().parents[1] / "models" / "identifier"
        models.mkdir(parents=True, exist_ok=True)
        shutil.copy(result["onnx"], models / "identifier.onnx")
        card = write_card(result, metrics, models, command="cardvault " + " ".join(sys.argv[1:]))
        console.print(f"[green]shipped {models / 'identifier.onnx'} with {card}[/green]")


@app.command()
def evaluate(
    scenes: Annotated[Path, typer.Option(help="a held-out scene dataset (cardvault dataset scenes --split heldout)")],
    detector: Annotated[Path, typer.Option(help="detector ONNX")] = Path("models/detector/detector.onnx"),
    imgsz: int = 416,
    limit: Annotated[int | None, typer.Option(help="evaluate the first N images only")] = None,
) -> None:
    """Measure the models on held-out synthetic scenes and print a table."""
    from pipelines.evaluate_detector import evaluate_detector

    with console.status("evaluating the detector"):
        result = evaluate_detector(detector, scenes, imgsz=imgsz, limit=limit)
    targets = {
        "precision@0.5": ">= 0.99",
        "recall@0.5": ">= 0.99",
        "corner_error_pct_of_diagonal": "<= 1.5",
        "centering_error_points": "<= 2",
    }
    console.print(f"{'metric':<32} {'value':>10}  target")
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        console.print(f"{key:<32} {shown:>10}  {targets.get(key, '')}")


@dataset_app.command("scenes")
def dataset_scenes(
    out: Annotated[Path, typer.Option(help="output folder (YOLO pose layout + manifest.jsonl)")],
    images: Annotated[int, typer.Option(min=1)] = 1000,
    seed: int = 0,
    split: SplitName = SplitName.train,
    catalog_dir: Annotated[Path | None, typer.Option(help="folder with the catalog files")] = None,
) -> None:
    """Render synthetic photos of cards with exact corner, identity and condition labels."""
    from pipelines.catalog_sources import load_catalog
    from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset

    source = catalog_dir or get_settings().resolved_catalog_dir()
    catalogs = [
        load_catalog("pokemon", source / "pokemon_cards.json.gz"),
        load_catalog("fab", source / "fab_cards.json.gz"),
    ]
    config = SceneDatasetConfig(out=out, images=images, seed=seed, split=split.value)
    with _progress() as progress:
        task = progress.add_task(f"rendering {split.value} scenes", total=images)
        counts = build_scene_dataset(config, catalogs, progress=lambda n: progress.advance(task, n))
    console.print(f"[green]{counts['images']} images, {counts['cards']} labelled cards -> {out}[/green]")


console = Console(stderr=True)
T = TypeVar("T")


class GameName(StrEnum):
    pokemon = "pokemon"
    fab = "fab"


class RoleName(StrEnum):
    user = "user"
    moderator = "moderator"
    admin = "admin"


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def _upgrade(settings: Settings) -> None:
    from serve_app.db.migrate import upgrade

    upgrade(settings.effective_database_url)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations (SQLite or PostgreSQL, from CARDVAULT_DATABASE_URL)."""
    from serve_app.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.effective_database_url, revision)
    console.print(f"[green]database at {revision}[/green]")


@catalog_app.command("import")
def catalog_import(
    game: GameName,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    variants: Annotated[Path | None, typer.Option(help="TCGplayer price snapshot CSV: which finishes exist")] = None,
) -> None:
    """Import a catalog file in its source's schema (pokemontcg.io v2 or @flesh-and-blood/cards)."""
    from pipelines.catalog_sources import load_catalog
    from serve_app.db.engine import create_engine
    from serve_app.services.catalog_import import import_catalog

    settings = get_settings()
    _upgrade(settings)
    if variants is None and game == GameName.pokemon:
        guess = path.parent / "pokemon_price_snapshots.csv.gz"
        variants = guess if guess.exists() else None
    catalog = load_catalog(game.value, path, variants_path=variants)

    async def work() -> dict[str, int]:
        engine = create_engine(settings.effective_database_url)
        try:
            with _progress() as progress:
                task = progress.add_task(
                    f"importing {game.value}", total=len(catalog.sets) + len(catalog.cards) + catalog.printing_count
                )
                return await import_catalog(engine, catalog, progress=lambda n: progress.advance(task, n))
        finally:
            await engine.dispose()

    counts = _run(work)
    console.print(
        f"[green]{game.value}: {counts['sets']} sets, {counts['cards']} cards, {counts['printings']} printings[/green]"
    )


@user_app.command("create")
def user_create(
    email: str,
    role: RoleName = RoleName.user,
    display_name: Annotated[str | None, typer.Option()] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="CARDVAULT_NEW_USER_PASSWORD")
    ] = "",
) -> None:
    """Create a user (an admin, say)."""
    from serve_app.api.state import build_state
    from serve_app.schemas.users import Role
    from serve_app.services.users import create_user

    if len(password) < 10:
        raise typer.BadParameter("the password needs at least 10 characters", param_hint="--password")
    settings = get_settings()
    _upgrade(settings)

    async def work() -> str:
        state = build_state(settings)
        try:
            async with state.sessions() as session:
                user = await create_user(
                    session,
                    vault=state.vault,
                    email=email,
                    password=password,
                    display_name=display_name,
                    role=Role(role.value),
                )
                await session.commit()
                return str(user.id)
        finally:
            await state.close()

    console.print(f"[green]created {role.value} {email} ({_run(work)})[/green]")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing access tokens with a new key now; old keys verify until their tokens expire."""
    from serve_app.api.state import build_state

    settings = get_settings()

    async def work() -> str:
        state = build_state(settings)
        try:
            return await state.keys.rotate()
        finally:
            await state.close()

    console.print(f"[green]new signing key {_run(work)}[/green]")


class EngineName(StrEnum):
    ray = "ray"
    polars = "polars"


def _with_engine(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from serve_app.db.engine import create_engine

    async def main() -> T:
        engine = create_engine(settings.effective_database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@prices_app.command("import")
def prices_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import a CSV of sales: card_id,price,currency,sold_at,condition,finish,source,listing_id."""
    from serve_app.services.price_ingest import import_sales_csv

    settings = get_settings()
    _upgrade(settings)
    report = _with_engine(settings, lambda engine: import_sales_csv(engine, path.read_bytes()))
    console.print(
        f"[green]{report.rows} rows: {report.inserted} new sales, {report.duplicates} duplicates, "
        f"{report.review} to review {report.reasons or ''}[/green]"
    )


@prices_app.command("snapshots")
def prices_snapshots(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import aggregate price snapshots (the long-format TCGplayer/CardMarket file)."""
    from serve_app.services.price_ingest import import_snapshots

    settings = get_settings()
    _upgrade(settings)
    report = _with_engine(settings, lambda engine: import_snapshots(engine, path))
    console.print(f"[green]{report.rows} rows: {report.inserted} figures stored, {report.review} to review[/green]")


@prices_app.command("fx")
def prices_fx(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Load FX rates from a CSV with columns currency,day,usd_per_unit."""
    from serve_app.services.price_ingest import ensure_fx_rates

    settings = get_settings()
    _upgrade(settings)
    count = _with_engine(settings, lambda engine: ensure_fx_rates(engine, path))
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
    _upgrade(settings)

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

    result, report, retries = _with_engine(settings, work)
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
    from serve_app.core.cache import Cache, RedisCache
    from serve_app.services.valuation import revalue

    if use == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)

    async def work(engine: Any) -> Any:
        from redis.asyncio import Redis

        cache: Cache | None = RedisCache(Redis.from_url(settings.redis_url)) if settings.redis_url else None
        try:
            with console.status("revaluing") as status:
                return await revalue(
                    engine,
                    work_dir=settings.data_dir / "revaluation",
                    use=use,  # type: ignore[arg-type]
                    cache=cache,
                    as_of=as_of,
                    progress=lambda msg: status.update(msg),
                )
        finally:
            if cache is not None:
                await cache.close()

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


def prepare_embedded(settings: Settings) -> None:
    """Migrate, then load the catalogs and the demo collector if asked and missing."""
    from serve_app.api.state import build_state
    from serve_app.services.demo import (
        DEMO_EMAIL,
        DEMO_PASSWORD,
        ensure_catalogs,
        ensure_demo_prices,
        ensure_demo_user,
    )

    _upgrade(settings)
    if not settings.demo_data:
        return
    catalog_dir = settings.resolved_catalog_dir()

    async def work() -> bool:
        state = build_state(settings)
        try:
            with _progress() as progress:
                tasks: dict[str, Any] = {}

                def report(game: str, done: int, total: int) -> None:
                    if game not in tasks:
                        tasks[game] = progress.add_task(f"catalog {game}", total=total)
                    progress.update(tasks[game], completed=done)

                await ensure_catalogs(state.engine, catalog_dir, progress=report)
            created = await ensure_demo_user(state.engine, state.vault)
            await ensure_demo_prices(state.engine, catalog_dir)
            return created
        finally:
            await state.close()

    if not (catalog_dir / "pokemon_cards.json.gz").exists():
        console.print(f"[yellow]no catalog files in {catalog_dir}; set CARDVAULT_CATALOG_DIR[/yellow]")
    created = _run(work)
    console.print(
        f"demo login: [bold]{DEMO_EMAIL}[/bold] / [bold]{DEMO_PASSWORD}[/bold]" + (" (created)" if created else "")
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="HTTP host of the Serve proxy")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the Serve proxy")] = 8000,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start local Ray)")] = None,
    min_replicas: Annotated[int, typer.Option()] = 1,
    max_replicas: Annotated[int, typer.Option()] = 2,
    demo: Annotated[bool, typer.Option(help="load the catalogs and demo user when missing")] = True,
) -> None:
    """Start the Serve application: embedded local Ray by default, or deploy onto a cluster."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    settings = get_settings()
    if not demo:
        settings = settings.model_copy(update={"demo_data": False})
    os.environ.setdefault("CARDVAULT_DATA_DIR", str(settings.data_dir))
    os.environ.setdefault("CARDVAULT_PUBLIC_URL", f"http://{host}:{port}")
    if address is None:  # the embedded default prepares its own database
        prepare_embedded(settings)
    import ray
    from ray import serve as ray_serve

    from serve_app.app import AppArgs, build_app

    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=True,
        runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}},
    )
    ray_serve.start(http_options={"host": host, "port": port})
    ray_serve.run(
        build_app(AppArgs(min_replicas=min_replicas, max_replicas=max_replicas)), name="cardvault", route_prefix="/"
    )
    console.print(f"[green]CardVault is serving at http://{host}:{port}[/green]  (API docs: /docs)")
    if address is not None:
        console.print("deployed onto the cluster; `serve shutdown` there stops it")
        return
    scheduler = None
    if settings.revalue_interval_s > 0:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler()
        scheduler.add_job(
            run_revaluation,
            "interval",
            seconds=settings.revalue_interval_s,
            args=[settings],
            kwargs={"use": "ray"},
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop:
        time.sleep(0.5)
    console.print("shutting down")
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    ray_serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()


if __name__ == "__main__":
    app()
