"""Local stand-ins for TCGplayer, eBay and CardMarket, answering in the services' documented
response shapes, with server-side paging, a 429 on the first call of an endpoint and a pricing
batch that always fails (partial failure)."""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Flaky:
    """Answers 429 (Retry-After: 0) to the first call of each named endpoint."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def first_is_429(self, name: str) -> Response | None:
        self.calls[name] += 1
        if self.calls[name] == 1:
            return JSONResponse({"errors": ["rate limited"]}, status_code=429, headers={"Retry-After": "0"})
        return None


def tcgplayer_app(*, failing_product: int) -> tuple[Starlette, Flaky]:
    flaky = Flaky()
    groups = [
        {"groupId": 3170, "name": "SV02: Paldea Evolved", "abbreviation": "PAL"},
        {"groupId": 604, "name": "Base Set", "abbreviation": "BS"},
        {"groupId": 9001, "name": "Part the Mistveil", "abbreviation": "MST"},
    ]
    products: list[dict[str, Any]] = []
    for n in range(1, 194):
        products.append(
            {
                "productId": 500_000 + n,
                "name": f"card {n}",
                "groupId": 3170,
                "extendedData": [{"name": "Number", "value": f"{n:03d}/193"}],
            }
        )
    for n in range(1, 103):
        products.append(
            {
                "productId": 600_000 + n,
                "name": f"base {n}",
                "groupId": 604,
                "extendedData": [{"name": "Number", "value": f"{n}/102"}],
            }
        )
    products.append(
        {
            "productId": 599_999,
            "name": "Unknown",
            "groupId": 3170,
            "extendedData": [{"name": "Number", "value": "999/193"}],
        }
    )
    products.append({"productId": 551703, "name": "10,000 Year Reunion", "groupId": 9001, "extendedData": []})

    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("client_id") != "tcg-id" or form.get("client_secret") != "tcg-secret":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse({"access_token": "tcg-token", "token_type": "bearer", "expires_in": 1209600})

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == "bearer tcg-token"

    def paged(items: list[Any], request: Request) -> Response:
        offset, limit = int(request.query_params["offset"]), min(int(request.query_params["limit"]), 100)
        return JSONResponse(
            {"success": True, "errors": [], "totalItems": len(items), "results": items[offset : offset + limit]}
        )

    async def list_groups(request: Request) -> Response:
        return paged(groups, request) if authorized(request) else Response(status_code=401)

    async def list_products(request: Request) -> Response:
        if not authorized(request):
            return Response(status_code=401)
        return flaky.first_is_429("products") or paged(products, request)

    async def pricing(request: Request) -> Response:
        ids = [int(i) for i in request.path_params["ids"].split(",")]
        if failing_product in ids:
            return JSONResponse({"success": False, "errors": ["internal"]}, status_code=500)
        results = []
        for pid in ids:
            if pid == 551703:
                subtypes = {"Normal": 3.0, "Rainbow Foil": 40.0}
            elif pid == 600_004:
                subtypes = {"Holofoil": 420.0}
            elif pid >= 600_000:
                subtypes = {"Normal": 1.0}
            else:
                subtypes = {"Normal": 0.10, "Reverse Holofoil": 0.35}
            for subtype, market in subtypes.items():
                results.append(
                    {
                        "productId": pid,
                        "lowPrice": market * 0.8,
                        "midPrice": market,
                        "highPrice": market * 2,
                        "marketPrice": market,
                        "directLowPrice": None,
                        "subTypeName": subtype,
                    }
                )
        return JSONResponse({"success": True, "errors": [], "results": results})

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/catalog/groups", list_groups),
            Route("/catalog/products", list_products),
            Route("/pricing/product/{ids}", pricing),
        ]
    ), flaky


EBAY_ITEMS = [
    {
        "itemId": "v1|1001|0",
        "title": "Charizard 4/102 Base Set Holo Rare WOTC 1999",
        "lastSoldDate": "2024-07-28T10:00:00.000Z",
        "lastSoldPrice": {"value": "350.00", "currency": "USD"},
        "condition": "Lightly played (Excellent)",
    },
    {
        "itemId": "v1|1002|0",
        "title": "Sprigatito 012/193 Reverse Holo Paldea Evolved",
        "lastSoldDate": "2024-07-29T10:00:00.000Z",
        "lastSoldPrice": {"value": "0.45", "currency": "USD"},
        "condition": "Near mint or better",
    },
    {
        "itemId": "v1|1003|0",
        "title": "PSA 10 Sprigatito 012/193 Paldea Evolved GEM MINT",
        "lastSoldDate": "2024-07-30T10:00:00.000Z",
        "lastSoldPrice": {"value": "40.00", "currency": "GBP"},
        "condition": "Graded",
    },
    {
        "itemId": "v1|1004|0",
        "title": "Pokemon cards bulk lot 100x commons",
        "lastSoldDate": "2024-07-30T10:00:00.000Z",
        "lastSoldPrice": {"value": "9.99", "currency": "USD"},
        "condition": "Used",
    },
    {
        "itemId": "v1|1001|0",
        "title": "Charizard 4/102 Base Set Holo Rare WOTC 1999",
        "lastSoldDate": "2024-07-28T10:00:00.000Z",
        "lastSoldPrice": {"value": "350.00", "currency": "USD"},
        "condition": "Lightly played (Excellent)",
    },
]


def ebay_app() -> tuple[Starlette, Flaky]:
    flaky = Flaky()

    async def token(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(b"ebay-id:ebay-secret").decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(
            {"access_token": "ebay-token", "expires_in": 7200, "token_type": "Application Access Token"}
        )

    async def search(request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer ebay-token":
            return Response(status_code=401)
        if (limited := flaky.first_is_429("search")) is not None:
            return limited
        offset, limit = int(request.query_params["offset"]), min(int(request.query_params["limit"]), 2)
        page = EBAY_ITEMS[offset : offset + limit]
        body: dict[str, Any] = {"total": len(EBAY_ITEMS), "offset": offset, "limit": limit, "itemSales": page}
        if offset + limit < len(EBAY_ITEMS):
            body["next"] = f"{request.url.path}?offset={offset + limit}&limit={limit}"
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route("/identity/v1/oauth2/token", token, methods=["POST"]),
            Route("/buy/marketplace_insights/v1_beta/item_sales/search", search),
        ]
    ), flaky


def cardmarket_app() -> tuple[Starlette, Flaky]:
    flaky = Flaky()
    expansions = [
        {"idExpansion": 5250, "enName": "Paldea Evolved", "abbreviation": "PAL"},
        {"idExpansion": 1, "enName": "Base Set", "abbreviation": "BS"},
    ]
    products = [
        {"idProduct": 700012, "name": "Sprigatito", "idExpansion": 5250, "number": "012"},
        {"idProduct": 270001, "name": "Charizard", "idExpansion": 1},
        {"idProduct": 270002, "name": "Missingno", "idExpansion": 1},
        {"idProduct": 800000, "name": "Anything", "idExpansion": 9999},
    ]
    guide = {
        "version": 1,
        "createdAt": "2024-08-03T02:00:00+0200",
        "priceGuides": [
            {
                "idProduct": 700012,
                "avg": 0.21,
                "low": 0.02,
                "trend": 0.20,
                "avg30": 0.22,
                "trend-holo": 0.60,
                "avg30-holo": 0.58,
            },
            {"idProduct": 270001, "avg": 310.0, "low": 150.0, "trend": 300.0, "avg30": 305.0, "trend-holo": None},
            {"idProduct": 270002, "trend": 1.0},
            {"idProduct": 800000, "trend": 2.0},
            {"idProduct": 42, "trend": 3.0},
        ],
    }

    async def priceguide(request: Request) -> Response:
        return flaky.first_is_429("priceguide") or JSONResponse(guide)

    async def list_products(request: Request) -> Response:
        return JSONResponse({"version": 1, "products": products})

    async def list_expansions(request: Request) -> Response:
        return JSONResponse({"version": 1, "expansions": expansions})

    return Starlette(
        routes=[
            Route("/priceguide", priceguide),
            Route("/products", list_products),
            Route("/expansions", list_expansions),
        ]
    ), flaky
