"""Token-bucket rate limiting: atomic in Redis (one Lua script) or in process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True)
class Bucket:
    capacity: int
    refill_per_s: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: float
    retry_after_s: float


class RateLimiter(Protocol):
    async def hit(self, key: str, bucket: Bucket, cost: float = 1.0) -> Decision: ...


def _take(tokens: float, last: float, now: float, bucket: Bucket, cost: float) -> tuple[float, Decision]:
    tokens = min(bucket.capacity, tokens + (now - last) * bucket.refill_per_s)
    if tokens >= cost:
        return tokens - cost, Decision(True, tokens - cost, 0.0)
    return tokens, Decision(False, tokens, (cost - tokens) / bucket.refill_per_s)


class MemoryRateLimiter:
    def __init__(self, max_keys: int = 200_000) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, bucket: Bucket, cost: float = 1.0) -> Decision:
        now = time.monotonic()
        tokens, last = self._state.get(key, (float(bucket.capacity), now))
        tokens, decision = _take(tokens, last, now, bucket, cost)
        if len(self._state) >= self._max_keys and key not in self._state:
            self._state.pop(next(iter(self._state)))  # forget the oldest bucket
        self._state[key] = (tokens, now)
        return decision


# KEYS[1] bucket; ARGV: capacity, refill/s, cost. Uses the server clock so replicas agree.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(retry)}
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, namespace: str = "cv:rl:") -> None:
        self._script = redis.register_script(_LUA)
        self._ns = namespace

    async def hit(self, key: str, bucket: Bucket, cost: float = 1.0) -> Decision:
        allowed, tokens, retry = await self._script(
            keys=[self._ns + key], args=[bucket.capacity, bucket.refill_per_s, cost]
        )
        return Decision(bool(int(allowed)), float(tokens), float(retry))
