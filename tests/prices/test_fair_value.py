"""Fair market value: accuracy on simulated markets, outliers, conditions, windows, fallbacks."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import polars as pl
import pytest

from pipelines.prices.fair_value import FairValueParams, estimate_condition_multipliers, fair_values, fallback_values
from pipelines.prices.simulate import TRUE_MULTIPLIERS, simulate_sales

AS_OF = datetime(2024, 8, 1)


def _sales(
    prices: list[float],
    *,
    condition: str = "NM",
    days_ago: float = 3,
    printing: str = "p1",
    graded: bool = False,
    source: str = "ebay",
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "printing_id": [printing] * len(prices),
            "price_usd": prices,
            "sold_at": [AS_OF - timedelta(days=days_ago)] * len(prices),
            "condition": [condition] * len(prices),
            "source": [source] * len(prices),
            "graded": [graded] * len(prices),
        }
    ).with_columns(pl.col("sold_at").cast(pl.Datetime("us")))


def test_accuracy_and_interval_coverage_on_a_simulated_market() -> None:
    sim = simulate_sales(printings=800, mean_sales=20, as_of=AS_OF, seed=11)
    params = FairValueParams(as_of=AS_OF)
    params = dataclasses.replace(params, multipliers=estimate_condition_multipliers(sim.sales, params))
    for condition, true in TRUE_MULTIPLIERS.items():
        assert params.multipliers[condition] == pytest.approx(true, rel=0.05)
    result = fair_values(sim.sales, params).join(sim.truth, on="printing_id")
    error = ((result["fmv"] - result["true_value"]).abs() / result["true_value"]).median()
    coverage = ((result["ci_low"] <= result["true_value"]) & (result["true_value"] <= result["ci_high"])).mean()
    assert error is not None and error < 0.05
    assert coverage is not None and 0.90 <= coverage <= 0.99
    plain_median = (
        sim.sales.group_by("printing_id").agg(pl.col("price_usd").median().alias("m")).join(sim.truth, on="printing_id")
    )
    plain_error = ((plain_median["m"] - plain_median["true_value"]).abs() / plain_median["true_value"]).median()
    assert plain_error is not None and plain_error > error  # the method beats a plain median


def test_shill_bid_and_junk_are_rejected() -> None:
    sales = _sales([10.0, 10.2, 9.8, 10.1, 9.9, 10.3, 9.7, 10.0, 500.0, 0.5])
    row = fair_values(sales, FairValueParams(as_of=AS_OF)).row(0, named=True)
    assert row["fmv"] == pytest.approx(10.0, abs=0.2)
    assert row["n"] == 8 and row["n_rejected"] == 2
    assert row["ci_low"] <= 10.0 <= row["ci_high"] and row["ci_high"] < 11


def test_conditions_are_normalised_to_near_mint() -> None:
    params = FairValueParams(as_of=AS_OF)
    lp = _sales([8.5, 8.4, 8.6, 8.5, 8.5], condition="LP")
    row = fair_values(lp, params).row(0, named=True)
    assert row["fmv"] == pytest.approx(8.5 / params.multipliers["LP"], rel=0.01)


def test_graded_old_and_future_sales_do_not_count_and_thin_flag() -> None:
    sales = pl.concat(
        [
            _sales([20.0, 21.0, 19.0]),
            _sales([400.0] * 5, graded=True),
            _sales([1.0] * 5, days_ago=400),
            _sales([1.0] * 5, days_ago=-5),
        ]
    )
    row = fair_values(sales, FairValueParams(as_of=AS_OF)).row(0, named=True)
    assert row["fmv"] == 20.0 and row["n"] == 3 and row["thin"] is True
    assert fair_values(_sales([5.0, 5.0]), FairValueParams(as_of=AS_OF)).is_empty()  # below min_sales


def test_recent_sales_weigh_more() -> None:
    old = _sales([10.0] * 6, days_ago=150)
    new = _sales([14.0] * 5, days_ago=1)
    row = fair_values(pl.concat([old, new]), FairValueParams(as_of=AS_OF, mad_k=100)).row(0, named=True)
    assert row["fmv"] == 14.0


def test_fallback_to_aggregates_for_printings_without_sales() -> None:
    aggregates = pl.DataFrame(
        {
            "printing_id": ["a", "a", "a", "b"],
            "source": ["tcgplayer", "cardmarket", "tcgplayer", "tcgplayer"],
            "field": ["market", "trendPrice", "market", "market"],
            "value_usd": [4.0, 5.0, 3.0, 1.0],
            "observed_at": [datetime(2024, 8, 3), datetime(2024, 8, 3), datetime(2024, 5, 23), datetime(2024, 8, 3)],
        }
    )
    result = fallback_values(aggregates, exclude=pl.Series(["b"]))
    row = result.row(0, named=True)
    assert result.height == 1 and row["printing_id"] == "a"
    assert row["fmv"] == 4.0 and row["thin"] is True and row["n"] == 0  # TCGplayer's latest market
    assert row["ci_low"] == 3.0 and row["ci_high"] == 5.0
    cardmarket_only = fallback_values(aggregates.filter(pl.col("source") == "cardmarket")).row(0, named=True)
    assert cardmarket_only["fmv"] == 5.0 and cardmarket_only["sources"] == ["cardmarket"]


def test_fallback_with_no_aggregates_at_all() -> None:
    empty = pl.DataFrame(
        schema={
            "printing_id": pl.String,
            "source": pl.String,
            "field": pl.String,
            "value_usd": pl.Float64,
            "observed_at": pl.Datetime("us"),
        }
    )
    assert fallback_values(empty).is_empty()
