"""What the grading service calls: the exchange (ungraded submissions) and the portal (every grade)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from studio_wire import http
from studio_wire.outbox import Outbox, check

log = logging.getLogger("studio.grading")


class ExchangeClient:
    """The exchange as this service's own hub token reaches it."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/") + "/", token
        self.client = http.async_client(60)

    async def get(self, path: str) -> dict:
        resp = await self.client.get(self.url + path, headers={"Authorization": f"token {self.token}"})
        return resp.raise_for_status().json()


class PortalGrades:
    """Sends each student's grade to the portal (``PUT <portal>/api/grades/``, a service token), off the request
    path, through the service's durable outbox (studio_wire.outbox): one message per student's assignment, the
    latest replacing one still waiting; a portal that is down or refuses gets each grade when it is back, none
    lost across restarts. The portal keeps a grade once whatever arrives twice."""

    def __init__(self, url: str, token: str, outbox: Path | str):
        self.url, self.token = url.rstrip("/") + "/api/grades/", token
        self.client = http.async_client(30)
        self.outbox = Outbox(outbox, self._deliver, name="grades for the portal", batch=200)

    def send(self, course: str, assignment: str, student: str, entry: dict) -> None:
        # Flagged (tampering, a time-out, a crash): "needs review", its points not final until a grader clears the
        # flag in formgrader (refresh_scores sends it again then).
        review = entry.get("state") == "graded" and bool(entry.get("flagged"))
        grade = {
            "course": course,
            "assignment": assignment,
            "student": student,
            "state": "review" if review else entry.get("state"),
            "review": [str(f)[:1000] for f in (entry.get("flags") or [])[:50]] if review else [],
            "score": entry.get("score"),
            "max_score": entry.get("max_score"),
            "needs_manual_grade": entry.get("needs_manual_grade", False),
            "flagged": entry.get("flagged", False),
            "submission": entry.get("submission"),
            "timestamp": entry.get("timestamp"),
            "graded_at": entry.get("graded_at"),
            "reason": (entry.get("reason") or "")[:500],
        }
        self.outbox.put(grade, key=f"{course}/{assignment}/{student}")

    async def _deliver(self, grades: list[dict]) -> None:
        resp = await self.client.put(
            self.url,
            content=json.dumps({"grades": grades}),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        check(resp)
