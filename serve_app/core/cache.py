"""Key-value cache with TTLs: Redis when configured, an in-process dict otherwise."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from redis.asyncio import Redis


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def pop(self, key: str) -> bytes | None:
        """Get and delete atomically (one-time values such as OAuth state)."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """In-process cache for the embedded default (one process, no servers)."""

    def __init__(self, max_items: int = 100_000) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self._max_items = max_items
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._items[key]
            return None
        return item[1]

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(self._items) >= self._max_items:
            now = time.monotonic()
            for k in [k for k, (exp, _) in self._items.items() if exp < now]:
                del self._items[k]
            while len(self._items) >= self._max_items:
                del self._items[next(iter(self._items))]
        self._items[key] = (time.monotonic() + ttl_s, value)

    async def pop(self, key: str) -> bytes | None:
        value = self._live(key)
        self._items.pop(key, None)
        return value

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._items.pop(key, None)

    async def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self._items if k.startswith(prefix)]:
            del self._items[key]

    async def close(self) -> None:
        self._items.clear()


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class RedisCache:
    def __init__(self, redis: Redis, namespace: str = "cv:") -> None:
        self._redis = redis
        self._ns = namespace

    async def get(self, key: str) -> bytes | None:
        return _as_bytes(await self._redis.get(self._ns + key))

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(self._ns + key, value, px=max(1, int(ttl_s * 1000)))

    async def pop(self, key: str) -> bytes | None:
        return _as_bytes(await self._redis.getdel(self._ns + key))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._ns + k for k in keys))

    async def delete_prefix(self, prefix: str) -> None:
        batch: list[str] = []
        async for key in self._redis.scan_iter(match=f"{self._ns}{prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await self._redis.delete(*batch)
                batch.clear()
        if batch:
            await self._redis.delete(*batch)

    async def close(self) -> None:
        await self._redis.aclose()
