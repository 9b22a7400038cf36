"""Live events for WebSocket clients: Redis pub/sub across replicas, or in process.

Channels: ``user:{id}`` for one user's events (inventory changes, later scan progress) and
``global`` for everyone (a revaluation landed). Events are small JSON objects with a ``type``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

from redis.asyncio import Redis


class EventBus(Protocol):
    async def publish(self, channel: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, *channels: str) -> AsyncIterator[dict[str, Any]]: ...


class MemoryEventBus:
    def __init__(self, queue_size: int = 256) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._queue_size = queue_size

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            if queue.full():  # a slow client loses its oldest event rather than blocking everyone
                queue.get_nowait()
            queue.put_nowait(event)

    async def subscribe(self, *channels: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        for channel in channels:
            self._subscribers[channel].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            for channel in channels:
                self._subscribers[channel].discard(queue)


class RedisEventBus:
    def __init__(self, redis: Redis, namespace: str = "cv:events:") -> None:
        self._redis = redis
        self._ns = namespace

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        await self._redis.publish(self._ns + channel, json.dumps(event))

    async def subscribe(self, *channels: str) -> AsyncIterator[dict[str, Any]]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(*(self._ns + c for c in channels))
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield json.loads(message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
