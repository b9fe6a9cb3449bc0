"""The hints service sends its learning-event queue to the portal: in order, from a cursor, again after a failure,
and never skipping an event the portal did not take."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio_hub.hints.forward import CURSOR_KEY, REFUSED_KEY, EventForwarder
from studio_hub.hints.state import LocalState


class Portal(BaseHTTPRequestHandler):
    """Answers ``PUT /api/events/`` as the portal does: 200 with the token, else 403; or 503 while ``down``."""

    received: list[dict] = []
    down = False
    refuse = None  # a batch holding an event with this "n" is refused whole (400), as the portal does a bad one

    def do_PUT(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = self.headers.get("Authorization") == "Bearer tok" and not Portal.down
        bad = ok and any(e.get("n") == Portal.refuse for e in body["events"])
        if ok and not bad:
            Portal.received.extend(body["events"])
        self.send_response(400 if bad else 200 if ok else 403 if not Portal.down else 503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"stored": len(body["events"]) if ok else 0}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def portal():
    Portal.received, Portal.down, Portal.refuse = [], False, None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_events_go_in_order_from_the_cursor_and_wait_while_the_portal_is_down(portal, tmp_path):
    async def scenario():
        state = LocalState(tmp_path / "hints.sqlite")
        await state.push_events([{"kind": "execute", "student": "s1", "course": "c", "n": n} for n in range(7)])
        forwarder = EventForwarder(state, portal, "tok", batch=3)
        assert [await forwarder.send_once() for _ in range(4)] == [3, 3, 1, 0]
        assert [e["n"] for e in Portal.received] == list(range(7))
        assert [e["id"] for e in Portal.received] == [f"{state.queue}.{i}" for i in range(1, 8)]
        Portal.down = True
        await state.push_events([{"kind": "execute", "student": "s1", "course": "c", "n": 7}])
        with pytest.raises(Exception, match="503"):
            await forwarder.send_once()
        assert await state.get(CURSOR_KEY) == f"{state.queue}.7"  # not moved: the event is sent again later
        Portal.down = False
        assert await forwarder.send_once() == 1 and Portal.received[-1]["n"] == 7
        refused = EventForwarder(state, portal, "wrong")
        await state.push_events([{"kind": "execute", "student": "s1", "course": "c", "n": 8}])
        with pytest.raises(Exception, match="403"):
            await refused.send_once()
        assert await state.get(CURSOR_KEY) == f"{state.queue}.8"

    asyncio.run(scenario())


def test_an_event_the_portal_refuses_is_set_aside_and_the_rest_of_its_batch_arrives(portal, tmp_path):
    async def scenario():
        state = LocalState(tmp_path / "hints.sqlite")
        await state.push_events([{"kind": "execute", "student": "s1", "course": "c", "n": n} for n in range(5)])
        Portal.refuse = 2
        forwarder = EventForwarder(state, portal, "tok", batch=10)
        assert await forwarder.send_once() == 5
        assert [e["n"] for e in Portal.received] == [0, 1, 3, 4]
        assert await state.get(CURSOR_KEY) == f"{state.queue}.5" and await forwarder.send_once() == 0
        (aside,) = await state.get(REFUSED_KEY)
        assert aside["id"] == f"{state.queue}.3" and aside["event"]["n"] == 2 and aside["reason"].startswith("HTTP 400")

    asyncio.run(scenario())


def test_a_queue_started_again_never_reuses_the_ids_the_portal_has_seen(tmp_path):
    """The portal keeps an event once by its id. A queue whose file was lost starts counting again; its ids carry
    the queue's own name, so its events are not taken for ones the portal already has (and dropped). A queue made
    before names were kept keeps its plain ids: its events are not sent again as new ones."""

    async def scenario():
        first = LocalState(tmp_path / "hints.sqlite")
        await first.push_events([{"n": 1}])
        (a,) = await first.read_events()
        assert LocalState(tmp_path / "hints.sqlite").queue == first.queue  # the name stays with the file
        (tmp_path / "hints.sqlite").unlink()
        second = LocalState(tmp_path / "hints.sqlite")
        await second.push_events([{"n": 2}])
        (b,) = await second.read_events()
        assert a[0] != b[0] and a[0].endswith(".1") and b[0].endswith(".1")
        assert await second.read_events(a[0]) == [b]  # another queue's cursor: this queue from its start

        import sqlite3

        legacy = tmp_path / "legacy.sqlite"
        db = sqlite3.connect(legacy)
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
        db.execute("INSERT INTO events (body) VALUES ('{}')")
        db.commit()
        db.close()
        old = LocalState(legacy)
        assert old.queue == "" and [i for i, _ in await old.read_events()] == ["1"]

    asyncio.run(scenario())
