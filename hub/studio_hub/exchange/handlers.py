"""The exchange's HTTP API (the service: :mod:`.app`, ``python -m studio_hub.exchange``).

Every call carries the caller's JupyterHub token (``Authorization: token ...``); the hub says who it belongs to and
in which groups they are, and :mod:`.policy` decides. Files travel as JSON, ``{"files": {path: base64}}``; each body
is checked against its schema in ``studio_wire.exchange``.

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

import base64
from datetime import datetime

from studio_wire import exchange as wire
from tornado import web

from ..hints.exercises import released
from ..service import ApiHandler, HealthHandler, decode_files
from .policy import Action, courses_of, may
from .store import ExchangeError, check_id

# What a trusted service (the grading service, for formgrader) may do, in any course.
SERVICE_ACTIONS = {Action.LIST_RELEASED, Action.FETCH, Action.RELEASE, Action.COLLECT, Action.RELEASE_FEEDBACK}


class ExchangeHandler(ApiHandler):
    """A route of the exchange: the caller is a user (their groups decide, :mod:`.policy`) or a trusted service."""

    async def prepare(self):
        await super().prepare()
        # The grading service collects, releases and returns feedback for the courses' teams (formgrader).
        if self.user.get("service") and self.user["service"] not in self.app.trust_service:
            raise web.HTTPError(403, f"the service {self.user['service']} may not use the exchange")

    @property
    def store(self):
        return self.app.store

    @property
    def notify(self):
        return self.app.notifier

    @property
    def portal(self):
        return self.app.portal

    def allowed(self, action: Action, course: str) -> bool:
        if self.user.get("service"):
            return action in SERVICE_ACTIONS
        return may(self.user["groups"], action, course)

    def require(self, action: Action, course: str) -> None:
        check_id("course", course)
        if not self.allowed(action, course):
            raise web.HTTPError(403, f"{self.user['name']} may not {action} in {course}")

    def files(self, data: dict) -> dict[str, bytes]:
        return decode_files(data)

    def send_files(self, files: dict[str, bytes], **info) -> None:
        self.finish({**info, "files": {name: base64.b64encode(data).decode() for name, data in files.items()}})

    def log_action(self, what: str, *args) -> None:
        self.app.logs.info("%s: " + what, self.user["name"], *args)


class AssignmentsHandler(ExchangeHandler):
    def get(self):
        course = self.get_query_argument("course", "")
        courses = [course] if course else sorted(courses_of(self.user["groups"]))
        allowed = [c for c in courses if self.allowed(Action.LIST_RELEASED, check_id("course", c))]
        if course and not allowed:
            raise web.HTTPError(403, f"{self.user['name']} may not {Action.LIST_RELEASED} in {course}")
        self.finish({"assignments": self.store.releases(allowed)})


class AssignmentHandler(ExchangeHandler):
    def get(self, course: str, assignment: str):
        self.require(Action.FETCH, course)
        files = self.store.released_files(course, assignment)
        self.log_action("fetched %s/%s", course, assignment)
        if self.store.mark_fetched(course, assignment, self.user["name"]) and self.portal:
            self.portal.work(course, assignment, self.user["name"])
        self.send_files(files, course_id=course, assignment_id=assignment)

    def put(self, course: str, assignment: str):
        self.require(Action.RELEASE, course)
        data = self.body(wire.RELEASE)
        # What students fetch: the notebooks without their hint ladders (the hints service gives those, a rung at
        # a time, from the source).
        files = {
            name: released(content) if name.endswith(".ipynb") else content
            for name, content in self.files(data).items()
        }
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
        if self.portal:
            self.portal.assignment(course, assignment)
        self.finish(info)

    def delete(self, course: str, assignment: str):
        self.require(Action.RELEASE, course)
        self.store.unrelease(course, assignment)
        self.log_action("removed the release of %s/%s", course, assignment)
        if self.portal:
            self.portal.assignment(course, assignment)
        self.set_status(204)
        self.finish()


class SubmitHandler(ExchangeHandler):
    def post(self, course: str, assignment: str):
        self.require(Action.SUBMIT, course)
        info = self.store.submit(course, assignment, self.user["name"], self.files(self.body(wire.SUBMISSION)))
        self.log_action("submitted %s/%s as %s%s", course, assignment, info["id"], " (late)" if info["late"] else "")
        if self.notify:
            self.notify.submitted(info)
        if self.portal:
            self.portal.work(course, assignment, self.user["name"])
        self.set_status(201)
        self.finish(info)


class SubmissionsHandler(ExchangeHandler):
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
            subs = self.store.submissions(
                course, assignment=assignment, student=self.get_query_argument("student", None)
            )
        self.finish({"submissions": subs})


class CollectHandler(ExchangeHandler):
    def get(self, course: str, assignment: str):
        self.require(Action.COLLECT, course)
        before = bool(self.get_query_argument("before_duedate", ""))
        students = sorted({s["student_id"] for s in self.store.submissions(course, assignment=assignment)})
        chosen = [self.store.latest(course, assignment, s, before_duedate=before) for s in students]
        self.log_action("collected %d submissions of %s/%s", len(chosen), course, assignment)
        self.finish({"submissions": chosen})


class SubmissionHandler(ExchangeHandler):
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
        info = self.store.put_feedback(course, assignment, student, sub_id, self.files(self.body(wire.FEEDBACK)))
        self.log_action("released feedback on %s/%s for %s (%s)", course, assignment, student, sub_id)
        if self.portal:
            self.portal.work(course, assignment, student)
        self.finish(info)


ROUTES = [
    ("api/health", HealthHandler),
    ("api/assignments", AssignmentsHandler),
    (r"api/assignments/([^/]+)/([^/]+)", AssignmentHandler),
    (r"api/submissions/([^/]+)/([^/]+)", SubmitHandler),
    ("api/submissions", SubmissionsHandler),
    (r"api/collect/([^/]+)/([^/]+)", CollectHandler),
    (r"api/submissions/([^/]+)/([^/]+)/([^/]+)/([^/]+)", SubmissionHandler),
    (r"api/feedback/([^/]+)/([^/]+)/([^/]+)/([^/]+)", FeedbackHandler),
]
