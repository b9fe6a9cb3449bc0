"""The one shape of every background sender: a durable outbox, and one sender that empties it.

What a part has to tell another (a grade for the portal, a new submission for the grading service, a learner's events
for the hints service) is ``put`` into an outbox: a table in a SQLite file of the sending part's own, written before
``put`` returns, so that a restart loses nothing. One sender task (``run``) takes the oldest messages in batches and
gives them to ``deliver``; what was delivered is deleted. A delivery that fails leaves its batch where it was, and the
sender waits before the next try (``Backoff``: twice as long each time, from ``first_wait`` up to ``max_wait``,
jittered so that senders do not all come back at once after an outage). A receiver that refuses a message for good
(``Refused``: an HTTP 400, 409, 410, 413, 415 or 422) would stop every message behind it: that message is set aside with
the receiver's reason, counted in ``stats()`` for a person to see, and the rest go on.

A message may arrive twice (the sender stopped between delivering and deleting): receivers keep each once, by its key
or id. ``key``: a message put with the key of one still waiting replaces it (a student's latest grade, not each one).
``max_kept``: beyond it the oldest are dropped and counted (a learner's events while the hints service is away).

Our own, in a table and a loop: the maintained libraries that keep durable queues (huey, procrastinate, persist-queue)
each need a worker process or a database server that the embedded default and a learner's container do not have.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("studio.outbox")


class Refused(Exception):
    """The receiver refused what it was given for good: sending it again would not help."""


# What a receiver answers about a message itself (malformed, conflicting, too large): sending it again would not help.
# Any other answer (401/403/404: the sender is misconfigured, which a person fixes; 408, 429, 5xx) is tried again.
REFUSALS = frozenset({400, 409, 410, 413, 415, 422})


def check(resp) -> None:
    """An HTTP answer (httpx): nothing for 2xx; ``Refused`` (with the receiver's words) for one of ``REFUSALS``; an
    exception to try again after for anything else."""
    if 200 <= resp.status_code < 300:
        return
    words = f"HTTP {resp.status_code}: {resp.text[:300]}"
    if resp.status_code in REFUSALS:
        raise Refused(words)
    raise RuntimeError(words)


class Backoff:
    """How long to wait after the n-th failure in a row: ``first * 2**(n-1)``, at most ``most``, between half and all
    of it (jitter)."""

    def __init__(self, first: float = 1.0, most: float = 60.0):
        self.first, self.most, self.failures = first, most, 0

    def failed(self) -> float:
        self.failures += 1
        wait = min(self.most, self.first * 2 ** min(self.failures - 1, 30))
        return random.uniform(wait / 2, wait)

    def reset(self) -> None:
        self.failures = 0


class Outbox:
    def __init__(
        self,
        path: Path | str,
        deliver: Callable[[list[dict]], Awaitable[None]],
        *,
        name: str = "outbox",
        batch: int = 100,
        first_wait: float = 1.0,
        max_wait: float = 60.0,
        max_kept: int = 1_000_000,
    ):
        self.deliver, self.name, self.batch, self.max_kept = deliver, name, max(1, batch), max_kept
        self.backoff = Backoff(first_wait, max_wait)
        self.sent = self.dropped = self.failed = 0
        self.last_error = ""
        self._wake: asyncio.Event | None = None
        self._sending: asyncio.Lock | None = None  # one delivery at a time: the sender's, or a flush's
        self._retry_at = 0.0  # tick(): not before (a failure's backoff)
        if str(path) != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        if str(path) != ":memory:":
            os.chmod(path, 0o600)  # the sender's business only (its journal files take the same mode)
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, "
            "body TEXT NOT NULL, put_at REAL NOT NULL)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS refused (seq INTEGER PRIMARY KEY, key TEXT, body TEXT NOT NULL, "
            "reason TEXT NOT NULL, refused_at REAL NOT NULL)"
        )

    @contextmanager
    def _transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- whoever has something to send ------------------------------------------------------------------------------
    def put(self, body: dict, key: str | None = None) -> None:
        """Keep ``body`` until it is delivered (replacing a waiting message of the same ``key``)."""
        self.put_many([body], [key])

    def put_many(self, bodies: list[dict], keys: list[str | None] | None = None) -> None:
        """``put`` each, in one transaction."""
        now = time.time()
        with self._transaction():
            for body, key in zip(bodies, keys or [None] * len(bodies), strict=True):
                if key is not None:
                    self.db.execute("DELETE FROM outbox WHERE key = ?", (key,))
                self.db.execute("INSERT INTO outbox (key, body, put_at) VALUES (?, ?, ?)", (key, json.dumps(body), now))
            over = self.pending() - self.max_kept
            if over > 0:
                self.db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (over,)
                )
                self.dropped += over
        self.wake()

    def peek(self, limit: int = 1000) -> list[dict]:
        """The messages waiting, oldest first."""
        rows = self.db.execute("SELECT body FROM outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [json.loads(body) for (body,) in rows]

    def wake(self) -> None:
        """Send now, if the sender is only waiting for something to send (not after a failure)."""
        if self._wake is not None:
            self._wake.set()

    def pending(self) -> int:
        return self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def refused(self, limit: int = 100) -> list[dict]:
        """What receivers refused for good, newest first: the message, and why."""
        rows = self.db.execute(
            "SELECT key, body, reason, refused_at FROM refused ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        return [{"key": k, "message": json.loads(b), "reason": r, "refused_at": t} for k, b, r, t in rows]

    def stats(self) -> dict:
        return {
            "pending": self.pending(),
            "sent": self.sent,
            "dropped": self.dropped,
            "refused": self.db.execute("SELECT count(*) FROM refused").fetchone()[0],
            "failures": self.backoff.failures,  # in a row, now
            "failed_deliveries": self.failed,  # since this process started
            "last_error": self.last_error,
        }

    # --- the sender -------------------------------------------------------------------------------------------------
    async def send_once(self) -> int:
        """Deliver the oldest batch; how many messages left the outbox (delivered, or refused and set aside). Raises
        what the delivery raised when it failed (the batch stays)."""
        if self._sending is None:
            self._sending = asyncio.Lock()
        async with self._sending:
            try:
                return await self._send_batch()
            except Exception as e:
                self.failed += 1
                self.last_error = f"{type(e).__name__}: {e}"[:300]
                raise

    async def flush(self) -> bool:
        """Deliver everything waiting now (a reader is about to ask the receiver something that depends on it);
        False if a delivery failed (what is left waits for the sender)."""
        try:
            while await self.send_once():
                pass
        except Exception:  # noqa: BLE001 -- counted in stats(); the sender tries again after its backoff
            return False
        return True

    async def _send_batch(self) -> int:
        rows = self.db.execute("SELECT seq, key, body FROM outbox ORDER BY seq LIMIT ?", (self.batch,)).fetchall()
        if not rows:
            return 0
        try:
            await self.deliver([json.loads(body) for _, _, body in rows])
        except Refused as e:
            if len(rows) == 1:
                self._set_aside(rows[0], str(e))
            else:  # one of them is refused: each alone, so that only that one is set aside
                for row in rows:
                    await self._one(row)
            return len(rows)
        self._done([seq for seq, _, _ in rows])
        return len(rows)

    async def _one(self, row: tuple) -> None:
        seq, key, body = row
        try:
            await self.deliver([json.loads(body)])
        except Refused as e:
            self._set_aside(row, str(e))
            return
        self._done([seq])

    def _done(self, seqs: list[int]) -> None:
        with self._transaction():
            self.db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self.sent += len(seqs)

    def _set_aside(self, row: tuple, reason: str) -> None:
        seq, key, body = row
        with self._transaction():
            self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self.db.execute(
                "INSERT OR REPLACE INTO refused (seq, key, body, reason, refused_at) VALUES (?, ?, ?, ?, ?)",
                (seq, key, body, reason[:1000], time.time()),
            )
            self.db.execute(  # the latest thousand are kept for a person to read
                "DELETE FROM refused WHERE seq NOT IN (SELECT seq FROM refused ORDER BY seq DESC LIMIT 1000)"
            )
        log.error("%s: the receiver refused a message for good, set aside: %s", self.name, reason[:300])

    def _wait_after_failure(self) -> float:
        wait = self.backoff.failed()
        log.warning("%s: %d message(s) wait (%s); again in %.1f s", self.name, self.pending(), self.last_error, wait)
        return wait

    async def tick(self) -> None:
        """The sender for a part that drives it by a timer (a Jupyter server's PeriodicCallback) instead of ``run``:
        deliver what waits, unless the backoff after a failure is not over yet."""
        if time.monotonic() < self._retry_at or not self.pending():
            return
        try:
            while await self.send_once():
                pass
        except Exception:  # noqa: BLE001 -- the receiver is down or unwell: the messages wait
            self._retry_at = time.monotonic() + self._wait_after_failure()
        else:
            self.backoff.reset()

    async def run(self, idle: float = 60.0) -> None:
        """Send until cancelled: when woken, every ``idle`` seconds otherwise; after a failure, only when the
        backoff's wait is over."""
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            try:
                moved = await self.send_once()
            except Exception:  # noqa: BLE001 -- the receiver is down or unwell: the messages wait
                await asyncio.sleep(self._wait_after_failure())
                continue
            self.backoff.reset()
            if moved:
                await asyncio.sleep(0)  # others' turn between batches
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), idle)
            except TimeoutError:
                pass

    def close(self) -> None:
        self.db.close()
