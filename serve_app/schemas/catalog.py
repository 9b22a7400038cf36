"""Catalog payloads."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel


class SetPublic(BaseModel):
    id: str
    game: str
    name: str
    code: str | None
    series: str | None
    printed_total: int | None
    total: int | None
    release_date: date | None


class PrintingPublic(BaseModel):
    id: str
    finish: str
    edition: str | None
    language: str
    treatment: str | None
    rarity: str | None
    tcgplayer_product_id: str | None


class CardSummary(BaseModel):
    id: str
    game: str
    set: SetPublic
    name: str
    number: str
    collector_line: str
    rarity: str | None
    supertype: str | None
    image_url: str | None
    score: float | None = None


class CardDetail(CardSummary):
    subtypes: list[str]
    types: list[str]
    hp: int | None
    artist: str | None
    details: dict[str, Any]
    printings: list[PrintingPublic]


class CardPage(BaseModel):
    items: list[CardSummary]
    total: int
    page: int
    page_size: int
    interpreted_as: dict[str, str]
