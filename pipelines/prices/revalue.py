"""The revaluation job: fair values for every printing, on Ray Data or in one process.

Sales are laid out as Parquet files hash-partitioned by ``printing_id`` (``write_partitions``),
so every printing's sales sit whole in one file. Ray Data maps over the partition files: each
task reads whole files and runs ``fair_value.fair_values`` (polars) inside ``map_batches``, so no
printing is split and no shuffle is needed; the work spreads over the cluster's CPUs.
``revalue_polars`` runs the same function on the whole table in this process; the benchmark
compares the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from pipelines.prices.fair_value import (
    SALES_SCHEMA,
    FairValueParams,
    estimate_condition_multipliers,
    fair_values,
)

COLUMNS = list(SALES_SCHEMA)


def write_partitions(sales: pl.DataFrame, directory: Path, *, partitions: int) -> list[Path]:
    """Write sales as ``partitions`` Parquet files, hash-partitioned by printing_id."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("part-*.parquet"):
        old.unlink()
    bucketed = sales.select(COLUMNS).with_columns(
        (pl.col("printing_id").hash(seed=7) % partitions).cast(pl.UInt32).alias("_bucket")
    )
    paths = []
    for (bucket,), part in bucketed.partition_by("_bucket", as_dict=True).items():
        path = directory / f"part-{int(bucket):05d}.parquet"
        part.drop("_bucket").sort("printing_id").write_parquet(path, row_group_size=1_000_000)
        paths.append(path)
    return sorted(paths)


def with_estimated_multipliers(sales: pl.DataFrame, params: FairValueParams) -> FairValueParams:
    return dataclasses.replace(params, multipliers=estimate_condition_multipliers(sales, params))


def revalue_polars(sales: pl.DataFrame, params: FairValueParams) -> pl.DataFrame:
    """Single process: estimate condition multipliers, then every printing's fair value."""
    return fair_values(sales, with_estimated_multipliers(sales, params))


def _fair_values_files(batch: dict[str, Any], params: FairValueParams) -> pa.Table:
    """A batch of partition files: read each whole, so no printing is ever split."""
    frames = [fair_values(pl.read_parquet(path).cast(SALES_SCHEMA), params) for path in batch["path"]]
    return pl.concat(frames).to_arrow() if frames else pl.DataFrame().to_arrow()


def revalue_ray(
    paths: list[Path],
    params: FairValueParams,
    *,
    num_cpus_per_task: float = 1.0,
    concurrency: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Ray Data over the hash partitions: each task reads whole partition files and runs polars.

    ``params.multipliers`` must already be estimated (``with_estimated_multipliers`` on a sample
    or the whole table) so every partition normalises conditions the same way.
    """
    import ray

    dataset = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=len(paths))
    udf: Any = _fair_values_files
    results = dataset.map_batches(
        udf,
        batch_format="numpy",
        batch_size=1,
        fn_kwargs={"params": params},
        num_cpus=num_cpus_per_task,
        concurrency=concurrency,
    )
    tables: list[Any] = []
    batch: Any
    for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
        tables.append(batch)
        if on_progress:
            on_progress(batch.num_rows)
    if not tables:
        return pl.DataFrame()
    frame = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(frame, pl.DataFrame)
    return frame


def sample_for_multipliers(paths: list[Path], *, max_rows: int = 2_000_000) -> pl.DataFrame:
    """Whole partitions up to ``max_rows``: enough printings to estimate condition multipliers."""
    frames, rows = [], 0
    for path in paths:
        frame = pl.read_parquet(path)
        frames.append(frame)
        rows += frame.height
        if rows >= max_rows:
            break
    return pl.concat(frames) if frames else pl.DataFrame(schema=SALES_SCHEMA)
