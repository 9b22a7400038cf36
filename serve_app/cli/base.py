"""The ``cardvault`` command line: the Typer apps and helpers the command modules share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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
train_app = typer.Typer(help="Train the models (the notebooks call the same pipelines).", no_args_is_help=True)
app.add_typer(train_app, name="train")
console = Console(stderr=True)
T = TypeVar("T")


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


def _with_engine(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from serve_app.db.engine import create_engine

    async def main() -> T:
        engine = create_engine(settings.effective_database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _on_database(work: Callable[[Any], Awaitable[T]], settings: Settings | None = None) -> T:
    """Bring the database's schema up to date, then run ``work`` with an engine on it."""
    settings = settings or get_settings()
    _upgrade(settings)
    return _with_engine(settings, work)
