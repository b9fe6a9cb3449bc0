"""The background senders on studio_wire.outbox: the grading service's grades for the portal, the exchange's notices
for the grading service and a learner's events. A receiver that is down gets everything when it is back, across a
restart of the sender, the latest of each key once; one it refuses for good is set aside with the reason, and the
rest go on."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from studio_grader.service.clients import PortalGrades

from studio_hub.exchange.notify import Notifier


class Receiver(BaseHTTPRequestHandler):
    """Answers as the portal's ``PUT /api/grades/`` and the grading service's ``POST /api/submitted`` do: 200/202
    with the token; 503 while ``down``; 400 for a body naming the ``refuse`` student."""

    bodies: list[dict] = []
    down = False
    refuse = None

    def _answer(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        items = body.get("grades", [body])
        if Receiver.down:
            status = 503
        elif self.headers.get("Authorization") not in ("Bearer tok", "token tok"):
            status = 403
        elif any(i.get("student", i.get("student_id")) == Receiver.refuse for i in items):
            status = 400
        else:
            status = 200
            Receiver.bodies.append(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"status": status, "message": "not a student of this course"}).encode())

    do_PUT = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.bodies, Receiver.down, Receiver.refuse = [], False, None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def _until(predicate, seconds: float = 10) -> None:
    for _ in range(int(seconds * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not in time")


def test_grades_wait_for_a_portal_that_is_down_across_a_restart_and_arrive_latest_once(receiver, tmp_path):
    path = tmp_path / ".outbox" / "portal.sqlite"

    async def scenario():
        Receiver.down = True
        grades = PortalGrades(receiver, "tok", path)
        sending = asyncio.ensure_future(grades.outbox.run())
        grades.send("c", "ps1", "sam", {"state": "graded", "score": 1.0, "max_score": 5.0})
        grades.send("c", "ps1", "ann", {"state": "graded", "score": 5.0, "max_score": 5.0})
        await _until(lambda: grades.outbox.stats()["failed_deliveries"] >= 1)
        grades.send("c", "ps1", "sam", {"state": "graded", "score": 4.0, "max_score": 5.0})  # regraded meanwhile
        sending.cancel()
        grades.outbox.close()  # the service stops while the portal is down

        Receiver.down = False
        again = PortalGrades(receiver, "tok", path)
        assert again.outbox.pending() == 2
        sending = asyncio.ensure_future(again.outbox.run())
        await _until(lambda: again.outbox.pending() == 0)
        sending.cancel()
        got = [(g["student"], g["score"]) for body in Receiver.bodies for g in body["grades"]]
        assert sorted(got) == [("ann", 5.0), ("sam", 4.0)], got
        assert again.outbox.stats()["sent"] == 2

    asyncio.run(scenario())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_grade_the_portal_refuses_is_set_aside_with_its_reason_and_the_others_arrive(receiver, tmp_path):
    async def scenario():
        Receiver.refuse = "mallory"
        grades = PortalGrades(receiver, "tok", tmp_path / "portal.sqlite")
        for student in ("sam", "mallory", "ann"):
            grades.send("c", "ps1", student, {"state": "graded", "score": 1.0, "max_score": 5.0})
        assert await grades.outbox.send_once() == 3
        students = sorted(g["student"] for body in Receiver.bodies for g in body["grades"])
        assert students == ["ann", "sam"]
        (aside,) = grades.outbox.refused()
        assert aside["key"] == "c/ps1/mallory" and aside["reason"].startswith("HTTP 400: ")
        assert grades.outbox.stats() | {"last_error": ""} == {
            "pending": 0,
            "sent": 2,
            "dropped": 0,
            "refused": 1,
            "failures": 0,
            "failed_deliveries": 0,
            "last_error": "",
        }

    asyncio.run(scenario())


def test_submission_notices_wait_for_the_grading_service_and_the_latest_per_student_arrives(receiver, tmp_path):
    path = tmp_path / "exchange" / ".outbox" / "grading.sqlite"

    def notice(student: str, sub: str) -> dict:
        return {"course_id": "c", "assignment_id": "ps1", "student_id": student, "id": sub, "late": False}

    async def scenario():
        Receiver.down = True
        notifier = Notifier(receiver, "tok", path)
        notifier.submitted(notice("sam", "1"))
        notifier.submitted(notice("sam", "2"))
        notifier.submitted(notice("ann", "3"))
        with pytest.raises(RuntimeError, match="503"):
            await notifier.outbox.send_once()
        notifier.outbox.close()

        Receiver.down = False
        again = Notifier(receiver, "tok", path)
        assert await again.outbox.send_once() == 2
        assert [(b["student_id"], b["id"]) for b in Receiver.bodies] == [("sam", "2"), ("ann", "3")]
        assert set(Receiver.bodies[0]) == {"course_id", "assignment_id", "student_id", "id"}

    asyncio.run(scenario())


def test_a_learners_events_wait_on_disk_for_a_restarted_server(tmp_path):
    from studio_ext.hints import Hints

    path = tmp_path / "studio" / "events-sam.sqlite"
    first = Hints(outbox_path=str(path), buffer_size=3)
    assert first.report([{"kind": "execute", "time": float(n)} for n in range(5)]) == 3
    first.report([{"kind": "validate", "time": 9.0}])
    first.outbox.close()
    again = Hints(outbox_path=str(path), buffer_size=3)
    assert [e["time"] for e in again.outbox.peek()] == [1.0, 2.0, 9.0]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
