"""TCGplayer pricing API: catalog products (paged) and their prices, per printing.

Endpoints (TCGplayer API v1.39 shapes): ``POST /token`` (client credentials),
``GET /catalog/groups?categoryId=&offset=&limit=``, ``GET /catalog/products?categoryId=&groupId=
&getExtendedFields=true&offset=&limit=`` and ``GET /pricing/product/{ids}`` (up to 100 ids).
Products map onto printings by their product id (Flesh and Blood printings carry it) or by
group (set name or abbreviation) and the ``Number`` extended field; ``subTypeName`` is the finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from serve_app.feeds.catalog_index import CatalogIndex
from serve_app.feeds.http import FeedError, FeedHttp
from serve_app.feeds.result import FeedResult

SUBTYPES = {
    "normal": "normal",
    "holofoil": "holofoil",
    "reverse holofoil": "reverse_holofoil",
    "1st edition holofoil": "first_edition_holofoil",
    "1st edition normal": "first_edition_normal",
    "unlimited holofoil": "holofoil",
    "foil": "rainbow_foil",
    "rainbow foil": "rainbow_foil",
    "cold foil": "cold_foil",
    "gold foil": "gold_foil",
}
FIELDS = {"marketPrice": "market", "lowPrice": "low", "midPrice": "mid", "highPrice": "high"}
PAGE = 100


@dataclass
class TCGplayerFeed:
    http: FeedHttp
    base_url: str
    client_id: str
    client_secret: str
    category_id: int

    async def _token(self) -> dict[str, str]:
        body = await self.http.json(
            "POST",
            f"{self.base_url}/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
        )
        return {"Authorization": f"bearer {body['access_token']}"}

    async def _paged(self, path: str, params: dict[str, Any], headers: dict[str, str], result: FeedResult) -> list[Any]:
        items: list[Any] = []
        offset = 0
        while True:
            page = await self.http.json(
                "GET", f"{self.base_url}{path}", headers=headers, params={**params, "offset": offset, "limit": PAGE}
            )
            result.pages += 1
            results = page.get("results") or []
            items.extend(results)
            offset += len(results)
            if offset >= int(page.get("totalItems", 0)) or not page.get("results"):
                return items

    async def fetch(self, catalog: CatalogIndex, *, observed_at: date) -> FeedResult:
        result = FeedResult()
        headers = await self._token()
        groups = {
            g["groupId"]: g
            for g in await self._paged("/catalog/groups", {"categoryId": self.category_id}, headers, result)
        }
        products = await self._paged(
            "/catalog/products", {"categoryId": self.category_id, "getExtendedFields": "true"}, headers, result
        )
        by_id = {str(p["productId"]): p for p in products}
        ids = list(by_id)
        for start in range(0, len(ids), PAGE):
            batch = ids[start : start + PAGE]
            try:
                prices = await self.http.json(
                    "GET", f"{self.base_url}/pricing/product/{','.join(batch)}", headers=headers
                )
            except FeedError as exc:  # a failed batch is reported; the others still count
                result.errors.append(str(exc))
                continue
            for row in prices.get("results") or []:
                product = by_id.get(str(row["productId"]), {"productId": row["productId"]})
                self._map(catalog, product, groups.get(product.get("groupId")), row, observed_at, result)
        return result

    def _map(
        self,
        catalog: CatalogIndex,
        product: dict[str, Any],
        group: dict[str, Any] | None,
        row: dict[str, Any],
        observed_at: date,
        result: FeedResult,
    ) -> None:
        finish = SUBTYPES.get(str(row.get("subTypeName", "")).strip().lower())
        printing_id = None
        reason = ""
        if finish is None:
            reason = f"unknown subTypeName {row.get('subTypeName')!r}"
        else:
            for p in catalog.by_product.get(str(product["productId"]), []):
                if p.finish == finish:
                    printing_id = p.id
            if printing_id is None:
                number = next((e["value"] for e in product.get("extendedData") or [] if e.get("name") == "Number"), "")
                group = group or {}
                sets = catalog.set_ids(group.get("abbreviation"), group.get("name"))
                cards = catalog.by_set_number(sets, number) if sets and number else []
                if len(cards) == 1:
                    printing_id = catalog.printing(cards[0].id, finish)
                    reason = "" if printing_id else f"{cards[0].id} has no {finish} printing"
                else:
                    reason = f"no catalog card for {group.get('name')!r} #{number or '?'}"
        if printing_id is None:
            result.unmatched.append(
                {"source": "tcgplayer", "reason": reason, "payload": {"product": product, "price": row}}
            )
            return
        for key, name in FIELDS.items():
            if row.get(key) is not None:
                result.aggregates.append(
                    {
                        "printing_id": printing_id,
                        "source": "tcgplayer",
                        "field": name,
                        "observed_at": observed_at,
                        "value": float(row[key]),
                        "currency": "USD",
                    }
                )
