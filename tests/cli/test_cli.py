"""The cardvault CLI against a real SQLite database."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from serve_app.cli import app
from serve_app.db.engine import create_engine
from serve_app.settings import get_settings
from tests.conftest import DATA, TEST_MASTER_KEY


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARDVAULT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CARDVAULT_MASTER_KEY", TEST_MASTER_KEY)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _scalar(sql: str) -> object:
    async def query() -> object:
        engine = create_engine(get_settings().effective_database_url)
        async with engine.connect() as conn:
            value = (await conn.execute(text(sql))).scalar()
        await engine.dispose()
        return value

    return asyncio.run(query())


def test_db_upgrade_and_user_create(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(
        app,
        ["user", "create", "root@example.com", "--role", "admin"],
        input="a long admin password\na long admin password\n",
    )
    assert result.exit_code == 0, result.output
    assert _scalar("SELECT role FROM users") == "admin"
    short = runner.invoke(app, ["user", "create", "x@example.com"], input="short\nshort\n")
    assert short.exit_code != 0


def test_catalog_import_any_file_in_the_schema(env: Path, tmp_path: Path) -> None:
    with gzip.open(DATA / "pokemon_cards.json.gz") as fh:
        cards = json.load(fh)
    subset = [c for c in cards if c["set"]["id"] == "sv2"]
    path = tmp_path / "paldea.json"
    path.write_text(json.dumps(subset))
    result = CliRunner().invoke(app, ["catalog", "import", "pokemon", str(path)])
    assert result.exit_code == 0, result.output
    assert _scalar("SELECT count(*) FROM cards") == len(subset)
    # importing again updates in place: no duplicates
    assert CliRunner().invoke(app, ["catalog", "import", "pokemon", str(path)]).exit_code == 0
    assert _scalar("SELECT count(*) FROM cards") == len(subset)
    bad = CliRunner().invoke(app, ["catalog", "import", "mtg", str(path)])
    assert bad.exit_code != 0


def _import_paldea(tmp_path: Path) -> None:
    with gzip.open(DATA / "pokemon_cards.json.gz") as fh:
        cards = [c for c in json.load(fh) if c["set"]["id"] in ("sv2", "base1")]
    path = tmp_path / "subset.json"
    path.write_text(json.dumps(cards))
    assert CliRunner().invoke(app, ["catalog", "import", "pokemon", str(path)]).exit_code == 0


def test_prices_import_revalue_and_fetch(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.feeds.servers import tcgplayer_app
    from tests.http_server import running

    _import_paldea(tmp_path)
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "card_id,price,currency,sold_at,condition,finish,source,listing_id\n"
        + "".join(f"sv2-12,0.5{i},USD,2024-07-2{i},NM,normal,file,s-{i}\n" for i in range(4))
        + "sv2-12,0.50,USD,2024-07-20,NM,rainbow_foil,file,bad-1\n"
    )
    result = CliRunner().invoke(app, ["prices", "import", str(sales)])
    assert result.exit_code == 0, result.output
    assert "4 new sales" in result.output and "1 to review" in result.output
    revalue = CliRunner().invoke(app, ["prices", "revalue", "--engine", "polars", "--as-of", "2024-07-25T00:00:00"])
    assert revalue.exit_code == 0, revalue.output
    assert _scalar("SELECT round(fmv_usd, 2) FROM fair_values WHERE printing_id = 'sv2-12:normal:en'") == 0.52
    tcg, _ = tcgplayer_app(failing_product=-1)
    with running(tcg) as url:
        monkeypatch.setenv("CARDVAULT_TCGPLAYER_API_URL", url)
        monkeypatch.setenv("CARDVAULT_TCGPLAYER_CLIENT_ID", "tcg-id")
        monkeypatch.setenv("CARDVAULT_TCGPLAYER_CLIENT_SECRET", "tcg-secret")
        monkeypatch.setenv("CARDVAULT_TCGPLAYER_CATEGORY_IDS", "[3]")
        get_settings.cache_clear()
        fetched = CliRunner().invoke(app, ["prices", "fetch", "tcgplayer"])
    assert fetched.exit_code == 0, fetched.output
    assert "1 retries" in fetched.output and "0 errors" in fetched.output
    assert (
        _scalar("SELECT value FROM price_aggregates WHERE printing_id = 'base1-4:holofoil:en' AND field = 'market'")
        == 420.0
    )


def test_train_detector_refuses_missing_inputs_before_rendering(tmp_path: Path) -> None:
    """A wrong --more-data or --init is refused at once, not after rendering the scene set."""
    runner = CliRunner()
    data = tmp_path / "scenes"
    for flags, hint in (
        (["--more-data", str(tmp_path / "nowhere")], "is not a scene dataset"),
        (["--init", str(tmp_path / "missing.onnx")], "does not exist"),
    ):
        result = runner.invoke(app, ["train", "detector", "--data", str(data), "--images", "3", *flags])
        assert result.exit_code == 2, result.output
        assert hint in " ".join(result.output.replace("│", " ").split())  # the message, unwrapped
        assert not data.exists()  # nothing rendered


def test_index_faces_draws_a_sets_faces_into_the_store(env: Path) -> None:
    from models.faces import RenderedFaces
    from pipelines.catalog_sources import load_catalogs

    result = CliRunner().invoke(app, ["index-faces", "--set", "fut20"])
    assert result.exit_code == 0, result.output
    catalogs = load_catalogs(get_settings().resolved_catalog_dir())
    cards = [c for catalog in catalogs for c in catalog.cards if c.set_id == "fut20"]
    store = RenderedFaces([], env / "faces")  # no catalog: it can only read what the command drew
    for card in cards:
        for printing in card.printings:
            face = store.face(card.id, printing.finish.removeprefix("first_edition_"))
            assert face is not None and face.shape == (88, 63, 3) and face.std() > 10
    assert CliRunner().invoke(app, ["index-faces", "--set", "no-such-set"]).exit_code != 0
