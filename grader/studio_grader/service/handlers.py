"""The grading service's HTTP API (the service: :mod:`.app`, ``python -m studio_grader.service``).

The exchange tells it of each new submission; it also looks for ungraded ones on its own every minute (at start
too), so nothing is missed while it was down. Jobs run in worker processes, each with a warm grading sandbox, as
many at once as there are workers; a student's newer submission replaces one still waiting. Each course has an
nbgrader course folder and gradebook on this side (:mod:`.courses`), which its graders and instructors review in
formgrader, served here per course (:mod:`.formgrader`).

    GET  api/health
    POST api/submitted                      {course_id, assignment_id, student_id, id}   the exchange only
    PUT  api/source/<course>/<assignment>   {"files": {path: base64}}    an instructor's release brings its source
    GET  api/grades?course=                 every student's latest: state, score, flags (graders, instructors)
    GET  api/grades?mine=1                  the caller's own, in all their courses
    GET  api/progress?course=               queued / grading / graded / failed, rate
    POST api/regrade/<course>/<assignment>  grade every latest submission again
    POST api/execute/<course>               run one notebook's cells in a sandbox (a grader's own nbgrader autograde,
                                            or the course's formgrader's, with its own token)
    POST api/autotests/<course>             expand a notebook's AUTOTEST directives in a sandbox (an instructor's
                                            generate_assignment, or the course's formgrader's)
    GET  formgrader/<course>/formgrader...  nbgrader's formgrader of that course (graders, instructors)
    *    formgrader-exchange/<course>/api/...   that course's formgrader (its own token) calls the exchange: the
                                            release, collect and feedback calls of its own course only
    GET  /                                  the courses the caller grades, with their formgraders
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from jupyterhub.services.auth import HubOAuthenticated
from studio_wire import exchange as wire
from studio_wire.grading import EXPANSION, JOB
from tornado import web

from studio_hub.exchange.policy import Action, courses_of, may
from studio_hub.exchange.store import ExchangeError, check_id, check_path
from studio_hub.service import JSONErrors, decode_files, json_body

from ..formgrader import Formgraders
from .queue import Grading

log = logging.getLogger("studio.grading")

EXCHANGE_SERVICE = "exchange"


class BaseHandler(JSONErrors, HubOAuthenticated, web.RequestHandler):
    """Callers are people in a browser (the hub's OAuth cookie) or with a JupyterHub token; errors are JSON."""

    grading: Grading

    def initialize(self, grading: Grading, formgraders: Formgraders | None = None):
        self.grading = grading
        self.formgraders = formgraders

    def groups(self) -> list[str]:
        user = self.current_user
        if not user:
            raise web.HTTPError(401, "log in through the hub, or send a JupyterHub token")
        if user.get("kind", "user") != "user" or "groups" not in user:
            raise web.HTTPError(403, "this token may not read its owner's groups (needs read:users:groups!user)")
        return user["groups"]

    def is_formgrader_of(self, course: str) -> bool:
        """The caller is ``course``'s formgrader (its own token, which no hub user holds)."""
        expected = self.formgraders.token_of(course) if self.formgraders else None
        scheme, _, given = self.request.headers.get("Authorization", "").partition(" ")
        return bool(expected) and scheme.lower() == "token" and hmac.compare_digest(given.strip(), expected)

    def require(self, action: Action, course: str) -> None:
        check_id("course", course)
        if not may(self.groups(), action, course):
            raise web.HTTPError(403, f"{self.current_user['name']} may not {action} in {course}")


class HealthHandler(BaseHandler):
    def get(self):
        self.finish({"ok": True, **self.grading.progress()})


class SubmittedHandler(BaseHandler):
    def post(self):
        user = self.current_user
        if not user or user.get("kind") != "service" or user.get("name") != EXCHANGE_SERVICE:
            raise web.HTTPError(403, "only the exchange service tells of submissions")
        info = _json_body(self, wire.SUBMITTED)
        queued = self.grading.enqueue(info["course_id"], info["assignment_id"], info["student_id"], info["id"])
        self.set_status(202)
        self.finish({"queued": queued})


class SourceHandler(BaseHandler):
    def put(self, course: str, assignment: str):
        self.require(Action.RELEASE, course)
        check_id("assignment", assignment)
        files = _files(_json_body(self, wire.SOURCE))
        if not any(name.endswith(".ipynb") for name in files):
            raise ExchangeError(f"the source of {assignment} has no notebook")
        self.grading.space(course).put_source(assignment, files)
        self.grading.prepare(course, assignment)
        log.info("%s: the source of %s/%s (%d files)", self.current_user["name"], course, assignment, len(files))
        self.finish({"course_id": course, "assignment_id": assignment, "files": sorted(files)})


class GradesHandler(BaseHandler):
    def get(self):
        if self.get_query_argument("mine", ""):
            me = self.current_user["name"]
            courses = [c for c in courses_of(self.groups()) if may(self.groups(), Action.OWN_SUBMISSIONS, c)]
            # A student learns that a grader will look ("flagged"), not what the detectors saw: that is the team's.
            rows = [
                {k: v for k, v in _row(c, key, entry).items() if k != "flags"}
                for c in sorted(courses)
                for key, entry in sorted(self.grading.status.get(c, {}).items())
                if key.split("/")[1] == me
            ]
        else:
            course = self.get_query_argument("course", "")
            self.require(Action.COLLECT, course)
            rows = [_row(course, key, entry) for key, entry in sorted(self.grading.status.get(course, {}).items())]
        self.finish({"grades": rows})


class ProgressHandler(BaseHandler):
    def get(self):
        course = self.get_query_argument("course", "")
        self.require(Action.COLLECT, course)
        self.finish(self.grading.progress(course))


class RegradeHandler(BaseHandler):
    def post(self, course: str, assignment: str):
        self.require(Action.COLLECT, course)
        check_id("assignment", assignment)
        keys = [k for k in self.grading.status.get(course, {}) if k.split("/")[0] == assignment]
        status = self.grading.status[course]
        n = sum(
            self.grading.enqueue(course, assignment, k.split("/")[1], status[k]["submission"], force=True) for k in keys
        )
        self.finish({"queued": n})


class ExecuteHandler(BaseHandler):
    """A grader's or instructor's own ``nbgrader autograde`` from a server without Docker, or the course's
    formgrader's (its account may not use Docker): one notebook's cells run in a grading sandbox here
    (``SandboxedExecute.backend = 'service'``)."""

    async def post(self, course: str):
        caller = f"{course}'s formgrader" if self.is_formgrader_of(course) else None
        if caller is None:
            self.require(Action.COLLECT, course)
            caller = self.current_user["name"]
        job = _json_body(self, JOB)  # studio_wire.grading: the shape every grading job has
        cells, limits = job["cells"], job.get("limits", {})
        # Within what this service allows, whatever the caller asked.
        timeout = _bounded(job.get("timeout"), 30, 1, 300)
        job_timeout = _bounded(job.get("job_timeout"), 300, 1, int(self.grading.job_timeout))
        clean = {
            "id": job.get("id"),
            "cells": [
                {
                    "source": c["source"],
                    "grade": c.get("grade", False),
                    "setup": c.get("setup", False),
                    "timeout": min(max(c.get("timeout", timeout), 0.1), timeout),
                    "in_process": c.get("in_process", False),
                }
                for c in cells
            ],
            "timeout": timeout,
            "job_timeout": job_timeout,
            "judge": job.get("judge", False),
            "limits": {
                "memory_mib": _bounded(limits.get("memory_mib"), 1024, 64, 1024),
                "cpu_seconds": job_timeout,
                "processes": _bounded(limits.get("processes"), 8, 1, 8),
            },
        }
        log.info("%s: runs a notebook of %s (%d cells) in a sandbox", caller, course, len(cells))
        self.finish(await self.grading.execute(clean))


class AutotestsHandler(BaseHandler):
    """``nbgrader generate_assignment`` where Docker is not at hand (the course's formgrader; an instructor's
    server): the AUTOTEST directives of one notebook expanded in a sandbox here (``SandboxedAutotests``)."""

    async def post(self, course: str):
        caller = f"{course}'s formgrader" if self.is_formgrader_of(course) else None
        if caller is None:
            self.require(Action.RELEASE, course)
            caller = self.current_user["name"]
        job = _json_body(self, EXPANSION)
        from .. import trusted

        log.info("%s: expands the AUTOTEST directives of a notebook of %s in a sandbox", caller, course)
        spec = self.grading.sandboxes.spec("autotests")
        answer = await asyncio.get_running_loop().run_in_executor(
            None, trusted.expand_in_sandbox, job["notebook"], job["autotests"], spec, 300.0
        )
        self.finish(answer)


def _bounded(value: float | None, fallback: int, low: int, high: int) -> int:
    """A number the caller chose (or ``fallback``), within what the service allows."""
    return int(min(max(fallback if value is None else value, low), high))


def _row(course: str, key: str, entry: dict) -> dict:
    assignment, student = key.split("/")
    return {"course": course, "assignment": assignment, "student": student, **entry}


def _json_body(handler: web.RequestHandler, schema: dict) -> dict:
    return json_body(handler.request.body, schema)


def _files(data: dict) -> dict[str, bytes]:
    files = decode_files(data)
    if not files:
        raise ExchangeError("no files were sent")
    return {check_path(name): content for name, content in files.items()}
