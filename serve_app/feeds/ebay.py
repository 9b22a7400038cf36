"""eBay sold items (Marketplace Insights API ``item_sales/search``), matched from listing titles.

Endpoints: ``POST /identity/v1/oauth2/token`` (client credentials) and
``GET /buy/marketplace_insights/v1_beta/item_sales/search?q=&category_ids=&limit=&offset=``,
answering ``{"itemSales": [...], "total", "offset", "limit", "next"}``. A title is matched by its
printed collector line and the card name in it (``Charizard 4/102 Base Set Holo``); the finish,
first edition and graded slabs (``PSA 10``) are read from the title, the condition from eBay's
condition descriptor. Titles that do not name exactly one card go to the review queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from serve_app.feeds.catalog_index import CatalogIndex
from serve_app.feeds.http import FeedHttp
from serve_app.feeds.result import FeedResult

TRADING_CARD_SINGLES = "183454"
PAGE = 200
_GRADED = re.compile(r"\b(PSA|BGS|CGC|TAG)\s*(10|[1-9](?:\.5)?)\b", re.IGNORECASE)
CONDITIONS = {
    "near mint or better": "NM",
    "lightly played (excellent)": "LP",
    "moderately played (very good)": "MP",
    "heavily played (poor)": "HP",
    "damaged": "DMG",
    "new": "NM",
    "ungraded": "NM",
}


def finish_from_title(title: str, finishes: set[str]) -> str | None:
    text = title.lower()
    if "reverse" in text:
        wanted = "reverse_holofoil"
    elif "1st edition" in text or "1st ed" in text:
        wanted = "first_edition_holofoil" if "holo" in text else "first_edition_normal"
    elif "holo" in text or "foil" in text:
        wanted = "holofoil" if "holofoil" in finishes else next((f for f in finishes if "foil" in f), "holofoil")
    else:  # no finish word: the card's only printing, or its normal one
        wanted = next(iter(finishes)) if len(finishes) == 1 else "normal"
    return wanted if wanted in finishes else None


@dataclass
class EbaySoldFeed:
    http: FeedHttp
    base_url: str
    client_id: str
    client_secret: str

    async def _token(self) -> dict[str, str]:
        body = await self.http.json(
            "POST",
            f"{self.base_url}/identity/v1/oauth2/token",
            auth=(self.client_id, self.client_secret),
            data={
                "grant_type": "client_credentials",
                "scope": "https://api.ebay.com/oauth/api_scope/buy.marketplace.insights",
            },
        )
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def fetch(self, catalog: CatalogIndex, *, query: str, max_pages: int = 50) -> FeedResult:
        result = FeedResult()
        headers = await self._token()
        offset = 0
        for _ in range(max_pages):
            page = await self.http.json(
                "GET",
                f"{self.base_url}/buy/marketplace_insights/v1_beta/item_sales/search",
                headers=headers,
                params={"q": query, "category_ids": TRADING_CARD_SINGLES, "limit": PAGE, "offset": offset},
            )
            result.pages += 1
            for item in page.get("itemSales") or []:
                self._map(catalog, item, result)
            # the server may cap the page size below what was asked: advance by what it says it used
            offset = int(page.get("offset", offset)) + int(page.get("limit", PAGE))
            if not page.get("next") or offset >= int(page.get("total", 0)):
                break
        return result

    def _map(self, catalog: CatalogIndex, item: dict[str, Any], result: FeedResult) -> None:
        title = str(item.get("title", ""))
        cards = catalog.from_title(title)
        if len(cards) != 1:
            reason = "ambiguous title: " + ", ".join(c.id for c in cards) if cards else "no card named in title"
            result.unmatched.append({"source": "ebay", "reason": reason, "payload": item})
            return
        card = cards[0]
        finish = finish_from_title(title, catalog.finishes[card.id])
        if finish is None:
            result.unmatched.append(
                {
                    "source": "ebay",
                    "payload": item,
                    "reason": f"finish in title not among {sorted(catalog.finishes[card.id])}",
                }
            )
            return
        graded = _GRADED.search(title)
        price = item.get("lastSoldPrice") or {}
        result.sales.append(
            {
                "card_id": card.id,
                "finish": finish,
                "price": price.get("value"),
                "currency": price.get("currency"),
                "sold_at": item.get("lastSoldDate"),
                "source": "ebay",
                "listing_id": str(item.get("itemId")),
                "condition": CONDITIONS.get(str(item.get("condition", "")).strip().lower(), "NM"),
                "graded_company": graded[1].upper() if graded else None,
                "grade": graded[2] if graded else None,
            }
        )
