"""What a feed run read: sales, aggregate figures, records it could not match, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FeedResult:
    aggregates: list[dict[str, Any]] = field(default_factory=list)
    sales: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pages: int = 0
