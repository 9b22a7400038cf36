"""Fair market value (FMV) of each printing from individual sales.

Method, per printing, over the sales of the last ``window_days`` before ``as_of``:

1. Raw sales only (graded slabs are a different market); prices in USD (dated FX rates).
2. Condition normalised to Near Mint: price / multiplier[condition]. The multipliers are
   estimated from the data (``estimate_condition_multipliers``): for every printing with Near
   Mint sales, each other-condition sale's ratio to that printing's NM median; the median
   ratio per condition, shrunk towards a prior when there are few.
3. Outliers rejected on log price against the printing's median and MAD (shill bids,
   mislabelled lots, junk listings): ``|log p - median| > k * max(1.4826 * MAD, floor)``.
4. Weights: recency (half-life), source reliability and how informative the condition is.
5. FMV = weighted median. 95% interval = weighted quantiles at ``0.5 ± z * 0.5 / sqrt(n_eff)``
   (the order-statistic interval of a median, with Kish's effective sample size).
6. ``thin`` when fewer than ``thin_below`` sales remain; with fewer than ``min_sales`` the
   printing has no sales FMV and ``fallback_values`` uses aggregate figures instead.

Framework-free (polars), so the Ray Data job, the single-process baseline, the API and the
benchmarks all run exactly this code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")
PRIOR_MULTIPLIERS = {"NM": 1.0, "LP": 0.85, "MP": 0.70, "HP": 0.50, "DMG": 0.35}
CONDITION_WEIGHTS = {"NM": 1.0, "LP": 0.9, "MP": 0.75, "HP": 0.6, "DMG": 0.5}
SOURCE_WEIGHTS = {"tcgplayer": 1.0, "ebay": 0.9, "cardmarket": 0.9, "file": 0.8}


@dataclass(frozen=True)
class FairValueParams:
    as_of: datetime
    window_days: int = 180
    half_life_days: float = 45.0
    mad_k: float = 3.0
    mad_floor: float = 0.05
    z: float = 1.96
    min_sales: int = 3
    thin_below: int = 8
    multipliers: dict[str, float] = field(default_factory=lambda: dict(PRIOR_MULTIPLIERS))
    source_weights: dict[str, float] = field(default_factory=lambda: dict(SOURCE_WEIGHTS))
    condition_weights: dict[str, float] = field(default_factory=lambda: dict(CONDITION_WEIGHTS))


SALES_SCHEMA = pl.Schema(
    {
        "printing_id": pl.String(),
        "price_usd": pl.Float64(),
        "sold_at": pl.Datetime("us"),
        "condition": pl.String(),
        "source": pl.String(),
        "graded": pl.Boolean(),
    }
)
RESULT_SCHEMA = pl.Schema(
    {
        "printing_id": pl.String(),
        "fmv": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "n": pl.UInt32(),
        "n_rejected": pl.UInt32(),
        "n_eff": pl.Float64(),
        "thin": pl.Boolean(),
        "sources": pl.List(pl.String()),
        "last_sold_at": pl.Datetime("us"),
    }
)


def _recent_raw(sales: pl.DataFrame, params: FairValueParams) -> pl.LazyFrame:
    start = params.as_of - timedelta(days=params.window_days)
    return (
        sales.lazy()
        .filter(~pl.col("graded") & pl.col("sold_at").is_between(start, params.as_of) & (pl.col("price_usd") > 0))
        .filter(pl.col("condition").is_in(list(CONDITIONS)))
    )


def estimate_condition_multipliers(
    sales: pl.DataFrame, params: FairValueParams, *, prior_strength: float = 20.0
) -> dict[str, float]:
    """Price of each condition relative to Near Mint, estimated from printings sold in both."""
    recent = _recent_raw(sales, params)
    nm = (
        recent.filter(pl.col("condition") == "NM")
        .group_by("printing_id")
        .agg(pl.col("price_usd").median().alias("nm_median"), pl.len().alias("nm_n"))
        .filter(pl.col("nm_n") >= 2)
    )
    ratios = (
        recent.filter(pl.col("condition") != "NM")
        .join(nm, on="printing_id")
        .with_columns((pl.col("price_usd") / pl.col("nm_median")).log().alias("log_ratio"))
        .group_by("condition")
        .agg(pl.col("log_ratio").median().exp().alias("ratio"), pl.len().alias("n"))
        .collect()
    )
    out = dict(params.multipliers)
    for row in ratios.iter_rows(named=True):
        prior = params.multipliers.get(row["condition"], 1.0)
        n = row["n"]
        out[row["condition"]] = (n * row["ratio"] + prior_strength * prior) / (n + prior_strength)
    out["NM"] = 1.0
    return out


def fair_values(sales: pl.DataFrame, params: FairValueParams) -> pl.DataFrame:
    """One row per printing with at least ``min_sales`` sales after outlier rejection."""
    if sales.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    age_days = (pl.lit(params.as_of) - pl.col("sold_at")).dt.total_seconds() / 86_400
    by = "printing_id"
    prepared = (
        _recent_raw(sales, params)
        .with_columns(
            (pl.col("price_usd") / pl.col("condition").replace_strict(params.multipliers, default=1.0)).alias("p")
        )
        .with_columns(pl.col("p").log().alias("logp"))
        .with_columns(pl.col("logp").median().over(by).alias("med"))
        .with_columns((pl.col("logp") - pl.col("med")).abs().alias("dev"))
        .with_columns(pl.col("dev").median().over(by).alias("mad"))
        .with_columns(
            (pl.col("dev") <= params.mad_k * pl.max_horizontal(1.4826 * pl.col("mad"), pl.lit(params.mad_floor))).alias(
                "keep"
            )
        )
    )
    rejected = prepared.group_by(by).agg((~pl.col("keep")).sum().cast(pl.UInt32).alias("n_rejected"))
    kept = (
        prepared.filter(pl.col("keep"))
        .with_columns(
            (
                pl.lit(0.5).pow(age_days / params.half_life_days)
                * pl.col("source").replace_strict(params.source_weights, default=0.8)
                * pl.col("condition").replace_strict(params.condition_weights, default=0.5)
            ).alias("w")
        )
        .sort([by, "p"])
        .with_columns(
            pl.col("w").cum_sum().over(by).alias("cw"),
            pl.col("w").sum().over(by).alias("W"),
            (pl.col("w") ** 2).sum().over(by).alias("W2"),
            pl.len().over(by).alias("n"),
        )
        .filter(pl.col("n") >= params.min_sales)
        .with_columns((pl.col("W") ** 2 / pl.col("W2")).alias("n_eff"))
        .with_columns((params.z * 0.5 / pl.col("n_eff").sqrt()).alias("half_width"))
        # a quantile is the first price whose cumulative weight reaches q of the total
        .with_columns(
            (pl.col("cw") >= 0.5 * pl.col("W")).alias("at_median"),
            (pl.col("cw") >= (0.5 - pl.col("half_width")).clip(0.0, 1.0) * pl.col("W")).alias("at_low"),
            (pl.col("cw") >= (0.5 + pl.col("half_width")).clip(0.0, 1.0) * pl.col("W") - 1e-12).alias("at_high"),
        )
    )
    result = (
        kept.group_by(by)
        .agg(
            pl.col("p").filter(pl.col("at_median")).first().alias("fmv"),
            pl.col("p").filter(pl.col("at_low")).first().alias("ci_low"),
            pl.col("p").filter(pl.col("at_high")).first().fill_null(pl.col("p").max()).alias("ci_high"),
            pl.col("n").first().cast(pl.UInt32),
            pl.col("n_eff").first(),
            pl.col("source").unique().sort().alias("sources"),
            pl.col("sold_at").max().alias("last_sold_at"),
        )
        .join(rejected, on=by, how="left")
        .with_columns(
            pl.col("n_rejected").fill_null(0),
            (pl.col("n") < params.thin_below).alias("thin"),
            pl.col("ci_high").fill_null(pl.col("fmv")),
        )
        .select(list(RESULT_SCHEMA))
        .collect()
    )
    return result.cast(RESULT_SCHEMA)


AGGREGATE_PREFERENCE = {  # lower is preferred within a source
    "market": 0,
    "trendPrice": 0,
    "reverseHoloTrend": 0,
    "avg30": 1,
    "reverseHoloAvg30": 1,
}


def fallback_values(aggregates: pl.DataFrame, *, exclude: pl.Series | None = None) -> pl.DataFrame:
    """FMV from aggregate figures for printings with too few sales.

    ``aggregates``: printing_id, source, field, value_usd, observed_at. One figure per source from
    its latest snapshot: TCGplayer ``market`` (its figure from recent completed sales of exactly this
    printing), CardMarket ``trendPrice`` (else ``avg30``). FMV is TCGplayer's figure when there is
    one, else CardMarket's; the interval spans both figures and at least ±25%; always thin.
    """
    usable = aggregates.filter(pl.col("field").is_in(list(AGGREGATE_PREFERENCE)) & (pl.col("value_usd") > 0))
    if exclude is not None:
        usable = usable.filter(~pl.col("printing_id").is_in(exclude.implode()))
    per_source = (
        usable.filter(pl.col("observed_at") == pl.col("observed_at").max().over(["printing_id", "source"]))
        .with_columns(pl.col("field").replace_strict(AGGREGATE_PREFERENCE).alias("rank"))
        .sort("printing_id", "source", "rank")
        .group_by("printing_id", "source", maintain_order=True)
        .first()
        .with_columns((pl.col("source") != "tcgplayer").cast(pl.Int8).alias("source_rank"))
        .sort("printing_id", "source_rank")
    )
    return (
        per_source.group_by("printing_id", maintain_order=True)
        .agg(
            pl.col("value_usd").first().alias("fmv"),
            pl.col("value_usd").min().alias("lo"),
            pl.col("value_usd").max().alias("hi"),
            pl.col("source").unique().sort().alias("sources"),
            pl.col("observed_at").max().alias("last_sold_at"),
        )
        .with_columns(
            pl.min_horizontal("lo", pl.col("fmv") * 0.75).alias("ci_low"),
            pl.max_horizontal("hi", pl.col("fmv") * 1.25).alias("ci_high"),
            pl.lit(0, pl.UInt32).alias("n"),
            pl.lit(0, pl.UInt32).alias("n_rejected"),
            pl.lit(0.0).alias("n_eff"),
            pl.lit(True).alias("thin"),
        )
        .select(list(RESULT_SCHEMA))
        .cast(RESULT_SCHEMA)
    )
