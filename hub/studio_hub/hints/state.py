"""Where the hints service keeps what changes: rate-limit counters, each student's place on an exercise's ladder,
cached hints, and the queue of learning events for the portal.

Two backends with one interface: ``LocalState`` (the embedded default, one service process: counters and cache
in memory, events and the hint log in a SQLite file) and ``RedisState`` (production: everything in Redis, shared
and kept across restarts; events in a Redis stream the portal reads).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

EVENTS_STREAM = "studio:events"
LOG_KEEP = 10_000  # hint-log entries kept per course


class State:
    async def hit(self, key: str, window: float) -> int:
        """Count one more use of ``key`` in the current window of ``window`` seconds; the count so far."""
        raise NotImplementedError

    async def add(self, key: str, amount: int, window: float) -> int:
        """Add ``amount`` to ``key``'s total in the current window of ``window`` seconds; the total so far."""
        raise NotImplementedError

    async def get(self, key: str) -> Any:
        raise NotImplementedError

    async def put(self, key: str, value: Any, ttl: float) -> None:
        raise NotImplementedError

    async def push_events(self, events: list[dict]) -> None:
        raise NotImplementedError

    async def read_events(self, after: str = "0", count: int = 100) -> list[tuple[str, dict]]:
        """Events queued after the id ``after``, oldest first, as (id, event)."""
        raise NotImplementedError

    async def log_hint(self, course: str, entry: dict) -> None:
        raise NotImplementedError

    async def hint_log(self, course: str, limit: int = 1000) -> list[dict]:
        """The course's latest hints shown, newest first."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


class LocalState(State):
    def __init__(self, path: Path | str = ":memory:", *, max_keys: int = 100_000, max_events: int = 1_000_000):
        self.values: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.max_keys = max_keys
        self.max_events = max_events
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS hint_log (id INTEGER PRIMARY KEY AUTOINCREMENT, course TEXT, body TEXT)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS hint_log_course ON hint_log (course, id)")
        self.queue = self._queue_name()

    def _queue_name(self) -> str:
        """This queue's name, part of each event's id (``<name>.<n>``): the portal keeps an event once by its id, so
        the ids of a queue started again (its file lost or replaced) must not be those of the events it already
        has, which it would drop as seen. A queue made before names were kept has none: its ids stay plain numbers,
        so that its events are not sent again as new ones."""
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT value FROM meta WHERE key = 'queue'").fetchone()
            if row is None:
                had_events = self.db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'events'").fetchone()
                row = ("" if had_events else secrets.token_hex(6),)
                self.db.execute("INSERT INTO meta (key, value) VALUES ('queue', ?)", row)
        return row[0]

    def _live(self, key: str) -> Any:
        item = self.values.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            del self.values[key]
            return None
        self.values.move_to_end(key)
        return value

    def _set(self, key: str, value: Any, ttl: float) -> None:
        self.values[key] = (time.monotonic() + ttl, value)
        self.values.move_to_end(key)
        while len(self.values) > self.max_keys:
            self.values.popitem(last=False)

    async def hit(self, key: str, window: float) -> int:
        return await self.add(key, 1, window)

    async def add(self, key: str, amount: int, window: float) -> int:
        bucket = f"{key}:{int(time.time() // window)}"
        total = (self._live(bucket) or 0) + amount
        self._set(bucket, total, window)
        return total

    async def get(self, key: str) -> Any:
        return self._live(key)

    async def put(self, key: str, value: Any, ttl: float) -> None:
        self._set(key, value, ttl)

    async def push_events(self, events: list[dict]) -> None:
        with self.db:
            self.db.executemany("INSERT INTO events (body) VALUES (?)", [(json.dumps(e),) for e in events])
            self.db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (self.max_events,))

    async def read_events(self, after: str = "0", count: int = 100) -> list[tuple[str, dict]]:
        prefix = f"{self.queue}." if self.queue else ""
        mine = str(after).startswith(prefix) and str(after)[len(prefix) :].isdigit()
        last = int(str(after)[len(prefix) :]) if mine else 0  # another queue's cursor: from the start of this one
        rows = self.db.execute("SELECT id, body FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, count))
        return [(f"{prefix}{i}", json.loads(body)) for i, body in rows]

    async def log_hint(self, course: str, entry: dict) -> None:
        with self.db:
            self.db.execute("INSERT INTO hint_log (course, body) VALUES (?, ?)", (course, json.dumps(entry)))

    async def hint_log(self, course: str, limit: int = 1000) -> list[dict]:
        rows = self.db.execute(
            "SELECT body FROM hint_log WHERE course = ? ORDER BY id DESC LIMIT ?", (course, min(limit, LOG_KEEP))
        )
        return [json.loads(body) for (body,) in rows]

    async def close(self) -> None:
        self.db.close()


class RedisState(State):
    def __init__(self, url: str, *, prefix: str = "studio:hints:", max_events: int = 1_000_000):
        import redis.asyncio as redis

        self.redis = redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self.max_events = max_events

    async def hit(self, key: str, window: float) -> int:
        return await self.add(key, 1, window)

    async def add(self, key: str, amount: int, window: float) -> int:
        bucket = f"{self.prefix}count:{key}:{int(time.time() // window)}"
        async with self.redis.pipeline(transaction=True) as pipe:
            total, _ = await pipe.incrby(bucket, amount).expire(bucket, int(window) + 1).execute()
        return int(total)

    async def get(self, key: str) -> Any:
        raw = await self.redis.get(self.prefix + key)
        return None if raw is None else json.loads(raw)

    async def put(self, key: str, value: Any, ttl: float) -> None:
        await self.redis.set(self.prefix + key, json.dumps(value), ex=max(1, int(ttl)))

    async def push_events(self, events: list[dict]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(EVENTS_STREAM, {"event": json.dumps(event)}, maxlen=self.max_events, approximate=True)
            await pipe.execute()

    async def read_events(self, after: str = "0", count: int = 100) -> list[tuple[str, dict]]:
        rows = await self.redis.xrange(EVENTS_STREAM, min=f"({after}" if after != "0" else "-", count=count)
        return [(i, json.loads(fields["event"])) for i, fields in rows]

    async def log_hint(self, course: str, entry: dict) -> None:
        key = f"{self.prefix}log:{course}"
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.lpush(key, json.dumps(entry)).ltrim(key, 0, LOG_KEEP - 1).execute()

    async def hint_log(self, course: str, limit: int = 1000) -> list[dict]:
        rows = await self.redis.lrange(f"{self.prefix}log:{course}", 0, min(limit, LOG_KEEP) - 1)
        return [json.loads(row) for row in rows]

    async def close(self) -> None:
        await self.redis.aclose()


def make_state(url: str, data_dir: Path | None = None) -> State:
    """``""``: in this process, events and the hint log in ``data_dir/hints.sqlite``; ``redis://...``: that Redis."""
    if not url:
        if data_dir is None:
            return LocalState()
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        return LocalState(Path(data_dir) / "hints.sqlite")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisState(url)
    raise ValueError(f"the hints service's state must be in Redis (redis://...) or in-process (empty), not {url!r}")
