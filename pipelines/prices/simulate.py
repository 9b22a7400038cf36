"""Simulated sales around known true values, for benchmarks and tests (seeded, reproducible).

Each printing gets a true Near Mint value (log-normal, $0.25 to several thousand). Each sale is
the true value x the condition's true multiplier x log-normal noise; a share of sales are
outliers of three kinds seen on real marketplaces: shill bids (x2-6), mislabelled lots sold as
one card (x3-10) and junk or misidentified listings (x0.05-0.3). A few sales are graded slabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

# deliberately not the priors in fair_value.py: the method has to estimate them
TRUE_MULTIPLIERS = {"NM": 1.0, "LP": 0.82, "MP": 0.64, "HP": 0.47, "DMG": 0.30}
CONDITION_MIX = {"NM": 0.5, "LP": 0.25, "MP": 0.12, "HP": 0.08, "DMG": 0.05}
SOURCES = ("tcgplayer", "ebay", "cardmarket")


@dataclass(frozen=True)
class Simulation:
    sales: pl.DataFrame
    truth: pl.DataFrame  # printing_id, true_value


def simulate_sales(
    *,
    printings: int,
    mean_sales: float,
    as_of: datetime,
    seed: int = 0,
    outlier_rate: float = 0.10,
    noise_sigma: float = 0.15,
    graded_rate: float = 0.03,
    days: int = 120,
    min_sales: int = 1,
) -> Simulation:
    rng = np.random.default_rng(seed)
    true_value = np.exp(rng.normal(np.log(3.0), 1.6, printings)).clip(0.10, 20_000)
    counts = np.maximum(rng.poisson(mean_sales, printings), min_sales)
    idx = np.repeat(np.arange(printings), counts)
    n = idx.size
    conditions = np.array(list(CONDITION_MIX))
    cond = rng.choice(len(conditions), size=n, p=list(CONDITION_MIX.values()))
    multiplier = np.array([TRUE_MULTIPLIERS[c] for c in conditions])[cond]
    price = true_value[idx] * multiplier * np.exp(rng.normal(0.0, noise_sigma, n))
    kind = rng.random(n)
    outlier = kind < outlier_rate
    which = rng.integers(0, 3, n)
    factor = np.where(
        which == 0, rng.uniform(2, 6, n), np.where(which == 1, rng.uniform(3, 10, n), rng.uniform(0.05, 0.3, n))
    )
    price = np.where(outlier, price * factor, price)
    graded = rng.random(n) < graded_rate
    price = np.where(graded, price * rng.uniform(1.5, 4.0, n), price)
    seconds = rng.uniform(0, days * 86_400, n)
    sold_at = np.datetime64(as_of.replace(tzinfo=None), "us") - (seconds * 1e6).astype("timedelta64[us]")
    ids = np.array([f"sim-{i:07d}" for i in range(printings)])
    sales = pl.DataFrame(
        {
            "printing_id": ids[idx],
            "price_usd": np.round(price, 2).clip(0.01, None),
            "sold_at": sold_at,
            "condition": conditions[cond],
            "source": np.array(SOURCES)[rng.integers(0, len(SOURCES), n)],
            "graded": graded,
            "listing_id": np.char.add("L", np.arange(n).astype(str)),
        }
    )
    truth = pl.DataFrame({"printing_id": ids, "true_value": true_value})
    return Simulation(sales=sales, truth=truth)


def window_start(as_of: datetime, days: int) -> datetime:
    return as_of - timedelta(days=days)
