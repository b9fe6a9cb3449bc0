"""Sends the learning-event queue to the portal's analytics: ``PUT <portal>/api/events/`` with the hub services'
token, in order, from a cursor kept in the service's state. The queue (a Redis stream, or the local state's table)
is this sender's outbox; it waits after failures as studio_wire.outbox's senders do. The portal stores each event
once by its queue id, so a batch sent twice (a crash between sending and moving the cursor, two services sharing
one Redis stream, a cursor lost with the in-process state) counts once."""

from __future__ import annotations

import asyncio
import json
import logging

from studio_wire import http
from studio_wire.outbox import Backoff, Refused, check

from .state import State

log = logging.getLogger(__name__)
CURSOR_KEY = "portal-events-cursor"
REFUSED_KEY = "portal-events-refused"
YEAR = 365 * 86400


class EventForwarder:
    def __init__(self, state: State, portal_url: str, token: str, *, batch: int = 500, interval: float = 2.0):
        self.state, self.token, self.batch, self.interval = state, token, batch, interval
        self.url = portal_url.rstrip("/") + "/api/events/"
        self.client = http.async_client(60)

    async def send_once(self) -> int:
        """Send the next batch after the cursor; how many events it moved past (sent, or refused for good and set
        aside). Raises if the portal did not take them (down, or this service misconfigured): the cursor stays."""
        cursor = await self.state.get(CURSOR_KEY) or "0"
        rows = await self.state.read_events(cursor, self.batch)
        if not rows:
            return 0
        try:
            await self._put(rows)
        except Refused as e:
            if len(rows) == 1:
                await self._set_aside(rows[0], str(e))
            else:  # the portal refuses a batch whole: each alone, so that only what it refuses is set aside
                for row in rows:
                    try:
                        await self._put([row])
                    except Refused as one:
                        await self._set_aside(row, str(one))
        await self.state.put(CURSOR_KEY, rows[-1][0], YEAR)
        return len(rows)

    async def _put(self, rows: list[tuple[str, dict]]) -> None:
        resp = await self.client.put(
            self.url,
            content=json.dumps({"events": [{**event, "id": event_id} for event_id, event in rows]}),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        check(resp)

    async def _set_aside(self, row: tuple[str, dict], reason: str) -> None:
        """An event the portal refuses for good stays in the queue (api/events) and is named, with the reason, in
        the state's ``portal-events-refused`` (the latest hundred), as studio_wire.outbox sets such messages aside."""
        event_id, event = row
        log.error("the portal refused learning event %s for good: %s", event_id, reason[:300])
        refused = await self.state.get(REFUSED_KEY) or []
        await self.state.put(REFUSED_KEY, [*refused, {"id": event_id, "event": event, "reason": reason}][-100:], YEAR)

    async def run(self) -> None:
        backoff = Backoff(self.interval, 60.0)  # studio_wire.outbox's, as every sender's
        while True:
            try:
                sent = await self.send_once()
                backoff.reset()
                delay = self.interval
            except Exception as e:  # noqa: BLE001 -- the portal is down or refused: the events wait in the queue
                sent, delay = 0, backoff.failed()
                log.warning("could not send learning events to the portal (%s); trying again in %.1f s", e, delay)
            if sent < self.batch:
                await asyncio.sleep(delay)
