"""Getting prices in: FX rates, sales (CSV and feeds), aggregate snapshots, the review queue.

Sales CSV columns (``cardvault prices import PATH``), one sale per row:

    card_id,price,currency,sold_at,condition,finish,source,listing_id
    sv2-12,0.45,USD,2024-07-30T18:02:00Z,NM,reverse_holofoil,ebay,ebay-1234567

optional: ``language`` (default en), ``graded_company`` and ``grade`` (slabs). ``condition`` is
NM/LP/MP/HP/DMG; ``finish`` a catalog finish; ``sold_at`` ISO 8601 (a date alone means midnight
UTC). A row that names no known printing, or is malformed, goes to the review queue with the
reason; a repeated (source, listing_id) is counted as a duplicate and not stored twice.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pipelines.catalog_sources import FINISHES, TCGPLAYER_VARIANTS
from serve_app.db.tables import FxRate, PriceAggregate, PriceReview, Printing, Sale
from serve_app.db.upsert import dialect_insert, table_of, upsert

FX_SEED = Path(__file__).resolve().parents[1] / "data" / "fx_monthly.csv"
CONDITIONS = {"NM", "LP", "MP", "HP", "DMG"}
SALES_COLUMNS = ("card_id", "price", "currency", "sold_at", "condition", "finish", "source", "listing_id")
BATCH = 5000


@dataclass
class IngestReport:
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    review: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_review(self, reason: str) -> None:
        self.review += 1
        key = reason.split(":")[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1


class FxTable:
    """Dated FX rates: the rate of the latest day on or before the date asked for."""

    def __init__(self, rates: pl.DataFrame) -> None:
        self.rates = rates.sort(["currency", "day"])
        self._by_currency = {c: part for (c,), part in self.rates.partition_by("currency", as_dict=True).items()}

    def usd_per_unit(self, currency: str, day: date) -> float | None:
        if currency == "USD":
            return 1.0
        part = self._by_currency.get(currency)
        if part is None:
            return None
        earlier = part.filter(pl.col("day") <= day)
        row = earlier.tail(1) if earlier.height else part.head(1)  # before the first rate: the first
        return float(row["usd_per_unit"][0])

    def convert(self, frame: pl.DataFrame, *, value: str, currency: str, day: str, out: str) -> pl.DataFrame:
        """Add ``out`` = value in USD, using each row's currency and day (null if no rate)."""
        keyed = frame.with_columns(pl.col(day).cast(pl.Date).alias("_day")).with_row_index("_row")
        rates = self.rates.rename({"day": "_day", "currency": currency})
        joined = (
            keyed.sort("_day")
            .join_asof(rates.sort("_day"), on="_day", by=currency, strategy="backward", check_sortedness=False)
            .with_columns(
                pl.when(pl.col(currency) == "USD").then(1.0).otherwise(pl.col("usd_per_unit")).alias("usd_per_unit")
            )
        )
        return (
            joined.with_columns((pl.col(value) * pl.col("usd_per_unit")).alias(out))
            .sort("_row")
            .drop("_row", "_day", "usd_per_unit")
        )


async def ensure_fx_rates(engine: AsyncEngine, path: Path = FX_SEED) -> int:
    """Load rates from a CSV (currency, day, usd_per_unit); existing days are updated."""
    frame = pl.read_csv(path, comment_prefix="#", schema_overrides={"day": pl.Date, "usd_per_unit": pl.Float64})
    rows = frame.to_dicts()
    async with engine.begin() as conn:
        await upsert(conn, table_of(FxRate), rows)
    return len(rows)


async def load_fx(engine: AsyncEngine) -> FxTable:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(FxRate.currency, FxRate.day, FxRate.usd_per_unit))).all()  # type: ignore[call-overload]
    if not rows:
        await ensure_fx_rates(engine)
        return await load_fx(engine)
    return FxTable(pl.DataFrame(rows, schema=["currency", "day", "usd_per_unit"], orient="row"))


async def known_printings(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(Printing.id))).scalars().all())  # type: ignore[call-overload]


def _parse_time(raw: str) -> datetime:
    text = raw.strip().replace("Z", "+00:00")
    parsed = (
        datetime.fromisoformat(text)
        if "T" in text or " " in text
        else datetime.combine(date.fromisoformat(text), datetime.min.time())
    )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def validate_sale(row: dict[str, Any], *, printings: set[str], fx: FxTable) -> dict[str, Any]:
    """A sales row as stored, or ``ValueError`` with the reason it goes to review."""
    missing = [c for c in SALES_COLUMNS if not str(row.get(c) or "").strip()]
    if missing:
        raise ValueError(f"missing: {', '.join(missing)}")
    finish = str(row["finish"]).strip().lower()
    if finish not in FINISHES:
        raise ValueError(f"unknown finish: {finish}")
    language = str(row.get("language") or "en").strip().lower()
    printing_id = f"{str(row['card_id']).strip()}:{finish}:{language}"
    if printing_id not in printings:
        raise ValueError(f"no such printing: {printing_id}")
    condition = str(row["condition"]).strip().upper()
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition: {condition}")
    try:
        price = Decimal(str(row["price"]).strip()).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"bad price: {row['price']}") from None
    if price <= 0:
        raise ValueError(f"bad price: {price}")
    try:
        sold_at = _parse_time(str(row["sold_at"]))
    except ValueError:
        raise ValueError(f"bad sold_at: {row['sold_at']}") from None
    currency = str(row["currency"]).strip().upper()
    rate = fx.usd_per_unit(currency, sold_at.date())
    if rate is None:
        raise ValueError(f"no exchange rate: {currency}")
    grade = row.get("grade")
    return {
        "printing_id": printing_id,
        "card_id": str(row["card_id"]).strip(),
        "price": price,
        "currency": currency,
        "price_usd": float(price) * rate,
        "sold_at": sold_at,
        "condition": condition,
        "finish": finish,
        "language": language,
        "graded_company": (str(row.get("graded_company") or "").strip().upper() or None),
        "grade": float(grade) if grade not in (None, "") else None,
        "source": str(row["source"]).strip().lower(),
        "listing_id": str(row["listing_id"]).strip(),
        "ingested_at": datetime.now(UTC),
    }


async def store_sales(engine: AsyncEngine, rows: list[dict[str, Any]], *, source_hint: str = "file") -> IngestReport:
    """Validate and insert sales; invalid or unmatched rows go to the review queue."""
    report = IngestReport(rows=len(rows))
    printings = await known_printings(engine)
    fx = await load_fx(engine)
    valid: list[dict[str, Any]] = []
    review: list[dict[str, Any]] = []
    for raw in rows:
        try:
            valid.append(validate_sale(raw, printings=printings, fx=fx))
        except ValueError as exc:
            report.to_review(str(exc))
            review.append(
                {
                    "source": str(raw.get("source") or source_hint)[:32],
                    "reason": str(exc)[:500],
                    "payload": {k: str(v) for k, v in raw.items()},
                    "created_at": datetime.now(UTC),
                }
            )
    async with engine.begin() as conn:
        insert = dialect_insert(conn)
        sales = table_of(Sale)
        for start in range(0, len(valid), BATCH):
            chunk = valid[start : start + BATCH]
            seen = {
                (row.source, row.listing_id)
                for row in await conn.execute(
                    select(sales.c.source, sales.c.listing_id).where(
                        sales.c.listing_id.in_({r["listing_id"] for r in chunk})
                    )
                )
            }
            fresh, keys = [], set(seen)
            for row in chunk:  # also drops repeats inside the file itself
                key = (row["source"], row["listing_id"])
                if key not in keys:
                    keys.add(key)
                    fresh.append(row)
            if fresh:
                await conn.execute(insert(sales).on_conflict_do_nothing(index_elements=["source", "listing_id"]), fresh)
            report.inserted += len(fresh)
        if review:
            await conn.execute(insert(table_of(PriceReview)), review)
    report.duplicates = len(valid) - report.inserted
    return report


async def import_sales_csv(engine: AsyncEngine, content: bytes) -> IngestReport:
    frame = pl.read_csv(io.BytesIO(content), infer_schema=False)
    missing = [c for c in SALES_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the sales CSV lacks column(s) {', '.join(missing)}; expected {','.join(SALES_COLUMNS)}")
    return await store_sales(engine, frame.to_dicts())


# snapshot fields worth keeping: TCGplayer's figures per printing, CardMarket's per card
SNAPSHOT_FIELDS = {
    "tcgplayer": ("market", "low", "mid", "high"),
    "cardmarket": (
        "trendPrice",
        "avg30",
        "averageSellPrice",
        "reverseHoloTrend",
        "reverseHoloAvg30",
        "reverseHoloSell",
    ),
}
TCGPLAYER_FINISH = TCGPLAYER_VARIANTS  # one mapping of TCGplayer variants to finishes


async def import_snapshots(engine: AsyncEngine, path: Path) -> IngestReport:
    """Import the Pokémon price snapshot file (long format) as aggregate observations."""
    frame = pl.read_csv(path, schema_overrides={"number": pl.String, "value": pl.Float64, "card_id": pl.String})
    keep = pl.lit(False)
    for source, fields in SNAPSHOT_FIELDS.items():
        keep = keep | ((pl.col("source") == source) & pl.col("field").is_in(list(fields)))
    frame = frame.filter(keep & pl.col("value").is_not_null()).with_columns(
        pl.col("updated_at").str.to_date("%Y/%m/%d").alias("observed_at")
    )
    printings = await known_printings(engine)
    main_finish = _main_finishes(printings)
    frame = frame.with_columns(
        pl.when(pl.col("source") == "tcgplayer")
        .then(pl.col("variant").replace_strict(TCGPLAYER_FINISH, default=None))
        .when(pl.col("field").str.starts_with("reverseHolo"))
        .then(pl.lit("reverse_holofoil"))
        .otherwise(pl.col("card_id").replace_strict(main_finish, default=None))
        .alias("finish")
    ).with_columns((pl.col("card_id") + ":" + pl.col("finish") + ":en").alias("printing_id"))
    matched = frame.filter(pl.col("printing_id").is_in(list(printings)))
    unmatched = frame.filter(~pl.col("printing_id").is_in(list(printings)) | pl.col("printing_id").is_null())
    fx = await load_fx(engine)
    matched = fx.convert(matched, value="value", currency="currency", day="observed_at", out="value_usd")
    matched = matched.filter(pl.col("value_usd").is_not_null()).unique(
        ["printing_id", "source", "field", "observed_at"], keep="last"
    )
    rows = matched.select("printing_id", "source", "field", "observed_at", "value", "currency", "value_usd").to_dicts()
    report = IngestReport(rows=frame.height, inserted=len(rows))
    # one review entry per card and variant, not per row: the queue stays readable
    review_groups = unmatched.group_by("card_id", "source", "variant", "finish").agg(pl.len().alias("rows"))
    review = [
        {
            "source": r["source"],
            "created_at": datetime.now(UTC),
            "payload": {k: str(v) for k, v in r.items()},
            "reason": f"no such printing: {r['card_id']} {r['variant'] if r['source'] == 'tcgplayer' else r['finish']}",
        }
        for r in review_groups.to_dicts()
    ]
    for _ in review:
        report.to_review("no such printing")
    async with engine.begin() as conn:
        await upsert(conn, table_of(PriceAggregate), rows, batch=20_000)
        if review:
            await conn.execute(dialect_insert(conn)(table_of(PriceReview)), review)
    return report


async def store_feed_result(engine: AsyncEngine, result: Any) -> IngestReport:
    """Store what a feed read (``serve_app.feeds.result.FeedResult``): sales, aggregates, review."""
    report = await store_sales(engine, result.sales) if result.sales else IngestReport()
    fx = await load_fx(engine)
    aggregates = []
    for row in result.aggregates:
        rate = fx.usd_per_unit(row["currency"], row["observed_at"])
        if rate is None:
            result.unmatched.append(
                {
                    "source": row["source"],
                    "reason": f"no exchange rate: {row['currency']}",
                    "payload": {k: str(v) for k, v in row.items()},
                }
            )
            continue
        aggregates.append({**row, "value_usd": row["value"] * rate})
    review = [
        {
            "source": u["source"],
            "reason": str(u["reason"])[:500],
            "created_at": datetime.now(UTC),
            "payload": json.loads(json.dumps(u["payload"], default=str)),
        }
        for u in result.unmatched
    ]
    async with engine.begin() as conn:
        await upsert(conn, table_of(PriceAggregate), aggregates, batch=20_000)
        if review:
            await conn.execute(dialect_insert(conn)(table_of(PriceReview)), review)
    report.rows += len(result.aggregates)
    report.inserted += len(aggregates)
    for entry in review:
        report.to_review(entry["reason"])
    return report


def _main_finishes(printings: set[str]) -> dict[str, str]:
    """CardMarket's non-reverse figures belong to the card's normal printing, else its holofoil."""
    by_card: dict[str, set[str]] = {}
    for printing_id in printings:
        card_id, finish, *_ = printing_id.split(":")
        by_card.setdefault(card_id, set()).add(finish)
    out = {}
    for card_id, finishes in by_card.items():
        for finish in ("normal", "holofoil", "first_edition_holofoil"):
            if finish in finishes:
                out[card_id] = finish
                break
    return out
