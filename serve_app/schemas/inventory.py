"""Inventory payloads."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator


class Condition(StrEnum):
    NM = "NM"
    LP = "LP"
    MP = "MP"
    HP = "HP"
    DMG = "DMG"


class GradingCompany(StrEnum):
    PSA = "PSA"
    BGS = "BGS"
    CGC = "CGC"
    TAG = "TAG"


class Grading(BaseModel):
    company: GradingCompany
    grade: float = Field(ge=1, le=10)
    cert_number: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9-]+$")

    @field_validator("grade")
    @classmethod
    def _half_steps(cls, value: float) -> float:
        if round(value * 2) != value * 2:
            raise ValueError("grades go in half steps (9, 9.5, 10)")
        return value


Tag = Field(min_length=1, max_length=40)


class InventoryFields(BaseModel):
    quantity: int = Field(default=1, ge=1, le=100_000)
    condition: Condition = Condition.NM
    graded: Grading | None = None
    purchase_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    purchase_date: date | None = None
    location: str | None = Field(default=None, max_length=128)
    tags: list[str] = Field(default_factory=list, max_length=30)
    notes: str | None = Field(default=None, max_length=2000)
    source_image_key: str | None = Field(default=None, max_length=64)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        if any(len(t) > 40 for t in cleaned):
            raise ValueError("a tag is at most 40 characters")
        return cleaned


class InventoryCreate(InventoryFields):
    """Name the printing, or the card plus its finish (the only printing if it has one)."""

    printing_id: str | None = Field(default=None, max_length=128)
    card_id: str | None = Field(default=None, max_length=64)
    finish: str | None = Field(default=None, max_length=32)
    language: str = Field(default="en", max_length=8)

    @model_validator(mode="after")
    def _which_printing(self) -> InventoryCreate:
        if not self.printing_id and not self.card_id:
            raise ValueError("give printing_id, or card_id (with finish when the card has several)")
        return self


class InventoryUpdate(BaseModel):
    printing_id: str | None = Field(default=None, max_length=128)
    quantity: int | None = Field(default=None, ge=1, le=100_000)
    condition: Condition | None = None
    graded: Grading | None = None
    purchase_price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    purchase_date: date | None = None
    location: str | None = Field(default=None, max_length=128)
    tags: list[str] | None = Field(default=None, max_length=30)
    notes: str | None = Field(default=None, max_length=2000)
    source_image_key: str | None = Field(default=None, max_length=64)


class InventoryCard(BaseModel):
    id: str
    game: str
    name: str
    set_id: str
    set_name: str
    number: str


class InventoryPublic(InventoryFields):
    id: uuid.UUID
    printing_id: str
    finish: str
    language: str
    card: InventoryCard
    created_at: datetime
    updated_at: datetime


class InventoryPage(BaseModel):
    items: list[InventoryPublic]
    total: int
    page: int
    page_size: int


class SortKey(StrEnum):
    created = "created_at"
    created_desc = "-created_at"
    updated_desc = "-updated_at"
    name = "name"
    name_desc = "-name"
    set = "set"
    price = "purchase_price"
    price_desc = "-purchase_price"
    quantity = "quantity"
    quantity_desc = "-quantity"


class UnmatchedRow(BaseModel):
    row: int = Field(description="1-based data row number (the header is row 0)")
    reason: str
    data: dict[str, str]


class ImportResult(BaseModel):
    format: str
    rows: int
    imported: int
    items: list[uuid.UUID]
    unmatched: list[UnmatchedRow]
