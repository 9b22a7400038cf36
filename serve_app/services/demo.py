"""Demo data for the embedded default: the real catalogs and a demo collector with a binder."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from pipelines.catalog_sources import load_catalog
from serve_app.db.engine import session_factory
from serve_app.db.tables import Card, Printing
from serve_app.schemas.inventory import Condition, InventoryCreate
from serve_app.schemas.users import Role
from serve_app.services.catalog_import import import_catalog
from serve_app.services.inventory import create_item
from serve_app.services.users import Vault, create_user, find_by_email

DEMO_EMAIL = "demo@cardvault.example"
DEMO_PASSWORD = "cardvault-demo-2026"
CATALOG_FILES = {"pokemon": "pokemon_cards.json.gz", "fab": "fab_cards.json.gz"}
SNAPSHOTS = "pokemon_price_snapshots.csv.gz"


async def ensure_catalogs(
    engine: AsyncEngine, catalog_dir: Path, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, int]:
    """Import each catalog file found in ``catalog_dir`` whose game has no cards yet."""
    imported: dict[str, int] = {}
    sessions = session_factory(engine)
    for game, filename in CATALOG_FILES.items():
        path = catalog_dir / filename
        if not path.exists():
            continue
        async with sessions() as session:
            count = (await session.exec(select(func.count()).select_from(Card).where(Card.game_id == game))).one()
        if count:
            continue
        catalog = load_catalog(game, path, variants_path=catalog_dir / SNAPSHOTS)
        total = len(catalog.sets) + len(catalog.cards) + catalog.printing_count
        done = 0

        def step(n: int, game: str = game, total: int = total) -> None:
            nonlocal done
            done += n
            if progress:
                progress(game, done, total)

        counts = await import_catalog(engine, catalog, progress=step)
        imported[game] = counts["cards"]
    return imported


async def ensure_demo_user(
    engine: AsyncEngine,
    vault: Vault,
    *,
    items: int = 60,
    seed: int = 7,
    email: str = DEMO_EMAIL,
    password: str = DEMO_PASSWORD,
) -> bool:
    """Create the demo collector with a seeded collection; False if it already exists."""
    sessions = session_factory(engine)
    async with sessions() as session:
        if await find_by_email(session, vault=vault, email=email):
            return False
        user = await create_user(
            session, vault=vault, email=email, password=password, display_name="Demo Collector", role=Role.user
        )
        printings = (await session.exec(select(Printing.id).order_by(col(Printing.id)))).all()
        rng = random.Random(seed)
        for printing_id in rng.sample(list(printings), min(items, len(printings))):
            await create_item(
                session,
                user_id=user.id,
                data=InventoryCreate(
                    printing_id=printing_id,
                    quantity=rng.choice([1, 1, 1, 2, 4]),
                    condition=rng.choice(list(Condition)),
                    purchase_price=Decimal(rng.choice([25, 50, 150, 400, 1200, 4800])) / 100,
                    location=rng.choice(["Binder A", "Binder B", "Trade box"]),
                    tags=rng.sample(["trade", "keep", "deck", "grail"], k=rng.randint(0, 2)),
                ),
            )
        await session.commit()
    return True


async def ensure_demo_prices(engine: AsyncEngine, catalog_dir: Path) -> bool:
    """FX rates, the real aggregate price snapshots and a first revaluation, once."""
    from serve_app.db.tables import PriceAggregate
    from serve_app.services.price_ingest import ensure_fx_rates, import_snapshots
    from serve_app.services.valuation import revalue

    path = catalog_dir / SNAPSHOTS
    async with session_factory(engine)() as session:
        if (await session.exec(select(func.count()).select_from(PriceAggregate))).one() or not path.exists():
            return False
    await ensure_fx_rates(engine)
    await import_snapshots(engine, path)
    await revalue(engine, work_dir=Path(tempfile.gettempdir()), use="polars")
    return True
