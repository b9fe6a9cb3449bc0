"""The exchange's HTTP API, run by the hub as a managed service (``python -m studio_hub.exchange.service``).

Every call carries the caller's JupyterHub token (``Authorization: token ...``); the hub says who it belongs to and
in which groups they are, and :mod:`.policy` decides. Files travel as JSON, ``{"files": {path: base64}}``.

    GET    api/assignments[?course=]                      released assignments of the caller's courses
    GET    api/assignments/<course>/<assignment>           fetch (the files)
    PUT    api/assignments/<course>/<assignment>           release  {"files", "duedate"?, "force"?}
    DELETE api/assignments/<course>/<assignment>           remove a release
    POST   api/submissions/<course>/<assignment>           submit   {"files"}
    GET    api/submissions?mine=1[&course=&assignment=]    the caller's own submissions, with feedback checksums
    GET    api/submissions?course=[&assignment=&student=]  every submission (graders, instructors)
    GET    api/collect/<course>/<assignment>[?before_duedate=1]   the submission to grade, one per student
    GET    api/submissions/<course>/<assignment>/<student>/<id>   a submission's files
    PUT    api/feedback/<course>/<assignment>/<student>/<id>      release feedback  {"files"}
    GET    api/feedback/<course>/<assignment>/<student>/<id>      fetch feedback
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.log import enable_pretty_logging

from ..service_auth import token_owner
from .policy import Action, courses_of, may
from .store import ExchangeError, ExchangeStore, Limits, check_id

log = logging.getLogger("studio.exchange")
# What a trusted service (the grading service, for formgrader) may do, in any course.
SERVICE_ACTIONS = {Action.LIST_RELEASED, Action.FETCH, Action.RELEASE, Action.COLLECT, Action.RELEASE_FEEDBACK}


def json_body(body: bytes) -> dict:
    """A request's JSON object, or ExchangeError (400) saying what is wrong with it."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ExchangeError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ExchangeError("the body must be a JSON object")
    return data


def decode_files(data: dict) -> dict[str, bytes]:
    """``{"files": {path: base64}}`` decoded; the paths are checked where they are used (the store)."""
    files = data.get("files")
    if not isinstance(files, dict):
        raise ExchangeError('"files" must be an object {path: base64}')
    try:
        return {name: base64.b64decode(content, validate=True) for name, content in files.items()}
    except (binascii.Error, TypeError, ValueError):
        raise ExchangeError("a file's content is not base64") from None


class Notifier:
    """Tells the grading service of each new submission (POST ``<url>api/submitted``, this service's hub token).

    Best effort and off the request path: a grading service that is down misses nothing, because it also looks for
    ungraded submissions on its own every minute."""

    def __init__(self, url: str, token: str):
        from tornado.httpclient import AsyncHTTPClient

        self.url, self.token = url.rstrip("/") + "/api/submitted", token
        self.client = AsyncHTTPClient()
        self.tasks: set[asyncio.Task] = set()

    def submitted(self, info: dict) -> None:
        task = asyncio.ensure_future(self._post(info))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, info: dict) -> None:
        body = json.dumps({k: info[k] for k in ("course_id", "assignment_id", "student_id", "id")})
        try:
            await self.client.fetch(self.url, method="POST", body=body, request_timeout=10,
                                    headers={"Authorization": f"token {self.token}",
                                             "Content-Type": "application/json"})  # fmt: skip
        except Exception as e:  # noqa: BLE001 -- logged; the grading service finds it on its next look
            log.warning("could not tell the grading service of %s/%s by %s: %s", info["course_id"],
                        info["assignment_id"], info["student_id"], e)  # fmt: skip


class ApiHandler(web.RequestHandler):
    store: ExchangeStore
    user: dict

    def initialize(self, store: ExchangeStore, hub_auth: HubAuth, trusted: frozenset[str] = frozenset(),
                   notify: Notifier | None = None):  # fmt: skip
        self.store = store
        self.hub_auth = hub_auth
        self.trusted = trusted
        self.notify = notify

    async def prepare(self):
        model = await token_owner(self.hub_auth, self.request.headers.get("Authorization", ""), "exchange")
        if model.get("kind") == "service":
            # The grading service collects, releases and returns feedback for the courses' teams (formgrader).
            if model.get("name") not in self.trusted:
                raise web.HTTPError(403, f"the service {model.get('name')} may not use the exchange")
            self.user = {"name": f"service:{model['name']}", "groups": [], "service": True}
            return
        self.user = model

    def allowed(self, action: Action, course: str) -> bool:
        if self.user.get("service"):
            return action in SERVICE_ACTIONS
        return may(self.user["groups"], action, course)

    def require(self, action: Action, course: str) -> None:
        check_id("course", course)
        if not self.allowed(action, course):
            raise web.HTTPError(403, f"{self.user['name']} may not {action} in {course}")

    def body(self) -> dict:
        return json_body(self.request.body)

    def files(self, data: dict) -> dict[str, bytes]:
        return decode_files(data)

    def send_files(self, files: dict[str, bytes], **info) -> None:
        self.finish({**info, "files": {name: base64.b64encode(data).decode() for name, data in files.items()}})

    def send_error(self, status_code: int = 500, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, ExchangeError):
            status_code = error.status
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, ExchangeError):
            message = str(error)
        elif isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        else:
            message = self._reason
        self.finish({"status": status_code, "message": message})

    def log_action(self, what: str, *args) -> None:
        log.info("%s: " + what, self.user["name"], *args)


class HealthHandler(ApiHandler):
    async def prepare(self):
        """The one route anyone may call (the hub's health checks): only this handler skips authentication, whatever
        another route's path ends with."""

    def get(self):
        self.finish({"ok": True})


class AssignmentsHandler(ApiHandler):
    def get(self):
        course = self.get_query_argument("course", "")
        courses = [course] if course else sorted(courses_of(self.user["groups"]))
        allowed = [c for c in courses if self.allowed(Action.LIST_RELEASED, check_id("course", c))]
        if course and not allowed:
            raise web.HTTPError(403, f"{self.user['name']} may not {Action.LIST_RELEASED} in {course}")
        self.finish({"assignments": self.store.releases(allowed)})


class AssignmentHandler(ApiHandler):
    def get(self, course: str, assignment: str):
        self.require(Action.FETCH, course)
        files = self.store.released_files(course, assignment)
        self.log_action("fetched %s/%s", course, assignment)
        self.send_files(files, course_id=course, assignment_id=assignment)

    def put(self, course: str, assignment: str):
        self.require(Action.RELEASE, course)
        data = self.body()
        files = self.files(data)
        exists = any(r["assignment_id"] == assignment for r in self.store.releases([course]))
        if exists and not data.get("force"):
            raise ExchangeError(f"{course}/{assignment} is released already; release with --force to replace it", 409)
        duedate = data.get("duedate")
        try:
            due = datetime.fromisoformat(duedate) if duedate else None
        except (TypeError, ValueError):
            raise ExchangeError(f"duedate {duedate!r} is not an ISO date and time") from None
        if due is not None and due.tzinfo is None:
            raise ExchangeError("duedate needs a time zone (nbgrader's gradebook keeps UTC)")
        info = self.store.release(course, assignment, files, by=self.user["name"], duedate=due)
        self.log_action("released %s/%s (%d files)", course, assignment, len(files))
        self.finish(info)

    def delete(self, course: str, assignment: str):
        self.require(Action.RELEASE, course)
        self.store.unrelease(course, assignment)
        self.log_action("removed the release of %s/%s", course, assignment)
        self.set_status(204)
        self.finish()


class SubmitHandler(ApiHandler):
    def post(self, course: str, assignment: str):
        self.require(Action.SUBMIT, course)
        info = self.store.submit(course, assignment, self.user["name"], self.files(self.body()))
        self.log_action("submitted %s/%s as %s%s", course, assignment, info["id"], " (late)" if info["late"] else "")
        if self.notify:
            self.notify.submitted(info)
        self.set_status(201)
        self.finish(info)


class SubmissionsHandler(ApiHandler):
    def get(self):
        course = self.get_query_argument("course", "")
        assignment = self.get_query_argument("assignment", None)
        if self.get_query_argument("mine", ""):
            theirs = courses_of(self.user["groups"])
            if course and course not in theirs:
                raise web.HTTPError(403, f"{self.user['name']} has no role in {course}")
            # A grader's or instructor's own list is empty (JupyterLab's assignment list asks everyone).
            courses = [course] if course else sorted(theirs)
            subs = []
            for c in courses:
                if self.allowed(Action.OWN_SUBMISSIONS, check_id("course", c)):
                    subs += self.store.submissions(c, assignment=assignment, student=self.user["name"])
        else:
            if not course:
                raise ExchangeError("name the course (?course=), or ask for your own submissions (?mine=1)")
            self.require(Action.COLLECT, course)
            subs = self.store.submissions(course, assignment=assignment,
                                          student=self.get_query_argument("student", None))  # fmt: skip
        self.finish({"submissions": subs})


class CollectHandler(ApiHandler):
    def get(self, course: str, assignment: str):
        self.require(Action.COLLECT, course)
        before = bool(self.get_query_argument("before_duedate", ""))
        students = sorted({s["student_id"] for s in self.store.submissions(course, assignment=assignment)})
        chosen = [self.store.latest(course, assignment, s, before_duedate=before) for s in students]
        self.log_action("collected %d submissions of %s/%s", len(chosen), course, assignment)
        self.finish({"submissions": chosen})


class SubmissionHandler(ApiHandler):
    def may_read(self, course: str, student: str) -> None:
        """Graders and instructors read anyone's in their course; a student only their own."""
        check_id("course", course)
        if self.allowed(Action.COLLECT, course):
            return
        if student == self.user["name"] and self.allowed(Action.OWN_SUBMISSIONS, course):
            return
        raise web.HTTPError(403, f"{self.user['name']} may not read {student}'s work in {course}")

    def get(self, course: str, assignment: str, student: str, sub_id: str):
        self.may_read(course, student)
        info = self.store.submission(course, assignment, student, sub_id)
        self.send_files(self.store.submission_files(course, assignment, student, sub_id), **info)


class FeedbackHandler(SubmissionHandler):
    def get(self, course: str, assignment: str, student: str, sub_id: str):
        self.may_read(course, student)
        self.send_files(self.store.feedback_files(course, assignment, student, sub_id))

    def put(self, course: str, assignment: str, student: str, sub_id: str):
        self.require(Action.RELEASE_FEEDBACK, course)
        info = self.store.put_feedback(course, assignment, student, sub_id, self.files(self.body()))
        self.log_action("released feedback on %s/%s for %s (%s)", course, assignment, student, sub_id)
        self.finish(info)


def make_app(store: ExchangeStore, hub_auth: HubAuth, prefix: str, *, trusted: frozenset[str] = frozenset(),
             notify: Notifier | None = None) -> web.Application:  # fmt: skip
    part = r"([^/]+)"
    routes = [
        ("api/health", HealthHandler),
        ("api/assignments", AssignmentsHandler),
        (f"api/assignments/{part}/{part}", AssignmentHandler),
        (f"api/submissions/{part}/{part}", SubmitHandler),
        ("api/submissions", SubmissionsHandler),
        (f"api/collect/{part}/{part}", CollectHandler),
        (f"api/submissions/{part}/{part}/{part}/{part}", SubmissionHandler),
        (f"api/feedback/{part}/{part}/{part}/{part}", FeedbackHandler),
    ]
    args = {"store": store, "hub_auth": hub_auth, "trusted": trusted, "notify": notify}
    return web.Application([(url_path_join(prefix, path), handler, args) for path, handler in routes])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="where releases and submissions are kept")
    parser.add_argument("--max-mib", type=float, default=20, help="largest release/submission/feedback, MiB")
    parser.add_argument("--student-mib", type=float, default=200,
                        help="all of one student's submissions in a course together, MiB")  # fmt: skip
    parser.add_argument(
        "--trust-service",
        action="append",
        default=[],
        help="a hub service that may release, collect and return feedback in every course",
    )
    parser.add_argument("--notify-url", default="", help="the grading service, told of every new submission")
    run_service(serve(parser.parse_args(argv)), log)


def run_service(main, logger: logging.Logger) -> None:
    """Run a hub-managed service's coroutine with logging on, until the hub stops it."""
    enable_pretty_logging()
    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(main)
    except KeyboardInterrupt:  # the hub stops its services with SIGINT
        logger.info("%s stopped", logger.name)


async def serve(args: argparse.Namespace) -> None:
    limits = Limits(max_bytes=int(args.max_mib * 2**20), max_student_bytes=int(args.student_mib * 2**20))
    store = ExchangeStore(args.data_dir, limits)
    # Groups change when the portal changes a role; the hub re-reads them within seconds, so must we.
    hub_auth = HubAuth(cache_max_age=5)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/exchange/")
    notify = Notifier(args.notify_url, os.environ.get("JUPYTERHUB_API_TOKEN", "")) if args.notify_url else None
    app = make_app(store, hub_auth, prefix, trusted=frozenset(args.trust_service), notify=notify)
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8083")
    bind = urlparse(url)
    # base64 adds a third: bodies up to twice the limit reach the handler, which says what the limit is.
    server = HTTPServer(app, max_body_size=2 * limits.max_bytes + 2**20, xheaders=True)
    server.listen(bind.port or 80, bind.hostname or "")
    log.info("exchange listening on %s%s, keeping files in %s", url, prefix, args.data_dir)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
