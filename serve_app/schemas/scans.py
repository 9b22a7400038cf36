"""Scan requests and results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from serve_app.schemas.inventory import Condition, InventoryPublic


class ScanCreate(BaseModel):
    """Scan an image already uploaded through ``/images`` (by its key)."""

    image_key: str = Field(pattern=r"^[0-9a-f]{32}$")


class ScanAccepted(BaseModel):
    id: uuid.UUID
    status: str
    url: str


class ScanCard(BaseModel):
    index: int
    corners: list[list[float]] = Field(description="top-left, top-right, bottom-right, bottom-left, photo pixels")
    box: list[float]
    detection_score: float
    candidates: list[dict[str, Any]] = Field(description="card_id, name, set, number, confidence and tier, best first")
    tier: Literal["GOOD", "FAIR", "POOR"]
    printing_id: str | None
    finish: str
    finish_confidence: float
    grade: dict[str, Any] = Field(description="centering/corners/edges/surface subgrades, overall, TCG condition")
    ocr: dict[str, Any]
    embedding: list[tuple[str, float]] = Field(default_factory=list, description="nearest reference faces")
    crop_url: str | None = None


class FaceDownCard(BaseModel):
    corners: list[list[float]] = Field(description="top-left, top-right, bottom-right, bottom-left, photo pixels")
    box: list[float]
    game: Literal["pokemon", "fab"] = Field(description="whose card back shows")
    likeness: float = Field(description="of the card to that back, by the identifier's embedding")


class OutlinedObject(BaseModel):
    corners: list[list[float]] = Field(description="top-left, top-right, bottom-right, bottom-left, photo pixels")
    box: list[float]
    detection_score: float


class UnreadObject(OutlinedObject):
    """Card-shaped, showing no card's name or number."""


class HiddenCard(OutlinedObject):
    """A card under another, too little of it in view to identify."""


class ScanPublic(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "running", "done", "failed"]
    image_key: str
    attempts: int
    error: str | None
    width: int | None = None
    height: int | None = None
    cards: list[ScanCard] = Field(default_factory=list)
    face_down: list[FaceDownCard] = Field(
        default_factory=list, description="cards lying face down: not identified, not added on accept"
    )
    unread: list[UnreadObject] = Field(
        default_factory=list,
        description="card-shaped things, large and in view, showing no card's name or number (a booster pack, "
        "a box, a card the catalog does not hold): not cards, not added on accept",
    )
    hidden: list[HiddenCard] = Field(
        default_factory=list,
        description="cards lying under another card, too little of them in view to identify: not added on "
        "accept; lift the card over them and scan again",
    )
    overlay_url: str | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    accepted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CardCorrection(BaseModel):
    index: int = Field(ge=0, description="the card's index in the scan")
    skip: bool = False
    printing_id: str | None = Field(default=None, max_length=128, description="the right printing, if the scan erred")
    condition: Condition | None = None
    quantity: int = Field(default=1, ge=1, le=1000)
    tags: list[str] = Field(default_factory=list, max_length=30)


class ScanAccept(BaseModel):
    """Cards not mentioned are added as identified; POOR-tier cards need an explicit printing."""

    cards: list[CardCorrection] = Field(default_factory=list, max_length=64)
    include_poor: bool = Field(default=False, description="also add POOR-tier cards as identified")


class ScanAcceptResult(BaseModel):
    items: list[InventoryPublic]
    skipped: list[int]
