"""Batched INSERT ... ON CONFLICT for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


def table_of(model: Any) -> Table:
    """The Core table of a SQLModel class."""
    table: Table = model.__table__
    return table


def dialect_insert(conn: Any) -> Any:
    """The dialect's ``insert`` construct, which knows ``on_conflict_do_*``."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def upsert(
    conn: Any,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert rows; where the primary key exists already, overwrite every other column."""
    insert = dialect_insert(conn)
    keys = [c.name for c in table.primary_key.columns]
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        stmt = insert(table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        await conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), chunk)
        if progress:
            progress(len(chunk))
