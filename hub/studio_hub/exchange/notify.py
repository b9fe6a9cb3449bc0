"""Telling the grading service of each new submission."""

from __future__ import annotations

import asyncio
import json
import logging

log = logging.getLogger("studio.exchange")


class Notifier:
    """Tells the grading service of each new submission (POST ``<url>api/submitted``, this service's hub token).

    Best effort and off the request path: a grading service that is down misses nothing, because it also looks for
    ungraded submissions on its own every minute."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/") + "/api/submitted", token
        self.client = None  # made at first use
        self.tasks: set[asyncio.Task] = set()

    def submitted(self, info: dict) -> None:
        task = asyncio.ensure_future(self._post(info))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, info: dict) -> None:
        from studio_wire import http

        self.client = self.client or http.async_client(10)
        body = json.dumps({k: info[k] for k in ("course_id", "assignment_id", "student_id", "id")})
        try:
            resp = await self.client.post(
                self.url,
                content=body,
                headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            )
            resp.raise_for_status()
        except Exception as e:  # noqa: BLE001 -- logged; the grading service finds it on its next look
            log.warning(
                "could not tell the grading service of %s/%s by %s: %s",
                info["course_id"],
                info["assignment_id"],
                info["student_id"],
                e,
            )
