"""Telling the grading service of each new submission, through a durable outbox (studio_wire.outbox)."""

from __future__ import annotations

import json
from pathlib import Path

from studio_wire import http
from studio_wire.outbox import Outbox, check


class Notifier:
    """Tells the grading service of each new submission (POST ``<url>api/submitted``, this service's hub token), off
    the request path. A notice waits in the exchange's outbox until the grading service took it (one per student's
    assignment: the latest submission is the one graded), so a grading service that is down or restarting gets it
    when it is back; it also looks for ungraded submissions on its own every minute."""

    def __init__(self, url: str, token: str, outbox: Path | str):
        self.url, self.token = url.rstrip("/") + "/api/submitted", token
        self.client = http.async_client(10)
        self.outbox = Outbox(outbox, self._deliver, name="notices for the grading service", batch=50)

    def submitted(self, info: dict) -> None:
        notice = {k: info[k] for k in ("course_id", "assignment_id", "student_id", "id")}
        self.outbox.put(notice, key=f"{info['course_id']}/{info['assignment_id']}/{info['student_id']}")

    async def _deliver(self, notices: list[dict]) -> None:
        for notice in notices:  # the grading service takes them one by one; a notice taken twice is queued once
            resp = await self.client.post(
                self.url,
                content=json.dumps(notice),
                headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            )
            check(resp)
