"""What the grading service's worker processes do: grade one student's latest submission of one assignment.

Each worker is a process of its own (started once, with the service), holding a warm grading sandbox and an
nbgrader API per course; a job there:

1. makes sure the gradebook knows the assignment as its source now is (``nbgrader generate_assignment``, once
   per source version, under the course's lock), and the instructor's solution is measured in the sandbox for
   each cell's time limit (``SandboxedExecute.calibrate``); the service does this step as soon as an instructor
   releases the assignment;
2. takes the submission's files from the exchange (the service's hub token) into ``submitted/`` with nbgrader's
   timestamp;
3. runs nbgrader's autograde for that student: sanitizing, execution in the sandbox, hidden tests, checksums,
   late penalty, the gradebook (``studio_grader.pipeline``);
4. answers with the scores the gradebook now holds, flagged or not, and what the sandbox reported.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from studio_wire import http

from .autograde import _check_metadata_schema_once, _load_config, _share_gradebook_engines
from .courses import CourseSpace
from .readable import unreadable
from .sandbox import engine_problem

_APIS: dict[str, tuple[float, object]] = {}  # course folder → (config mtime, NbGraderAPI)
_SANDBOXES: dict = {}  # this worker's SandboxedExecute settings (image, runtime, mode)
SOURCE_STAMP = ".generated"


def own_bin_first() -> None:
    """nbgrader opens a gradebook by running the ``alembic`` command: this environment's, whatever PATH says."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def init_worker(settings: dict | None = None, warm: bool = True) -> None:
    """Once per worker process: nbgrader's costly set-up, and (``warm``) a grading sandbox of ``settings``
    (SandboxedExecute's: image, runtime, engine, mode) started before any job needs it."""
    own_bin_first()
    _share_gradebook_engines()
    _check_metadata_schema_once()
    _SANDBOXES.update(settings or {})
    if settings and warm and not engine_problem(settings.get("engine", "docker")):
        from .preprocessor import SandboxedExecute, pool_for

        execute = SandboxedExecute(**settings)  # as the courses' configs set it (CourseSpace.prepare)
        try:
            pool_for(execute.spec(), execute.sandboxes, execute.mode)
        except Exception as e:  # noqa: BLE001 -- jobs say why when they need the sandbox; the worker stays
            print(f"grading worker {os.getpid()}: no warm sandbox: {e}", flush=True)


def _api(folder: Path):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    mtime = (folder / "nbgrader_config.py").stat().st_mtime
    cached = _APIS.get(str(folder))
    os.chdir(folder)  # nbgrader reads the course's nbgrader_config.py from the working folder
    if cached is None or cached[0] != mtime:
        config = _load_config()
        cached = _APIS[str(folder)] = (mtime, NbGraderAPI(coursedir=CourseDirectory(config=config), config=config))
    return cached[1]


@contextmanager
def _course_lock(folder: Path):
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def source_version(source: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(source.rglob("*")):
        if p.is_file() and p.name != SOURCE_STAMP:
            h.update(str(p.relative_to(source)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def ensure_generated(space: CourseSpace, assignment: str, api) -> None:
    """The gradebook holds the assignment's notebooks, grade cells and checksums from its current source."""
    from .preprocessor import calibrate

    source = space.source_dir(assignment)
    if source is None:
        raise GradingError(
            f"no source of {assignment} on the grading side: an instructor releases it "
            f"(nbgrader release_assignment), or the course repository has source/{assignment}"
        )
    with _course_lock(space.folder):
        version = source_version(source)
        stamp = source / SOURCE_STAMP
        if stamp.is_file() and stamp.read_text() == version:
            return
        result = api.generate_assignment(assignment, force=True)
        if not result.get("success"):
            # nbgrader's own log says what was wrong (its error is only "see the above traceback"): the first
            # exception it names, then the log's end.
            text = f"{result.get('log') or ''}\n{result.get('error') or ''}"
            causes = [
                m
                for m in re.findall(r"^\s*(\w*(?:Error|Exception): .*)$", text, re.M)
                if not m.startswith("NbGraderException")
            ]
            raise GradingError(
                f"nbgrader generate_assignment {assignment} failed: "
                f"{causes[0][:1000] if causes else ''} ... {text[-1200:]}"
            )
        stamp.write_text(version)
        try:  # the solution measured now, before submissions come (else the first submission measures it)
            calibrate(api.config, assignment)
        except Exception as e:  # noqa: BLE001 -- the sandbox may be down: grading says so when it needs it
            print(f"grading worker {os.getpid()}: {assignment}'s solution not measured: {e}", file=sys.stderr)
        space.hand_over(f"source/{assignment}", f"release/{assignment}", "gradebook")


def publish(space: CourseSpace, assignment: str, due: str | None) -> str:
    """Release an assignment from the course repository's source, as its instructor would with nbgrader (generate,
    the due date in the gradebook, release to the exchange; the solution measured on the way): the demo's courses
    are ready to work on at first look. Returns nbgrader's release log."""
    from datetime import datetime

    from nbgrader.api import Gradebook

    api = _api(space.folder)
    ensure_generated(space, assignment, api)
    if due:
        with Gradebook(space.db_url, space.course) as gb:
            gb.update_or_create_assignment(assignment, duedate=datetime.fromisoformat(due))
    result = api.release_assignment(assignment)
    if not result.get("success"):
        raise GradingError(f"nbgrader release_assignment {assignment} failed: {(result.get('log') or '')[-1500:]}")
    return result.get("log") or ""


def prepare(space: CourseSpace, assignment: str) -> None:
    """What the service does when an assignment's source arrives: the gradebook learns it before any submission."""
    ensure_generated(space, assignment, _api(space.folder))


class GradingError(Exception):
    pass


def fetch_submission(exchange_url: str, token: str, course: str, assignment: str, student: str, sub_id: str):
    from studio_hub.exchange.store import check_path

    url = f"{exchange_url.rstrip('/')}/api/submissions/{course}/{assignment}/{student}/{sub_id}"
    try:
        with http.client(120) as c:
            resp = c.get(url, headers={"Authorization": f"token {token}"})
    except http.Error as e:
        raise GradingError(f"the exchange did not answer: {type(e).__name__}: {e}") from None
    if resp.status_code != 200:
        raise GradingError(f"the exchange did not give the submission ({resp.status_code}): {resp.text[:300]}")
    data = resp.json()
    files = {check_path(name): base64.b64decode(content) for name, content in data["files"].items()}
    return files, data["timestamp"]


def grade(space: CourseSpace, assignment: str, student: str, sub_id: str | None) -> dict:
    """Grade one submission (``sub_id`` from the exchange; None: what ``submitted/`` holds already); never raises:
    the answer says what happened."""
    from .preprocessor import REPORTS

    t0 = time.monotonic()
    start = len(REPORTS)
    out = {"course": space.course, "assignment": assignment, "student": student, "submission": sub_id}
    try:
        if why := engine_problem(_SANDBOXES.get("engine", "docker")):
            # Not the student's fault, and not a score: the submission stays in the exchange, to be graded (regrade)
            # where a sandbox can run.
            raise GradingError(f"not graded: no grading sandbox can run here ({why})")
        api = _api(space.folder)
        ensure_generated(space, assignment, api)
        if sub_id is None:
            timestamp = (space.folder / "submitted" / student / assignment / "timestamp.txt").read_text().strip()
        else:
            files, timestamp = fetch_submission(
                space.exchange_url, space.exchange_token, space.course, assignment, student, sub_id
            )
            space.put_submission(assignment, student, files, timestamp)
        notebooks = [p.name for p in (space.folder / "source" / assignment).glob("*.ipynb")]
        reasons = unreadable(space.folder / "submitted" / student / assignment, notebooks)
        if reasons:  # said plainly to the course team and the student, not as nbgrader's traceback
            raise GradingError("; ".join(reasons))
        for rel in (f"autograded/{student}/{assignment}", f"submitted/{student}/{assignment}", "gradebook/x"):
            space.check_shared(rel)  # the course account's folders: the service writes through no link there
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        finally:  # what it wrote, formgrader may replace (its own autograde, manual grades)
            space.hand_over(f"autograded/{student}/{assignment}", "gradebook")
        if not result.get("success"):
            raise GradingError((result.get("error") or result.get("log") or "nbgrader autograde failed")[-2000:])
        out.update(scores(space.db_url, assignment, student), state="graded", timestamp=timestamp)
    except Exception as e:  # noqa: BLE001 -- one submission never stops the others; the reason is kept
        out.update(
            state="failed", reason=f"{type(e).__name__}: {e}"[-2000:] if not isinstance(e, GradingError) else str(e)
        )
    reports = REPORTS[start:]
    out["flags"] = [
        f"{r['notebook']}: {why}"
        for r in reports
        for why in ([r["reason"]] if r.get("reason") else []) + (r.get("flags") or [])
    ]
    out["seconds"] = round(time.monotonic() - t0, 3)
    out["cpu_seconds"] = round(sum(r.get("cpu_seconds") or 0 for r in reports), 4)  # in the sandbox
    out["graded_at"] = time.time()
    return out


def ready(seconds: float) -> int:
    """A worker that answers has finished its set-up (warm sandbox included)."""
    time.sleep(seconds)
    return os.getpid()


def execute(job: dict) -> dict:
    """A grader's own ``nbgrader autograde`` (``SandboxedExecute.backend = 'service'``): one notebook's cells run
    in this worker's sandbox; the answer is the sandbox's, as the grader's preprocessor would get it from Docker."""
    from .preprocessor import SandboxedExecute, pool_for
    from .sandbox import SandboxError

    settings = SandboxedExecute(**_SANDBOXES)
    try:
        return pool_for(settings.spec(), settings.sandboxes, settings.mode).run(job, timeout=job["job_timeout"] + 60)
    except SandboxError as e:
        return {
            "status": "crashed",
            "cells": [],
            "flags": [],
            "clean": True,
            "reason": f"the notebook's sandbox died while running it: {str(e)[:300]}",
        }


def scores(db_url: str, assignment: str, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return _scores(gb.find_submission(assignment, student))


def course_scores(db_url: str) -> dict[str, dict]:
    """Every submission's scores in a course's gradebook, by "<assignment>/<student>" (after manual grading too)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return {
            f"{sub.assignment.name}/{sub.student.id}": _scores(sub)
            for assignment in gb.assignments
            for sub in assignment.submissions
        }


def _scores(sub) -> dict:
    return {
        "score": sub.score,
        "max_score": sub.max_score,
        "auto_score": sum(g.auto_score or 0 for nb in sub.notebooks for g in nb.grades),
        "needs_manual_grade": bool(sub.needs_manual_grade),
        "flagged": any(nb.flagged for nb in sub.notebooks),
        "late_penalty": sub.late_submission_penalty,
    }
