"""Telling the portal what it shows of assignments: each release (due date, notebooks) and each student's work on it
(fetched, submitted, late, feedback), through a durable outbox (studio_wire.outbox).

Records are states, not events (``ExchangeStore.assignment_record`` / ``work_record``): the newest for a key replaces
one still waiting, and at start the exchange puts every current record in, so a portal that was down, new or
restored from a backup catches up. The portal takes them with the grades token (the course's records)."""

from __future__ import annotations

import json
from pathlib import Path

from studio_wire import http
from studio_wire.outbox import Outbox, check

from .store import ExchangeStore


class PortalRecords:
    def __init__(self, url: str, token: str, outbox: Path | str, store: ExchangeStore):
        self.url, self.token, self.store = url.rstrip("/") + "/api/assignments/", token, store
        self.client = http.async_client(30)
        self.outbox = Outbox(outbox, self._deliver, name="assignment records for the portal", batch=200)

    def assignment(self, course: str, assignment: str) -> None:
        self.outbox.put(self.store.assignment_record(course, assignment), key=f"assignment/{course}/{assignment}")

    def work(self, course: str, assignment: str, student: str) -> None:
        record = self.store.work_record(course, assignment, student)
        self.outbox.put(record, key=f"work/{course}/{assignment}/{student}")

    def catch_up(self) -> int:
        records = self.store.records()
        self.outbox.put_many(records, [_key(r) for r in records])
        return len(records)

    async def _deliver(self, records: list[dict]) -> None:
        resp = await self.client.put(
            self.url,
            content=json.dumps({"records": records}),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        check(resp)


def _key(record: dict) -> str:
    parts = [
        record["kind"],
        record["course"],
        record["assignment"],
        *([record["student"]] if "student" in record else []),
    ]
    return "/".join(parts)
