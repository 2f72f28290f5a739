"""Request counters shared by every web process: the throttles' and the admin login lockout's.

A sliding log per key: the times of the hits within the window. Recording a hit checks the count and adds the
hit in one atomic step, so processes racing on a key never let more than `limit` hits through a window (DRF's
own throttle reads the cache, then writes it back: two processes both read 599 and both let a request in).

- `SQLiteHits`, the embedded default: a table in its own SQLite file under var/ (WAL, so readers never wait),
  one `BEGIN IMMEDIATE` transaction per hit, which SQLite serialises across processes.
- `RedisHits`, when DEPOT_CACHE_URL names a Redis server: a sorted set per key, checked and added by one Lua
  script (Redis runs a script atomically).
"""

import random
import sqlite3
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Protocol

KEY_PREFIX = "depot:hits:"


class Hits(Protocol):
    def hit(self, key: str, *, limit: int, window: float) -> float | None:
        """Record a hit unless `limit` hits are already in the last `window` seconds: None when recorded,
        else the seconds until the oldest hit leaves the window (nothing is recorded then)."""

    def count(self, key: str, *, window: float) -> tuple[int, float]:
        """(hits in the last `window` seconds, seconds until the oldest of them leaves it)."""

    def clear(self, key: str | None = None) -> int:
        """Forget one key's hits, or every key's; how many hits were forgotten."""


class SQLiteHits:
    # One connection per thread: sqlite3 connections must not be shared between threads.
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=20, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")  # counters, not records: a crash may lose a few
            connection.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL)")
            connection.execute("CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)")
            self._local.connection = connection
        return connection

    def hit(self, key: str, *, limit: int, window: float) -> float | None:
        now = time.time()
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM hits WHERE key = ? AND at <= ?", (key, now - window))
            count, oldest = db.execute("SELECT COUNT(*), MIN(at) FROM hits WHERE key = ?", (key,)).fetchone()
            if count >= limit:
                return max(0.0, oldest + window - now)
            db.execute("INSERT INTO hits (key, at) VALUES (?, ?)", (key, now))
            if random.random() < 0.001:  # keys nobody hits any more: forget them once in a while
                db.execute("DELETE FROM hits WHERE at <= ?", (now - 86_400,))
            return None
        finally:
            db.execute("COMMIT")

    def count(self, key: str, *, window: float) -> tuple[int, float]:
        now = time.time()
        count, oldest = (
            self._connection()
            .execute("SELECT COUNT(*), MIN(at) FROM hits WHERE key = ? AND at > ?", (key, now - window))
            .fetchone()
        )
        return count, max(0.0, oldest + window - now) if count else 0.0

    def clear(self, key: str | None = None) -> int:
        db = self._connection()
        if key is None:
            return db.execute("DELETE FROM hits").rowcount
        return db.execute("DELETE FROM hits WHERE key = ?", (key,)).rowcount


# KEYS[1]: the key; ARGV: now, window, limit, a unique member. Returns -1 when recorded, else the wait in ms.
_REDIS_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  return math.ceil((oldest + ARGV[2] - ARGV[1]) * 1000)
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000))
return -1
"""


class RedisHits:
    def __init__(self, url: str):
        import redis

        self.redis = redis.Redis.from_url(url)
        self._hit = self.redis.register_script(_REDIS_HIT)

    def hit(self, key: str, *, limit: int, window: float) -> float | None:
        now = time.time()
        member = f"{now}:{random.random()}"
        wait_ms = self._hit(keys=[KEY_PREFIX + key], args=[now, window, limit, member])
        return None if wait_ms < 0 else wait_ms / 1000

    def count(self, key: str, *, window: float) -> tuple[int, float]:
        now = time.time()
        hits = self.redis.zrangebyscore(KEY_PREFIX + key, now - window, "+inf", withscores=True)
        return len(hits), max(0.0, hits[0][1] + window - now) if hits else 0.0

    def clear(self, key: str | None = None) -> int:
        if key is not None:
            return int(self.redis.delete(KEY_PREFIX + key))
        keys = list(self.redis.scan_iter(match=KEY_PREFIX + "*"))
        return int(self.redis.delete(*keys)) if keys else 0


@lru_cache(maxsize=4)
def hits_for(url: str) -> Hits:
    """The store a URL names: `sqlite:///path/to/file` or `redis://...`."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHits(url)
    if url.startswith("sqlite:///"):
        return SQLiteHits(Path(url.removeprefix("sqlite:///")))
    raise ValueError(f"not a hit store URL (sqlite:///path or redis://...): {url!r}")


def hits() -> Hits:
    """The store this process's settings name (settings.HITS_URL)."""
    from django.conf import settings

    return hits_for(settings.HITS_URL)
