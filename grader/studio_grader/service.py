"""The grading service (hub-managed, ``python -m studio_grader.service``): every submission graded as it arrives.

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

import argparse
import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import multiprocessing
import os
import re
import secrets
import shutil
import time
from collections import OrderedDict, deque
from pathlib import Path
from urllib.parse import quote, urlencode, urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer

from studio_hub.exchange.policy import Action, courses_of, may
from studio_hub.exchange.service import decode_files, json_body, run_service
from studio_hub.exchange.store import ExchangeError, check_id, check_path

from . import jobs
from .accounts import ensure_course_account
from .courses import CourseSpace, Sandboxes
from .formgrader import Formgraders

log = logging.getLogger("studio.grading")
EXCHANGE_SERVICE = "exchange"
# Headers not passed on between the browser and a course's formgrader.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
               "cookie", "set-cookie", "authorization", "upgrade", "te", "trailer"}  # fmt: skip


class Grading:
    """The queue and the workers."""

    def __init__(self, root: Path, *, content_dir: Path | None, gradebook: str, exchange_url: str,
                 sandboxes: Sandboxes, workers: int, job_timeout: float, warm: bool = True,
                 portal: PortalGrades | None = None, account_prefix: str = "studio-fg-"):  # fmt: skip
        self.root, self.content_dir, self.gradebook = root, content_dir, gradebook
        # Formgraders run under an account per course (root makes them); a service not run by root has none.
        self.account_prefix = account_prefix if os.geteuid() == 0 else ""
        self.exchange_url, self.sandboxes, self.workers = exchange_url, sandboxes, max(1, workers)
        self.job_timeout = job_timeout
        self.portal = portal
        self.spaces: dict[str, CourseSpace] = {}
        self.status: dict[str, dict[str, dict]] = {}
        self.queue: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self.running: dict[tuple[str, str, str], str] = {}
        self.finished: deque[float] = deque()  # when jobs ended, over the last minute
        warm_args = {"image": sandboxes.image, "runtime": sandboxes.runtime, "mode": sandboxes.mode,
                     "prefix": sandboxes.prefix} if warm else None  # fmt: skip
        # Spawned (not forked) from this asyncio process; each worker starts its sandbox right away.
        self.pool = multiprocessing.get_context("spawn").Pool(self.workers, initializer=jobs.init_worker,
                                                              initargs=(warm_args,))  # fmt: skip
        for course in self.known_courses():
            self.space(course)

    def known_courses(self) -> list[str]:
        names = {p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")}
        if self.content_dir and self.content_dir.is_dir():
            names |= {p.name for p in self.content_dir.iterdir() if (p / "source").is_dir()}
        return sorted(n for n in names if _valid_id(n))

    def space(self, course: str) -> CourseSpace:
        """The course's grading folder, made the first time the course is seen (no restart for a new course)."""
        if course not in self.spaces:
            check_id("course", course)
            owner = ensure_course_account(self.account_prefix, course) if self.account_prefix else None
            space = CourseSpace(self.root, course, self.gradebook, self.content_dir, self.exchange_url,
                                self.sandboxes, owner)  # fmt: skip
            space.prepare()
            self.spaces[course] = space
            self.status[course] = space.read_status()
            # Whatever was queued or running when the service stopped is graded again.
            for key, entry in self.status[course].items():
                if entry.get("state") in ("queued", "grading"):
                    assignment, student = key.split("/")
                    self.queue[(course, assignment, student)] = entry["submission"]
        return self.spaces[course]

    # --- the queue --------------------------------------------------------------------------------------------------
    def enqueue(self, course: str, assignment: str, student: str, sub_id: str, *, force: bool = False) -> bool:
        for kind, value in (("assignment", assignment), ("student", student), ("submission", sub_id)):
            check_id(kind, value)
        self.space(course)
        entry = self.status[course].get(f"{assignment}/{student}", {})
        if not force and entry.get("submission") == sub_id and entry.get("state") in ("graded", "failed"):
            return False
        key = (course, assignment, student)
        self.queue[key] = sub_id  # a newer submission replaces one still waiting
        self.queue.move_to_end(key)
        self._set(course, assignment, student, {**entry, "submission": sub_id, "state": "queued",
                                                "queued_at": time.time()})  # fmt: skip
        self.kick()
        return True

    def kick(self) -> None:
        for key in list(self.queue):
            if len(self.running) >= self.workers:
                return
            if key in self.running:  # the same student's assignment is being graded: after it
                continue
            sub_id = self.queue.pop(key)
            self.running[key] = sub_id
            asyncio.ensure_future(self._run(key, sub_id))

    async def _run(self, key: tuple[str, str, str], sub_id: str) -> None:
        course, assignment, student = key
        entry = self.status[course].get(f"{assignment}/{student}", {})
        self._set(course, assignment, student, {**entry, "state": "grading", "started_at": time.time()})
        try:
            result = await self._in_worker(jobs.grade, (self.spaces[course], assignment, student, sub_id),
                                           self.job_timeout)  # fmt: skip
        except Exception as e:  # noqa: BLE001 -- a worker that died or hung: this submission fails, the rest go on
            result = {"state": "failed", "reason": f"the grading worker did not answer: {type(e).__name__} {e}",
                      "flags": [], "graded_at": time.time()}  # fmt: skip
        self.running.pop(key, None)
        self._set(course, assignment, student, {"submission": sub_id, **{k: v for k, v in result.items()
                                                if k not in ("course", "assignment", "student")}})  # fmt: skip
        self.finished.append(time.time())
        while self.finished[0] < time.time() - 60:
            self.finished.popleft()
        log.info("%s/%s by %s (%s): %s %s", course, assignment, student, sub_id, result["state"],
                 result.get("reason") or f"{result.get('score')}/{result.get('max_score')}")  # fmt: skip
        if self.portal is not None:
            self.portal.send(course, assignment, student, self.status[course][f"{assignment}/{student}"])
        self.kick()

    def _set(self, course: str, assignment: str, student: str, entry: dict) -> None:
        self.status[course][f"{assignment}/{student}"] = entry
        self.spaces[course].write_status(self.status[course])

    async def catch_up(self, client: ExchangeClient) -> int:
        """Queue every latest submission the service has not graded (it may have been down when it came)."""
        queued = 0
        for course in sorted(set(self.known_courses()) | set(self.spaces)):
            try:
                subs = await client.get(f"api/submissions?course={course}")
            except Exception as e:  # noqa: BLE001 -- the exchange may be starting; the next look will do
                log.warning("could not list %s's submissions: %s", course, e)
                continue
            latest = {(s["assignment_id"], s["student_id"]): s["id"] for s in subs["submissions"]}
            for (assignment, student), sub_id in sorted(latest.items()):
                entry = self.status.get(course, {}).get(f"{assignment}/{student}", {})
                if entry.get("submission") != sub_id and (course, assignment, student) not in self.running:
                    queued += self.enqueue(course, assignment, student, sub_id)
        return queued

    async def refresh_scores(self) -> int:
        """Scores changed in a gradebook since (a grader's manual grades in formgrader) are taken into the status and
        sent to the portal; the number of changed ones."""
        changed = 0
        for course, space in list(self.spaces.items()):
            try:
                current = await self._in_worker(jobs.course_scores, (space.db_url,), 120)
            except Exception as e:  # noqa: BLE001 -- the next look will do
                log.warning("could not read %s's gradebook: %s", course, e)
                continue
            for key, entry in list(self.status[course].items()):
                new = current.get(key)
                if entry.get("state") != "graded" or new is None or all(entry.get(k) == v for k, v in new.items()):
                    continue
                assignment, student = key.split("/")
                self._set(course, assignment, student, {**entry, **new})
                if self.portal is not None:
                    self.portal.send(course, assignment, student, self.status[course][key])
                changed += 1
        return changed

    def send_all(self) -> None:
        """Every grade to the portal (at start: it may have missed some while either was down; it keeps each once)."""
        if self.portal is None:
            return
        for course, entries in self.status.items():
            for key, entry in entries.items():
                if entry.get("state") in ("graded", "failed"):
                    self.portal.send(course, *key.split("/"), entry)

    async def execute(self, job: dict) -> dict:
        """One notebook's cells in a worker's sandbox (a grader's own autograde), next to the queue's jobs."""
        return await self._in_worker(jobs.execute, (job,), job["job_timeout"] + 120)

    async def _in_worker(self, func, args: tuple, timeout: float):
        """``func(*args)`` in a worker process; its answer, or its exception, or TimeoutError."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def finish(value, ok=True):
            loop.call_soon_threadsafe(lambda: done.done() or (done.set_result(value) if ok else
                                                              done.set_exception(value)))  # fmt: skip

        self.pool.apply_async(func, args, callback=finish, error_callback=lambda e: finish(e, ok=False))
        return await asyncio.wait_for(done, timeout)

    def progress(self, course: str | None = None) -> dict:
        entries = [e for c, st in self.status.items() if course in (None, c) for e in st.values()]
        states = {s: sum(1 for e in entries if e.get("state") == s) for s in ("queued", "grading", "graded", "failed")}
        recent = [t for t in self.finished if t > time.time() - 60]
        return {**states, "total": len(entries), "per_minute": len(recent), "workers": self.workers}

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


class ExchangeClient:
    """The exchange as this service's own hub token reaches it."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/") + "/", token
        self.client = AsyncHTTPClient()

    async def get(self, path: str) -> dict:
        resp = await self.client.fetch(self.url + path, headers={"Authorization": f"token {self.token}"},
                                       request_timeout=60)  # fmt: skip
        return json.loads(resp.body)


class PortalGrades:
    """Sends each student's grade to the portal (``PUT <portal>/api/grades/``, a service token), off the
    request path; what could not be sent is sent again with the next one."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/") + "/api/grades/", token
        self.client = AsyncHTTPClient()
        self.pending: dict[tuple[str, str, str], dict] = {}
        self.sending = False

    def send(self, course: str, assignment: str, student: str, entry: dict) -> None:
        # Flagged (tampering, a time-out, a crash): "needs review", its points not final until a grader clears the
        # flag in formgrader (refresh_scores sends it again then).
        review = entry.get("state") == "graded" and bool(entry.get("flagged"))
        self.pending[(course, assignment, student)] = {
            "course": course, "assignment": assignment, "student": student,
            "state": "review" if review else entry.get("state"),
            "review": [str(f)[:1000] for f in (entry.get("flags") or [])[:50]] if review else [],
            "score": entry.get("score"), "max_score": entry.get("max_score"),
            "needs_manual_grade": entry.get("needs_manual_grade", False), "flagged": entry.get("flagged", False),
            "submission": entry.get("submission"), "timestamp": entry.get("timestamp"),
            "graded_at": entry.get("graded_at"), "reason": (entry.get("reason") or "")[:500],
        }  # fmt: skip
        if not self.sending:
            asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        self.sending = True
        try:
            while self.pending:
                batch = list(self.pending.items())
                try:
                    await self.client.fetch(self.url, method="PUT", request_timeout=30,
                                            body=json.dumps({"grades": [g for _, g in batch]}),
                                            headers={"Authorization": f"Bearer {self.token}",
                                                     "Content-Type": "application/json"})  # fmt: skip
                except Exception as e:  # noqa: BLE001 -- kept, and sent with the next grade
                    log.warning("could not send %d grades to the portal: %s", len(batch), e)
                    return
                for key, grade in batch:
                    if self.pending.get(key) is grade:
                        del self.pending[key]
        finally:
            self.sending = False


# --- HTTP -------------------------------------------------------------------------------------------------------
class BaseHandler(HubOAuthenticated, web.RequestHandler):
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

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, ExchangeError):
            self.set_status(error.status)
            message = str(error)
        elif isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        else:
            message = self._reason
        self.finish({"status": self.get_status(), "message": message})


class HealthHandler(BaseHandler):
    def get(self):
        self.finish({"ok": True, **self.grading.progress()})


class SubmittedHandler(BaseHandler):
    def post(self):
        user = self.current_user
        if not user or user.get("kind") != "service" or user.get("name") != EXCHANGE_SERVICE:
            raise web.HTTPError(403, "only the exchange service tells of submissions")
        info = _json_body(self)
        queued = self.grading.enqueue(info["course_id"], info["assignment_id"], info["student_id"], info["id"])
        self.set_status(202)
        self.finish({"queued": queued})


class SourceHandler(BaseHandler):
    def put(self, course: str, assignment: str):
        self.require(Action.RELEASE, course)
        check_id("assignment", assignment)
        files = _files(_json_body(self))
        if not any(name.endswith(".ipynb") for name in files):
            raise ExchangeError(f"the source of {assignment} has no notebook")
        self.grading.space(course).put_source(assignment, files)
        log.info("%s: the source of %s/%s (%d files)", self.current_user["name"], course, assignment, len(files))
        self.finish({"course_id": course, "assignment_id": assignment, "files": sorted(files)})


class GradesHandler(BaseHandler):
    def get(self):
        if self.get_query_argument("mine", ""):
            me = self.current_user["name"]
            courses = [c for c in courses_of(self.groups()) if may(self.groups(), Action.OWN_SUBMISSIONS, c)]
            # A student learns that a grader will look ("flagged"), not what the detectors saw: that is the team's.
            rows = [{k: v for k, v in _row(c, key, entry).items() if k != "flags"} for c in sorted(courses)
                    for key, entry in sorted(self.grading.status.get(c, {}).items())
                    if key.split("/")[1] == me]  # fmt: skip
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
        n = sum(self.grading.enqueue(course, assignment, k.split("/")[1], status[k]["submission"], force=True)
                for k in keys)  # fmt: skip
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
        job = _json_body(self)
        cells = job.get("cells")
        if not isinstance(cells, list) or not all(isinstance(c, dict) and isinstance(c.get("source"), str)
                                                  for c in cells):  # fmt: skip
            raise ExchangeError('"cells" must be a list of {"source": text, "grade": true|false}')
        limits = job.get("limits") if isinstance(job.get("limits"), dict) else {}
        timeout = _bounded(job.get("timeout"), 30, 1, 300)
        job_timeout = _bounded(job.get("job_timeout"), 300, 1, int(self.grading.job_timeout))
        clean = {
            "id": str(job.get("id") or "")[:100] or None,
            "cells": [{"source": c["source"], "grade": bool(c.get("grade")), "setup": bool(c.get("setup")),
                       "timeout": _seconds(c.get("timeout"), timeout), "in_process": c.get("in_process") is True}
                      for c in cells],
            "timeout": timeout, "job_timeout": job_timeout, "judge": job.get("judge") is True,
            "limits": {"memory_mib": _bounded(limits.get("memory_mib"), 1024, 64, 1024), "cpu_seconds": job_timeout,
                       "processes": _bounded(limits.get("processes"), 8, 1, 8)},
        }  # fmt: skip
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
        job = _json_body(self)
        if not isinstance(job.get("notebook"), str) or not isinstance(job.get("autotests"), str | None):
            raise ExchangeError('send {"notebook": the notebook as text, "autotests": autotests.yml as text or null}')
        from . import trusted  # nbgrader's: only where graders run it (the demo's environment has none)

        log.info("%s: expands the AUTOTEST directives of a notebook of %s in a sandbox", caller, course)
        s = self.grading.sandboxes
        answer = await asyncio.get_running_loop().run_in_executor(
            None, trusted.expand_in_sandbox, job["notebook"], job["autotests"], s.image, s.runtime, s.prefix, 300.0
        )
        self.finish(answer)


class IndexHandler(BaseHandler):
    @web.authenticated
    def get(self):
        groups = self.groups()
        courses = sorted(c for c in courses_of(groups) if may(groups, Action.COLLECT, c))
        base = self.settings["prefix"]
        items = ""
        for c in courses:
            progress = self.grading.progress(c)
            items += (
                f'<li><a href="{html.escape(url_path_join(base, "formgrader", c, "formgrader"))}/">'
                f"{html.escape(c)}</a>: {progress['graded']} graded, {progress['queued']} waiting</li>"
            )
        body = f"<ul>{items}</ul>" if courses else "<p>You grade no course.</p>"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Grading</title></head>"
                    f"<body><h1>Formgrader</h1>{body}</body></html>")  # fmt: skip


class FormgraderExchangeHandler(BaseHandler):
    """A course's formgrader holds no hub token: what it needs of the exchange it asks here with its own token, and
    only its own course's release, collect and feedback calls go on, with this service's token."""

    SUPPORTED_METHODS = ("GET", "PUT", "DELETE")

    async def forward(self, course: str, rest: str):
        if not self.is_formgrader_of(course):
            raise web.HTTPError(403, f"only {course}'s formgrader calls here")
        query = formgrader_exchange_call(course, self.request.method, rest, self.request.query_arguments)
        if query is None:
            raise web.HTTPError(403, f"a formgrader may not {self.request.method} {rest} (not {course}'s, or not "
                                     "release, collect or feedback)")  # fmt: skip
        url = self.grading.exchange_url.rstrip("/") + "/" + quote(rest, safe="/") + (f"?{query}" if query else "")
        body = self.request.body if self.request.method == "PUT" else None
        try:
            resp = await AsyncHTTPClient().fetch(url, method=self.request.method, body=body, raise_error=False,
                                                 request_timeout=600, headers={
                                                     "Authorization": f"token {self.settings['service_token']}",
                                                     "Content-Type": "application/json"})  # fmt: skip
        except (HTTPClientError, OSError) as e:
            raise web.HTTPError(502, f"the exchange did not answer: {e}") from None
        self.set_status(resp.code, resp.reason)
        self.set_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
        self.finish(resp.body or b"")

    get = put = delete = forward


# What a course's formgrader may ask of the exchange (studio_ext.exchange's release, list, collect and feedback
# calls), by method and path; {c} is its own course, {i} any id. Listings are narrowed to its course below.
FORMGRADER_EXCHANGE_CALLS = [
    ("GET", "api/assignments"),
    ("PUT", "api/assignments/{c}/{i}"),
    ("DELETE", "api/assignments/{c}/{i}"),
    ("GET", "api/collect/{c}/{i}"),
    ("GET", "api/submissions"),
    ("GET", "api/submissions/{c}/{i}/{i}/{i}"),
    ("PUT", "api/feedback/{c}/{i}/{i}/{i}"),
]
LISTING_ARGUMENTS = ("assignment", "student", "before_duedate")


def formgrader_exchange_call(course: str, method: str, path: str, arguments: dict[str, list[bytes]]) -> str | None:
    """The query to send on if ``course``'s formgrader may make this call, else None."""
    for allowed_method, pattern in FORMGRADER_EXCHANGE_CALLS:
        regex = re.escape(pattern).replace(r"\{c\}", re.escape(course)).replace(r"\{i\}", r"[^/]+")
        if method == allowed_method and re.fullmatch(regex, path) and ".." not in path.split("/"):
            break
    else:
        return None
    if "{c}" in pattern:
        return urlencode({k: v[-1] for k, v in arguments.items() if k == "before_duedate"})
    # A listing: its own course's, never "mine" (the service's own) or another's.
    if [v.decode() for v in arguments.get("course", [])] not in ([], [course]) or "mine" in arguments:
        return None
    kept = {k: v[-1].decode() for k, v in arguments.items() if k in LISTING_ARGUMENTS}
    return urlencode({"course": course, **kept})


class FormgraderProxy(BaseHandler):
    """A course's formgrader, for its graders and instructors only; only formgrader's own paths go through."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD")

    @web.authenticated
    async def proxy(self, course: str, rest: str):
        self.require(Action.COLLECT, course)
        parts = rest.split("/")
        if parts[0] != "formgrader" or any(p in (".", "..") for p in parts):
            raise web.HTTPError(404, "only formgrader's pages are here")
        if "path" in self.request.query_arguments:
            # nbgrader's start page would re-initialise formgrader from that folder (its formgrader refuses too).
            raise web.HTTPError(400, f"formgrader serves {course}'s course folder only")
        space = self.grading.space(course)
        try:
            fg = await self.formgraders.get(course, space.folder, space.owner)
        except RuntimeError as e:  # FormgraderUnavailable, or it did not start
            raise web.HTTPError(503, str(e)) from None
        url = fg.url + quote(rest, safe="/") + (f"?{self.request.query}" if self.request.query else "")
        # Formgrader's pages are never answered "not modified": each carries a nonce of its own response, and a
        # page reloaded from the browser's cache under a new response's policy would run none of its scripts.
        page = parts[1:2] != ["static"]
        headers = {k: v for k, v in self.request.headers.get_all()
                   if k.lower() not in HOP_HEADERS and not (page and k.lower() in CONDITIONAL_HEADERS)}  # fmt: skip
        headers["Authorization"] = f"token {fg.token}"
        body = self.request.body if self.request.method in ("POST", "PUT") else None
        try:
            resp = await AsyncHTTPClient().fetch(url, method=self.request.method, headers=headers, body=body,
                                                 follow_redirects=False, raise_error=False,
                                                 allow_nonstandard_methods=True, request_timeout=600)  # fmt: skip
        except HTTPClientError as e:
            raise web.HTTPError(502, f"formgrader of {course} did not answer: {e}") from None
        self.set_status(resp.code, resp.reason)
        seen = set()
        for k, v in resp.headers.get_all():
            if k.lower() in HOP_HEADERS or k.lower() == "content-security-policy":
                continue
            # Replacing this handler's own defaults (its Content-Type is text/html), repeating what repeats.
            (self.add_header if k.lower() in seen else self.set_header)(k, v)
            seen.add(k.lower())
        body = resp.body or b""
        if resp.headers.get("Content-Type", "").startswith("text/html"):
            nonce = secrets.token_urlsafe(18)
            body = nonce_scripts(body, nonce)
            self.set_header("Content-Security-Policy", formgrader_csp(nonce))
            self.clear_header("Etag")
            self.set_header("Cache-Control", "no-store")
            self.xsrf_token  # noqa: B018 -- sets the _xsrf cookie formgrader's scripts send back
        else:
            self.set_header("Content-Security-Policy", FORMGRADER_CSP_OTHER)
        self.finish(body or None)  # a 304 (formgrader's ETag) has no body, not even an empty one

    get = post = put = delete = head = proxy

    def compute_etag(self):
        return None  # formgrader's own, passed on (never one of a page with a nonce)

    def check_xsrf_cookie(self):
        """Formgrader's static files (nbgrader's own, the same for every course) are read without the xsrf token
        JupyterHub asks of cookie-authenticated requests that are not navigations: its stylesheet's fonts are
        fetched in CORS mode, which carries none (they showed as empty boxes). Everything else is checked."""
        rest = self.path_args[1] if len(self.path_args) > 1 else ""
        if self.request.method in ("GET", "HEAD") and rest.startswith("formgrader/static/") and ".." not in rest:
            return
        super().check_xsrf_cookie()


CONDITIONAL_HEADERS = ("if-none-match", "if-modified-since")
# Formgrader's pages: only formgrader's own scripts run (each gets this response's nonce), and its three inline
# handlers; images only from here or data:, nothing fetched elsewhere; framed by this hub's pages only.
FORMGRADER_HANDLERS = ("toggle_name(true);", "toggle_name(false);", "toggleAllNames()")
_HANDLER_HASHES = " ".join(
    "'sha256-" + base64.b64encode(hashlib.sha256(h.encode()).digest()).decode() + "'" for h in FORMGRADER_HANDLERS
)
FORMGRADER_CSP_OTHER = "default-src 'none'; frame-ancestors 'self'"


def formgrader_csp(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'nonce-{nonce}' 'unsafe-hashes' {_HANDLER_HASHES}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )


def nonce_scripts(html: bytes, nonce: str) -> bytes:
    """Formgrader's own ``<script>`` elements with the nonce: every one of a page, except in a submission view,
    where only those before the student's notebook (none of the notebook's can be formgrader's)."""
    from .render import notebook_start  # formgrader's pages: where nbgrader (and nbconvert) are installed

    cut = notebook_start(html)
    head, rest = html[:cut], html[cut:]
    return re.sub(rb"<script\b", b'<script nonce="' + nonce.encode() + b'"', head, flags=re.I) + rest


def _seconds(value, limit: int) -> float:
    """A cell's own time limit (calibrated), at most the job's ``limit``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return float(limit)
    return float(min(max(value, 0.1), limit))


def _bounded(value, fallback: int, low: int, high: int) -> int:
    """A number the caller chose, within what the service allows."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fallback
    return int(min(max(value, low), high))


def _row(course: str, key: str, entry: dict) -> dict:
    assignment, student = key.split("/")
    return {"course": course, "assignment": assignment, "student": student, **entry}


def _json_body(handler: web.RequestHandler) -> dict:
    return json_body(handler.request.body)


def _files(data: dict) -> dict[str, bytes]:
    files = decode_files(data)
    if not files:
        raise ExchangeError("no files were sent")
    return {check_path(name): content for name, content in files.items()}


def _valid_id(name: str) -> bool:
    try:
        check_id("course", name)
    except ExchangeError:
        return False
    return True


def make_app(
    grading: Grading, formgraders: Formgraders, prefix: str, hub_auth: HubOAuth, service_token: str = ""
) -> web.Application:
    part = r"([^/]+)"
    args = {"grading": grading, "formgraders": formgraders}
    routes = [
        ("api/health", HealthHandler, args),
        ("api/submitted", SubmittedHandler, args),
        (f"api/source/{part}/{part}", SourceHandler, args),
        ("api/grades", GradesHandler, args),
        ("api/progress", ProgressHandler, args),
        (f"api/regrade/{part}/{part}", RegradeHandler, args),
        (f"api/execute/{part}", ExecuteHandler, args),
        (f"api/autotests/{part}", AutotestsHandler, args),
        (f"formgrader/{part}/(.*)", FormgraderProxy, args),
        (f"formgrader-exchange/{part}/(.*)", FormgraderExchangeHandler, args),
        ("oauth_callback", HubOAuthCallbackHandler, {}),
        ("", IndexHandler, args),
    ]
    return web.Application(
        [(url_path_join(prefix, path), handler, kwargs) for path, handler, kwargs in routes],
        hub_auth=hub_auth, prefix=prefix, cookie_secret=os.urandom(32), service_token=service_token,
        login_url=hub_auth.login_url,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the courses' grading folders")
    parser.add_argument("--content-dir", type=Path, help="the course repository (<course>/source/<assignment>)")
    parser.add_argument(
        "--gradebook-url",
        default=os.environ.get("STUDIO_GRADEBOOK_URL", ""),
        help="PostgreSQL for the gradebooks (a schema per course); empty: SQLite per course",
    )
    parser.add_argument("--exchange-url", default=os.environ.get("STUDIO_EXCHANGE_URL", ""))
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1, help="submissions graded at once")
    parser.add_argument("--image", default="studio-learner:latest", help="the grading sandboxes' image")
    parser.add_argument("--runtime", default="runsc")
    parser.add_argument("--sandbox-prefix", default="studio-grade", help="the sandboxes' container names start with it")
    parser.add_argument("--mode", choices=("pooled", "strict"), default="pooled")
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--job-timeout", type=float, default=900, help="seconds one submission may take in all")
    parser.add_argument("--rescan", type=float, default=60, help="seconds between looks for ungraded submissions")
    parser.add_argument("--portal-url", default="", help="the portal, sent every grade (with $STUDIO_GRADES_TOKEN)")
    parser.add_argument("--no-warm", action="store_true", help="start sandboxes only when a job needs one")
    parser.add_argument("--formgrader-idle", type=float, default=3600,
                        help="seconds a course's formgrader may go unused before it is stopped")  # fmt: skip
    parser.add_argument("--moved-from", type=Path, help="where the course folders were kept before: moved from "
                        "there to --data-dir at start, when --data-dir holds none yet")  # fmt: skip
    parser.add_argument("--formgrader-account-prefix", default="studio-fg-",
                        help="the Unix accounts formgraders run under (one per course) are named so, then a digest "
                             "of the course id")  # fmt: skip
    run_service(serve(parser.parse_args(argv)), log)


def course_folders(folders: Path, moved_from: Path | None) -> None:
    """Make the folder of the course folders (each course account enters its own there, by name, and lists nothing);
    course folders kept before at ``moved_from`` are moved there whole, if it holds none yet."""
    if moved_from and moved_from.is_dir() and not (folders.is_dir() and any(folders.iterdir())):
        folders.parent.mkdir(parents=True, exist_ok=True)
        if folders.is_dir():
            folders.rmdir()
        shutil.move(moved_from, folders)
        log.info("course folders moved from %s to %s", moved_from, folders)
    folders.mkdir(parents=True, exist_ok=True)
    os.chmod(folders, 0o711)


async def serve(args: argparse.Namespace) -> None:
    course_folders(args.data_dir, args.moved_from)
    jobs.own_bin_first()  # for the formgraders, which open gradebooks too
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    portal = None
    if args.portal_url and os.environ.get("STUDIO_GRADES_TOKEN"):
        portal = PortalGrades(args.portal_url, os.environ["STUDIO_GRADES_TOKEN"])
    sandboxes = Sandboxes(image=args.image, runtime=args.runtime, mode=args.mode, timeout=args.cell_timeout,
                          prefix=args.sandbox_prefix)  # fmt: skip
    grading = Grading(args.data_dir, content_dir=args.content_dir, gradebook=args.gradebook_url,
                      exchange_url=args.exchange_url, sandboxes=sandboxes, workers=args.workers,
                      job_timeout=args.job_timeout, warm=not args.no_warm, portal=portal,
                      account_prefix=args.formgrader_account_prefix)  # fmt: skip
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grading/")
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8084")
    formgraders = Formgraders(prefix, service_url=url_path_join(url, prefix))
    # Groups change when the portal changes a role; the hub re-reads them within seconds, so must we.
    hub_auth = HubOAuth(cache_max_age=5)
    app = make_app(grading, formgraders, prefix, hub_auth, service_token=token)
    bind = urlparse(url)
    server = HTTPServer(app, max_body_size=64 * 2**20, xheaders=True)
    server.listen(bind.port or 80, bind.hostname or "")
    log.info("grading listening on %s%s, %d workers, courses in %s", url, prefix, grading.workers, args.data_dir)
    exchange = ExchangeClient(args.exchange_url, token)
    grading.send_all()
    try:
        while True:
            if args.exchange_url:
                queued = await grading.catch_up(exchange)
                if queued:
                    log.info("queued %d submissions not graded yet", queued)
            grading.kick()
            await asyncio.sleep(args.rescan)
            changed = await grading.refresh_scores()
            if changed:
                log.info("%d scores changed in the gradebooks (manual grading)", changed)
            formgraders.stop_idle(args.formgrader_idle)
    finally:
        formgraders.stop()
        grading.close()


if __name__ == "__main__":
    main()
