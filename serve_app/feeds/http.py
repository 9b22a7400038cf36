"""HTTP for feeds: retries with backoff, honouring 429 ``Retry-After``, and per-request errors."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = {429, 500, 502, 503, 504}


class FeedError(Exception):
    """A request that still failed after its retries."""


@dataclass
class FeedHttp:
    client: httpx.AsyncClient
    max_attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 30.0
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.max_attempts:
                    raise FeedError(f"{method} {url}: {exc}") from exc
                await self._sleep(attempt, None)
                continue
            if response.status_code not in RETRY_STATUSES:
                if response.is_error:
                    raise FeedError(f"{method} {url}: HTTP {response.status_code} {response.text[:200]}")
                return response
            if attempt == self.max_attempts:
                raise FeedError(f"{method} {url}: HTTP {response.status_code} after {attempt} attempts")
            self.retries += 1
            await self._sleep(attempt, response.headers.get("retry-after"))
        raise AssertionError("unreachable")

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        return (await self.request(method, url, **kwargs)).json()

    async def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if retry_after is not None:
            try:
                delay = float(retry_after)
            except ValueError:
                delay = self.base_delay_s
        else:  # exponential backoff with full jitter
            delay = random.uniform(0, self.base_delay_s * 2 ** (attempt - 1))
        await asyncio.sleep(min(delay, self.max_delay_s))
