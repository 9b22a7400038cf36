"""The Ray Data revaluation gives exactly the single-process polars result."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.prices.fair_value import FairValueParams, fair_values
from pipelines.prices.revalue import revalue_ray, with_estimated_multipliers, write_partitions
from pipelines.prices.simulate import simulate_sales

AS_OF = datetime(2024, 8, 1)


def test_ray_matches_polars_and_keeps_printings_whole(tmp_path: Path, ray_local: None) -> None:
    sim = simulate_sales(printings=3000, mean_sales=15, as_of=AS_OF, seed=5)
    params = with_estimated_multipliers(sim.sales, FairValueParams(as_of=AS_OF))
    paths = write_partitions(sim.sales, tmp_path, partitions=6)
    assert len(paths) == 6
    seen: set[str] = set()
    for path in paths:  # hash partitions: no printing in two files
        ids = set(pl.read_parquet(path)["printing_id"].unique())
        assert not ids & seen
        seen |= ids
    expected = fair_values(sim.sales, params).sort("printing_id")
    got = revalue_ray(paths, params).sort("printing_id")
    assert got.height == expected.height >= 0.99 * sim.truth.height
    assert got.select("printing_id", "fmv", "ci_low", "ci_high", "n").equals(
        expected.select("printing_id", "fmv", "ci_low", "ci_high", "n")
    )
