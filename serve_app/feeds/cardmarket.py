"""CardMarket price guide: daily aggregate figures per product, in EUR.

Files (CardMarket's published JSON shapes): ``GET /priceguide`` →
``{"createdAt", "priceGuides": [{"idProduct", "avg", "low", "trend", "avg1", "avg7", "avg30",
"avg-holo", "low-holo", "trend-holo", "avg30-holo", ...}]}``, ``GET /products`` →
``{"products": [{"idProduct", "name", "idExpansion", "number"?}]}`` and ``GET /expansions`` →
``{"expansions": [{"idExpansion", "enName", "abbreviation"}]}``. A product maps to a card by
expansion and number when given, else by a name that is unique in the expansion; ``-holo``
figures are the reverse holofoil printing (CardMarket's "holo" of a Pokémon single).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from serve_app.feeds.catalog_index import CatalogIndex
from serve_app.feeds.http import FeedHttp
from serve_app.feeds.result import FeedResult

FIELDS = {
    "trend": "trendPrice",
    "avg30": "avg30",
    "avg": "averageSellPrice",
    "trend-holo": "reverseHoloTrend",
    "avg30-holo": "reverseHoloAvg30",
    "avg-holo": "reverseHoloSell",
}


@dataclass
class CardMarketPriceGuide:
    http: FeedHttp
    base_url: str

    async def fetch(self, catalog: CatalogIndex) -> FeedResult:
        result = FeedResult()
        expansions = {
            e["idExpansion"]: e
            for e in (await self.http.json("GET", f"{self.base_url}/expansions")).get("expansions", [])
        }
        products = {
            p["idProduct"]: p for p in (await self.http.json("GET", f"{self.base_url}/products")).get("products", [])
        }
        guide = await self.http.json("GET", f"{self.base_url}/priceguide")
        result.pages = 3
        observed = datetime.fromisoformat(str(guide.get("createdAt", date.today().isoformat()))[:10]).date()
        for row in guide.get("priceGuides") or []:
            product = products.get(row.get("idProduct"))
            card_id, reason = self._card(catalog, product, expansions)
            if card_id is None:
                result.unmatched.append(
                    {"source": "cardmarket", "reason": reason, "payload": {"guide": row, "product": product}}
                )
                continue
            finishes = catalog.finishes[card_id]
            main = next((f for f in ("normal", "holofoil", "first_edition_holofoil") if f in finishes), None)
            for key, field_name in FIELDS.items():
                finish = "reverse_holofoil" if key.endswith("-holo") else main
                value = row.get(key)
                if value is None or finish is None or finish not in finishes:
                    continue
                result.aggregates.append(
                    {
                        "printing_id": catalog.printing(card_id, finish),
                        "source": "cardmarket",
                        "field": field_name,
                        "observed_at": observed,
                        "value": float(value),
                        "currency": "EUR",
                    }
                )

        return result

    @staticmethod
    def _card(
        catalog: CatalogIndex, product: dict[str, Any] | None, expansions: dict[Any, dict[str, Any]]
    ) -> tuple[str | None, str]:
        if product is None:
            return None, "price guide row for an unknown product"
        expansion = expansions.get(product.get("idExpansion")) or {}
        sets = catalog.set_ids(expansion.get("abbreviation"), expansion.get("enName"))
        if not sets:
            return None, f"unknown expansion {expansion.get('enName') or product.get('idExpansion')!r}"
        cards = (
            catalog.by_set_number(sets, str(product["number"]))
            if product.get("number")
            else catalog.by_set_name(sets, str(product.get("name", "")))
        )
        if len(cards) != 1:
            found = ", ".join(c.id for c in cards) or "none"
            return None, f"{product.get('name')!r} in {expansion.get('enName')!r}: {found}"
        return cards[0].id, ""
