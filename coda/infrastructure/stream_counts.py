"""Answers streaming at once, counted so that every one is given back, even by a dead instance.

`limits` counts events in windows of time; answers at once are a different count (one up when an
answer starts, one down when it ends, whenever that is), which it does not offer. So: in this
process, a counter under a lock; shared between instances, a Redis sorted set of leases, each
expiring on its own (after the longest an answer can last), so the streams of an instance that was
killed mid-answer free themselves instead of holding a user's place forever.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Protocol, cast

import redis

# Atomically: drop expired leases, refuse at the limit, else add one. Redis's own clock, so the
# instances' clocks never have to agree. KEYS[1] the set; ARGV limit, lease seconds, lease id.
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""


class StreamCounts(Protocol):
    def acquire(self, key: str, limit: int) -> str | None:
        """A lease on one of `limit` places for `key`, or None when all are taken."""

    def release(self, key: str, lease: str) -> None:
        """Give the place back; releasing twice is harmless."""


class LocalStreamCounts:
    """Counted in this process: the cap per instance, and per user when nothing is shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, set[str]] = {}

    def acquire(self, key: str, limit: int) -> str | None:
        with self._lock:
            held = self._leases.setdefault(key, set())
            if len(held) >= limit:
                return None
            lease = uuid.uuid4().hex
            held.add(lease)
            return lease

    def release(self, key: str, lease: str) -> None:
        with self._lock:
            held = self._leases.get(key)
            if held is not None:
                held.discard(lease)
                if not held:
                    del self._leases[key]

    def counts(self) -> Counter[str]:
        """How many places each key holds now (for tests and logs)."""
        with self._lock:
            return Counter({key: len(held) for key, held in self._leases.items()})


class RedisStreamCounts:
    """Counted in Redis, shared by every instance pointed at it."""

    PREFIX = "coda:streams:"

    def __init__(self, url: str, *, lease_seconds: float, timeout: float = 2.0) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._lease_seconds = lease_seconds

    def acquire(self, key: str, limit: int) -> str | None:
        lease = uuid.uuid4().hex
        granted = self._acquire(keys=[self.PREFIX + key], args=[limit, self._lease_seconds, lease])
        return lease if int(cast(int, granted)) == 1 else None

    def release(self, key: str, lease: str) -> None:
        self._redis.zrem(self.PREFIX + key, lease)
