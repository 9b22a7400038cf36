"""Price and portfolio payloads. Money is USD unless a field says otherwise."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class PricePoint(BaseModel):
    day: date
    fmv_usd: float
    ci_low: float
    ci_high: float
    n: int
    method: str


class AggregateFigure(BaseModel):
    source: str
    field: str
    value: float
    currency: str
    value_usd: float
    observed_at: date


class PrintingPrice(BaseModel):
    printing_id: str
    finish: str
    fmv_usd: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_rejected: int
    thin: bool
    method: str | None = None
    sources: list[str]
    last_observed_at: datetime | None
    computed_at: datetime | None
    history: list[PricePoint]
    aggregates: list[AggregateFigure]


class CardPrices(BaseModel):
    card_id: str
    name: str
    condition_basis: str = "NM, raw (ungraded)"
    printings: list[PrintingPrice]


class Breakdown(BaseModel):
    key: str
    label: str
    items: int
    cards: int
    value_usd: float


class ValuePoint(BaseModel):
    day: date
    value_usd: float


class Portfolio(BaseModel):
    total_value_usd: float
    cost_basis_usd: float
    unrealized_gain_usd: float
    unrealized_gain_pct: float | None
    items: int
    cards: int
    valued_items: int
    unvalued_items: int
    thin_market_items: int
    by_game: list[Breakdown]
    by_set: list[Breakdown]
    history: list[ValuePoint]
    valuation_run: int
    notes: list[str]
