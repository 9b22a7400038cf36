"""Fair market value: accuracy on simulated markets, and revaluation speed (Ray Data vs polars).

    .venv/bin/python benchmarks/fmv.py [--printings 5000] [--rows 10000000] [--skip-speed]

(a) Accuracy: printings with known true values and ~20 sales each (a mix of conditions, 10%
    outliers: shill bids, mislabelled lots, junk). Median absolute % error of the estimate and
    how often the 95% interval holds the true value, for this method, a plain median and a
    plain mean (with their usual intervals).
(b) Speed: revalue --rows sales over rows/100 printings, single-process polars against Ray Data
    (hash-partitioned Parquet, polars inside map_batches) on local Ray with 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.prices.fair_value import FairValueParams, estimate_condition_multipliers, fair_values
from pipelines.prices.revalue import revalue_ray, sample_for_multipliers, with_estimated_multipliers, write_partitions
from pipelines.prices.simulate import simulate_sales

AS_OF = datetime(2024, 8, 1)


def accuracy(printings: int, seed: int) -> None:
    sim = simulate_sales(printings=printings, mean_sales=20, as_of=AS_OF, seed=seed)
    params = FairValueParams(as_of=AS_OF)
    params = dataclasses.replace(params, multipliers=estimate_condition_multipliers(sim.sales, params))
    ours = fair_values(sim.sales, params).select("printing_id", "fmv", "ci_low", "ci_high")
    raw = sim.sales.filter(pl.col("sold_at") <= AS_OF)
    z = 1.96
    plain_median = (
        raw.sort("price_usd")
        .group_by("printing_id")
        .agg(pl.col("price_usd").alias("p"), pl.len().alias("n"))
        .with_columns(
            pl.col("p").list.eval(pl.element().median()).list.first().alias("fmv"),
            ((pl.col("n") / 2 - z * pl.col("n").sqrt() / 2).floor().clip(0, None)).cast(pl.Int64).alias("j"),
            ((pl.col("n") / 2 + z * pl.col("n").sqrt() / 2).ceil()).cast(pl.Int64).alias("k"),
        )
        .with_columns(
            pl.col("p").list.get(pl.col("j"), null_on_oob=True).alias("ci_low"),
            pl.col("p").list.get(pl.min_horizontal(pl.col("k"), pl.col("n") - 1), null_on_oob=True).alias("ci_high"),
        )
        .select("printing_id", "fmv", "ci_low", "ci_high")
    )
    plain_mean = (
        raw.group_by("printing_id")
        .agg(pl.col("price_usd").mean().alias("fmv"), pl.col("price_usd").std().alias("sd"), pl.len().alias("n"))
        .with_columns(
            (pl.col("fmv") - z * pl.col("sd") / pl.col("n").sqrt()).alias("ci_low"),
            (pl.col("fmv") + z * pl.col("sd") / pl.col("n").sqrt()).alias("ci_high"),
        )
        .select("printing_id", "fmv", "ci_low", "ci_high")
    )
    print(f"\n(a) accuracy: {printings} printings, {sim.sales.height} sales, 10% outliers, mixed conditions")
    print(f"{'method':<34} {'printings':>9} {'median |err|':>13} {'95% CI coverage':>16} {'median CI width':>16}")
    for name, frame in (
        ("fair value (this method)", ours),
        ("plain median of sales", plain_median),
        ("plain mean of sales", plain_mean),
    ):
        j = frame.join(sim.truth, on="printing_id").drop_nulls()
        err = float(((j["fmv"] - j["true_value"]).abs() / j["true_value"]).median())  # type: ignore[arg-type]
        cover = float(((j["ci_low"] <= j["true_value"]) & (j["true_value"] <= j["ci_high"])).mean())  # type: ignore[arg-type]
        width = float(((j["ci_high"] - j["ci_low"]) / j["true_value"]).median())  # type: ignore[arg-type]
        print(f"{name:<34} {j.height:>9} {err:>12.1%} {cover:>16.1%} {width:>15.1%}")
    print("targets: median |err| <= 5%; coverage between 93% and 97%")


def speed(rows: int, seed: int) -> None:
    import ray

    printings = max(1, rows // 100)
    print(f"\n(b) speed: {rows:,} sales over {printings:,} printings on {os.cpu_count()} CPUs")
    t0 = time.perf_counter()
    sim = simulate_sales(printings=printings, mean_sales=rows / printings, as_of=AS_OF, seed=seed)
    work = Path(tempfile.mkdtemp(prefix="cardvault-fmv-"))
    paths = write_partitions(sim.sales, work, partitions=16)
    n = sim.sales.height
    del sim
    print(f"generated and wrote {n:,} sales as {len(paths)} hash partitions in {time.perf_counter() - t0:.1f} s")
    params = FairValueParams(as_of=AS_OF)

    # both engines estimate the condition multipliers the same way (on whole partitions up to 2M rows)
    def timed_polars() -> float:
        start = time.perf_counter()
        fair_values(
            pl.read_parquet([str(p) for p in paths]), with_estimated_multipliers(sample_for_multipliers(paths), params)
        )
        return time.perf_counter() - start

    def timed_ray(workers: int) -> float:
        start = time.perf_counter()
        revalue_ray(paths, with_estimated_multipliers(sample_for_multipliers(paths), params), concurrency=workers)
        return time.perf_counter() - start

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    timed_ray(2)  # warm-up: worker processes start and import polars once
    results = [("polars, single process", timed_polars())]
    for workers in (1, 2):
        results.append((f"Ray Data, {workers} worker{'s' if workers > 1 else ''}", timed_ray(workers)))
    ray.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    base = results[0][1]
    print(f"{'engine':<26} {'seconds':>8} {'sales/s':>12} {'vs polars':>10}")
    for name, seconds in results:
        print(f"{name:<26} {seconds:>8.2f} {n / seconds:>12,.0f} {base / seconds:>9.0%}")
    print("target: Ray Data >= 50% of single-process polars throughput (both include reading the partitions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--printings", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    accuracy(args.printings, args.seed)
    if not args.skip_speed:
        speed(args.rows, args.seed + 1)


if __name__ == "__main__":
    main()
