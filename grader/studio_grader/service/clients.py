"""What the grading service calls: the exchange (ungraded submissions) and the portal (every grade)."""

from __future__ import annotations

import asyncio
import json
import logging

from studio_wire import http

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
    """Sends each student's grade to the portal (``PUT <portal>/api/grades/``, a service token), off the
    request path; what could not be sent is sent again with the next one."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/") + "/api/grades/", token
        self.client = http.async_client(30)
        self.pending: dict[tuple[str, str, str], dict] = {}
        self.sending = False

    def send(self, course: str, assignment: str, student: str, entry: dict) -> None:
        # Flagged (tampering, a time-out, a crash): "needs review", its points not final until a grader clears the
        # flag in formgrader (refresh_scores sends it again then).
        review = entry.get("state") == "graded" and bool(entry.get("flagged"))
        self.pending[(course, assignment, student)] = {
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
        if not self.sending:
            asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        self.sending = True
        try:
            while self.pending:
                batch = list(self.pending.items())
                try:
                    resp = await self.client.put(
                        self.url,
                        content=json.dumps({"grades": [g for _, g in batch]}),
                        headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                    )
                    resp.raise_for_status()
                except Exception as e:  # noqa: BLE001 -- kept, and sent with the next grade
                    log.warning("could not send %d grades to the portal: %s", len(batch), e)
                    return
                for key, grade in batch:
                    if self.pending.get(key) is grade:
                        del self.pending[key]
        finally:
            self.sending = False
