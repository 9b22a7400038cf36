"""Database, catalog, user and signing-key commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from serve_app.cli.base import (
    _progress,
    _run,
    _upgrade,
    catalog_app,
    console,
    db_app,
    keys_app,
    user_app,
)
from serve_app.settings import get_settings


class GameName(StrEnum):
    pokemon = "pokemon"
    fab = "fab"


class RoleName(StrEnum):
    user = "user"
    moderator = "moderator"
    admin = "admin"


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
