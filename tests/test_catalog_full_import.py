"""The whole real catalogs import, on both backends: counts match the sources."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from pipelines.catalog_sources import load_catalog
from serve_app.db.engine import create_engine, session_factory
from serve_app.db.tables import Card, Printing
from serve_app.services.catalog_import import import_catalog
from tests.conftest import DATA


async def test_full_catalogs(empty_database_url: str) -> None:
    pokemon = load_catalog(
        "pokemon", DATA / "pokemon_cards.json.gz", variants_path=DATA / "pokemon_price_snapshots.csv.gz"
    )
    fab = load_catalog("fab", DATA / "fab_cards.json.gz")
    engine = create_engine(empty_database_url)
    try:
        assert (await import_catalog(engine, pokemon))["cards"] == 18_876
        assert (await import_catalog(engine, fab))["printings"] == 15_591
        async with session_factory(engine)() as session:
            pokemon_cards = (
                await session.exec(select(func.count()).select_from(Card).where(Card.game_id == "pokemon"))
            ).one()
            fab_printings = (
                await session.exec(
                    select(func.count())
                    .select_from(Printing)
                    .join(Card, Card.id == Printing.card_id)  # type: ignore[arg-type]
                    .where(Card.game_id == "fab")
                )
            ).one()
    finally:
        await engine.dispose()
    assert pokemon_cards == 18_876
    assert fab_printings == 15_591
