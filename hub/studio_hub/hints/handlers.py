"""The hints service's HTTP API (the service: :mod:`.app`, ``python -m studio_hub.hints``).

Every call carries the caller's JupyterHub token; the hub says who they are and their groups, which give their
courses (``students-<course>`` and so on, as for the exchange).

    POST api/hint          the next hint for an exercise  {assignment, exercise, code, error?, test?, more?}
    POST api/events        learning events from a learner's server  {"events": [...]}
    GET  api/events        the queued events, for the portal (hub admins and trusted services)  ?after=&count=
    GET  api/log?course=   the hints shown in a course, newest first (its graders and instructors)
    GET  api/health
"""

from __future__ import annotations

import re

from tornado import web

from ..exchange.policy import TEAM, roles_in
from ..service import ApiHandler, HealthHandler
from .app import attempt_from
from .exercises import SAFE_ID


class HintsHandler(ApiHandler):
    @property
    def service(self):
        return self.app


class HintHandler(HintsHandler):
    async def post(self):
        if self.user.get("service"):
            raise web.HTTPError(403, "hints are for people")
        data = self.body()
        exercise = self.service.exercise_for(self.user, data)
        result = await self.service.next_hint(self.user, exercise, attempt_from(data), bool(data.get("more")))
        self.finish(result)


class EventsHandler(HintsHandler):
    async def post(self):
        if self.user.get("service"):
            raise web.HTTPError(403, "events are reported by learners' servers")
        events = self.body().get("events")
        if not isinstance(events, list):
            raise web.HTTPError(400, '"events" must be a list')
        self.finish(await self.service.record_events(self.user, events))

    async def get(self):
        reader = self.user.get("service") in self.service.event_readers or self.user.get("admin")
        if not reader:
            raise web.HTTPError(403, "only hub admins and the portal read the event queue")
        after = self.get_argument("after", "0")
        if not re.match(r"^\d+(-\d+)?$", after):
            raise web.HTTPError(400, "after: an event id")
        count = min(int(self.get_argument("count", "100") or 100), 1000)
        rows = await self.service.state.read_events(after, count)
        self.finish({"events": [{"id": i, **e} for i, e in rows], "last": rows[-1][0] if rows else after})


class LogHandler(HintsHandler):
    async def get(self):
        course = self.get_argument("course", "")
        if not SAFE_ID.match(course) or not roles_in(self.user.get("groups", []), course) & TEAM:
            raise web.HTTPError(403, f"{self.user['name']} is not on the team of {course!r}")
        limit = min(int(self.get_argument("limit", "1000") or 1000), 10_000)
        self.finish({"hints": await self.service.state.hint_log(course, limit)})


ROUTES = [
    ("api/health", HealthHandler),
    ("api/hint", HintHandler),
    ("api/events", EventsHandler),
    ("api/log", LogHandler),
]
