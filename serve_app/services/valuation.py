"""Revaluation: sales store -> fair values (Ray Data or polars) -> database, with a run record.

The portfolio cache keys carry the latest run id, so a landed revaluation is visible at once on
every replica whether the cache is Redis or in process; with Redis the old keys are dropped too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from pipelines.prices.fair_value import SALES_SCHEMA, FairValueParams, fallback_values
from pipelines.prices.revalue import (
    revalue_polars,
    revalue_ray,
    sample_for_multipliers,
    with_estimated_multipliers,
    write_partitions,
)
from serve_app.core.cache import Cache
from serve_app.core.events import EventBus
from serve_app.db.tables import FairValue, FairValueHistory, PriceAggregate, Sale, ValuationRun
from serve_app.db.upsert import table_of, upsert

Engine = Literal["ray", "polars"]
WRITE_BATCH = 5000


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    sales: int
    from_sales: int
    from_aggregates: int
    seconds: float
    engine: str


async def _read_sales(engine: AsyncEngine, since: datetime, until: datetime) -> pl.DataFrame:
    stmt = select(  # type: ignore[call-overload]
        Sale.printing_id,
        Sale.price_usd,
        Sale.sold_at,
        Sale.condition,
        Sale.source,
        col(Sale.graded_company).is_not(None).label("graded"),
    ).where(col(Sale.sold_at) >= since, col(Sale.sold_at) <= until)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    if not rows:
        return pl.DataFrame(schema=SALES_SCHEMA)
    frame = pl.DataFrame(rows, schema=list(SALES_SCHEMA), orient="row")
    return frame.with_columns(pl.col("sold_at").dt.replace_time_zone(None)).cast(SALES_SCHEMA)


async def _read_aggregates(engine: AsyncEngine) -> pl.DataFrame:
    stmt = select(  # type: ignore[call-overload]
        PriceAggregate.printing_id,
        PriceAggregate.source,
        PriceAggregate.field,
        PriceAggregate.value_usd,
        PriceAggregate.observed_at,
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    schema = pl.Schema(
        {
            "printing_id": pl.String(),
            "source": pl.String(),
            "field": pl.String(),
            "value_usd": pl.Float64(),
            "observed_at": pl.Date(),
        }
    )
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("observed_at").cast(pl.Datetime("us")))


async def latest_run_id(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        value = (
            await conn.execute(select(func.max(ValuationRun.id)).where(col(ValuationRun.status) == "done"))
        ).scalar()
    return int(value or 0)


async def revalue(
    engine: AsyncEngine,
    *,
    work_dir: Path,
    as_of: datetime | None = None,
    use: Engine = "ray",
    partitions: int = 16,
    cache: Cache | None = None,
    events: EventBus | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Revalue every printing with sales (and the rest from aggregates); write values and history."""
    started = datetime.now(UTC)
    as_of = as_of or started
    params = FairValueParams(as_of=as_of.replace(tzinfo=None))
    async with engine.begin() as conn:
        result = await conn.execute(
            table_of(ValuationRun)
            .insert()
            .values(
                started_at=started, as_of=as_of, status="running", sales=0, from_sales=0, from_aggregates=0, engine=use
            )
        )
        run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    say = progress or (lambda _msg: None)
    say("reading sales")
    sales = await _read_sales(engine, as_of - timedelta(days=params.window_days), as_of)
    say(f"{sales.height} sales in the window; computing with {use}")
    if use == "ray" and sales.height:
        run_dir = work_dir / f"run-{run_id}"
        paths = write_partitions(sales, run_dir, partitions=partitions)
        values = revalue_ray(paths, with_estimated_multipliers(sample_for_multipliers(paths), params))
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        values = revalue_polars(sales, params)
    values = values.with_columns(pl.lit("sales").alias("method"))
    fallback = fallback_values(await _read_aggregates(engine), exclude=values["printing_id"]).with_columns(
        pl.lit("aggregate").alias("method")
    )
    combined = pl.concat([values, fallback], how="vertical_relaxed") if fallback.height else values
    say(f"writing {combined.height} fair values")
    await _write(engine, combined, run_id=run_id, day=as_of)
    finished = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            table_of(ValuationRun)
            .update()
            .where(table_of(ValuationRun).c.id == run_id)
            .values(
                finished_at=finished,
                status="done",
                sales=sales.height,
                from_sales=values.height,
                from_aggregates=fallback.height,
            )
        )
    if cache is not None:
        await cache.delete_prefix("portfolio:")
    if events is not None:
        await events.publish(
            "global", {"type": "valuation.completed", "run_id": run_id, "printings": values.height + fallback.height}
        )
    return RunSummary(run_id, sales.height, values.height, fallback.height, (finished - started).total_seconds(), use)


async def _write(engine: AsyncEngine, values: pl.DataFrame, *, run_id: int, day: datetime) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "printing_id": r["printing_id"],
            "fmv_usd": round(r["fmv"], 4),
            "ci_low": round(r["ci_low"], 4),
            "ci_high": round(r["ci_high"], 4),
            "n": int(r["n"]),
            "n_rejected": int(r["n_rejected"]),
            "thin": bool(r["thin"]),
            "method": r["method"],
            "sources": list(r["sources"] or []),
            "last_observed_at": r["last_sold_at"].replace(tzinfo=UTC) if r["last_sold_at"] else None,
            "run_id": run_id,
            "computed_at": now,
        }
        for r in values.iter_rows(named=True)
    ]
    history = [
        {
            "printing_id": r["printing_id"],
            "day": day.date(),
            "fmv_usd": r["fmv_usd"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "n": r["n"],
            "method": r["method"],
        }
        for r in rows
    ]
    async with engine.begin() as conn:
        await upsert(conn, table_of(FairValue), rows, batch=WRITE_BATCH)
        await upsert(conn, table_of(FairValueHistory), history, batch=WRITE_BATCH)
