"""nbgrader's Execute step, done in a grading sandbox; and the report of what the sandbox saw.

Enabled by the grader's nbgrader config (``jupyter-config/nbgrader_config.py`` ships it)::

    c.Autograde.autograde_preprocessors = [SandboxedExecute, ..., SaveAutoGrades, ..., RecordGradingReport]

so ``nbgrader autograde`` keeps every other step of its pipeline (sanitizing, hidden tests put back from the
gradebook's copy of the source, checksums, late penalties, the gradebook) and only the execution moves into
gVisor. What comes back from the sandbox is only each code cell's outputs and execution count: the cells'
sources and nbgrader metadata stay the grader's copy, so nothing a submission prints or does can rewrite them.
A cell that never ran (the program ended, or ran out of time) gets an error output saying so, because nbgrader
gives a test cell with no error its full points.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked, is_solution
from studio_wire.grading import RESULT, problem
from traitlets import Bool, Enum, Float, Integer, Unicode, default

from .sandbox import ENGINES, SandboxError, SandboxPool, SandboxSpec, engine_problem
from .sanitize import NOTES

_POOLS: dict[tuple, SandboxPool] = {}
_POOLS_LOCK = threading.Lock()
# What each graded notebook's sandbox run said, in this process (the parallel autograde reads it).
REPORTS: list[dict] = []


def pool_for(spec: SandboxSpec, size: int, mode: str) -> SandboxPool:
    key = (spec, size, mode)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = SandboxPool(spec, size=size, mode=mode)
            atexit.register(_POOLS[key].close)
        return _POOLS[key]


class SandboxedExecute(NbGraderPreprocessor):
    timeout = Integer(
        30, help="Seconds each cell may run (nbgrader's Execute.timeout). c.SandboxedExecute.timeout = 30"
    ).tag(config=True)
    job_timeout = Integer(300, help="Seconds one notebook may run in all. c.SandboxedExecute.job_timeout = 300").tag(
        config=True
    )
    mode = Enum(
        ("pooled", "strict"),
        "pooled",
        help="""'pooled': long-lived sandboxes, each notebook in a fresh
        process under its own uid, everything of the previous one removed first (the default); 'strict': a fresh
        sandbox per notebook. c.SandboxedExecute.mode = 'strict'""",
    ).tag(config=True)
    sandboxes = Integer(
        1, help="Sandboxes this process keeps (graded one notebook at a time each). c.SandboxedExecute.sandboxes = 1"
    ).tag(config=True)
    image = Unicode(
        "studio-learner:latest",
        help="The image sandboxes run: the learners' own, so a submission "
        "meets the packages it was written with. c.SandboxedExecute.image = 'studio-learner:latest'",
    ).tag(config=True)
    runtime = Unicode(
        "runsc", help="Docker runtime of the sandboxes (gVisor). c.SandboxedExecute.runtime = 'runsc'"
    ).tag(config=True)
    engine = Enum(
        ENGINES,
        "docker",
        help="""What runs the sandboxes: 'docker', gVisor containers of `image`; 'runsc', gVisor on this
        machine's own system and Python environment (no Docker; root); 'bwrap', bubblewrap on this machine around its
        own Python environment (no Docker; root; studio_grader.sandbox says what it does and does not give).
        c.SandboxedExecute.engine = 'docker'""",
    ).tag(config=True)
    prefix = Unicode(
        "studio-grade",
        help="Names of the sandboxes' containers start with it (then a random part). "
        "c.SandboxedExecute.prefix = 'studio-grade'",
    ).tag(config=True)
    memory_mib = Integer(1024, help="Memory one notebook may use, MiB. c.SandboxedExecute.memory_mib = 1024").tag(
        config=True
    )

    judge = Bool(
        True,
        help="""Test cells run in a judge process of their own in the sandbox, never in the student's interpreter:
        what they touch of the student's work crosses as plain data or as proxies whose calls run on the student's side
        (studio_sandbox.crossing; docs/judge.md). False runs every cell in the student's interpreter, as nbgrader
        does. c.SandboxedExecute.judge = True""",
    ).tag(config=True)
    calibrate = Bool(
        True,
        help="""Each answer and test cell's time limit comes from the instructor's solution: its
        seconds in the sandbox (measured when the assignment is released, or else at its first submission, once
        per version of its source, kept in the course's gradebook folder) times time_factor, no less than
        time_floor, no more than timeout. A loop stops in a fraction of a
        second where the solution takes milliseconds. Other cells, and any the solution could not run, get timeout.
        c.SandboxedExecute.calibrate = True""",
    ).tag(config=True)
    time_factor = Float(
        20.0,
        help="A calibrated cell may take this many times the solution's seconds. c.SandboxedExecute.time_factor = 20.0",
    ).tag(config=True)
    calibration_runs = Integer(
        3,
        help="""Times the solution is run to measure it, each in a sandbox's fresh process as a
        submission is; each cell's seconds are its fastest run's (the least disturbed by whatever else the machine
        was doing). c.SandboxedExecute.calibration_runs = 3""",
    ).tag(config=True)
    time_floor = Float(0.5, help="Seconds a calibrated cell may always take. c.SandboxedExecute.time_floor = 0.5").tag(
        config=True
    )
    processes = Integer(
        8, help="Processes one notebook may run at once (its kernel included). c.SandboxedExecute.processes = 8"
    ).tag(config=True)

    backend = Enum(
        ("auto", "docker", "service"),
        "auto",
        help="""Where the sandboxes run. 'docker': started here
        (needs Docker with gVisor); 'service': the hub's grading service runs the notebook in one of its sandboxes
        (graders and instructors of the course, from a server without Docker); 'auto': Docker if this user may use
        it, else the service if $STUDIO_GRADING_URL is set. c.SandboxedExecute.backend = 'auto'""",
    ).tag(config=True)
    grading_url = Unicode(help="The grading service (default: $STUDIO_GRADING_URL)").tag(config=True)

    @default("grading_url")
    def _grading_url_default(self) -> str:
        return os.environ.get("STUDIO_GRADING_URL", "")

    def chosen_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        if self.engine in ("bwrap", "runsc"):  # "docker" is where sandboxes start here, whatever their engine
            return "service" if engine_problem(self.engine) and self.grading_url else "docker"
        socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
        if os.path.exists(socket) and os.access(socket, os.R_OK | os.W_OK):
            return "docker"
        return "service" if self.grading_url else "docker"

    def spec(self) -> SandboxSpec:
        return SandboxSpec(
            image=self.image,
            runtime=self.runtime,
            engine=self.engine,
            job_memory_mib=self.memory_mib,
            memory_mib=self.memory_mib + 512,
            prefix=self.prefix,
        )

    def preprocess(self, nb, resources):
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        source = self.source_notebook(resources)
        limits = self.calibrated(resources, source) if self.calibrate else {}
        # The course's choice, read from its source notebook only: a submission's own metadata never opts in.
        in_process = in_process_cells(source[1]) if source and self.judge else set()
        job = self.job(code, resources.get("nbgrader", {}).get("student"), limits, in_process)
        result = self.execute(job)
        apply_result(code, result)
        report = {key: result.get(key) for key in ("status", "reason", "flags", "seconds", "cpu_seconds", "clean")}
        report.update(mode=self.mode, **{k: resources.get("nbgrader", {}).get(k) for k in ("student", "notebook")})
        report["in_process"] = [c["grade_id"] for c in job["cells"] if c.get("in_process")]
        # What sanitizing had to put back in this notebook's nbgrader metadata (sanitize.RestoreNbgraderMetadata).
        report["flags"] = NOTES.pop((report["student"], report["notebook"]), []) + (report["flags"] or [])
        resources["studio_grading"] = report
        if report["status"] != "ok" or report["flags"]:
            self.log.warning(
                "%s/%s: %s %s %s",
                report["student"],
                report["notebook"],
                report["status"],
                report["reason"],
                "; ".join(report["flags"] or []),
            )
        return nb, resources

    def job(self, code: list, job_id: str | None, limits: dict[str, float], in_process: set[str] = frozenset()) -> dict:
        """The sandbox's job for a notebook's code cells; ``limits``: calibrated seconds by nbgrader cell id;
        ``in_process``: the ids of test cells the course runs in the student's interpreter."""
        cells = []
        for cell in code:
            # "setup": a read-only cell of the instructor's (nbgrader put its source back): the judge makes its
            # imports too, so a test's `np` is the judge's numpy whatever the notebook rebinds it to later.
            test = is_grade(cell) and not is_solution(cell)
            job_cell = {"source": cell.source, "grade": test, "setup": is_locked(cell) and not is_grade(cell)}
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if isinstance(grade_id, str) and grade_id in limits:
                job_cell["timeout"] = limits[grade_id]
            if test and isinstance(grade_id, str) and grade_id in in_process:
                job_cell.update(in_process=True, grade_id=grade_id)
            cells.append(job_cell)
        return {
            "id": job_id,
            "cells": cells,
            "timeout": self.timeout,
            "job_timeout": self.job_timeout,
            "judge": self.judge,
            "limits": {"memory_mib": self.memory_mib, "cpu_seconds": self.job_timeout, "processes": self.processes},
        }

    def execute(self, job: dict) -> dict:
        """Run ``job`` in a sandbox (Docker here, or the grading service's); what the sandbox recorded, checked
        against studio_wire.grading.RESULT (its outputs come from a process the student's code ran in)."""
        try:
            if self.chosen_backend() == "service":
                result = run_at_service(
                    self.grading_url, self.config.CourseDirectory.course_id, job, timeout=self.job_timeout + 120
                )
            else:
                result = pool_for(self.spec(), self.sandboxes, self.mode).run(job, timeout=self.job_timeout + 60)
        except SandboxError as e:
            # Twice in a row (the pool retries once in a new sandbox): the submission takes its sandbox down, e.g.
            # by using all its memory across many processes. It is graded as not having run, and flagged.
            return {
                "status": "crashed",
                "cells": [],
                "flags": [],
                "clean": True,
                "reason": f"the notebook's sandbox died while running it (too much memory or too many "
                f"processes?): {str(e)[:300]}",
            }
        wrong = problem(RESULT, result)
        if wrong:  # graded as not having run, and flagged for a person: nothing of it reaches nbgrader
            return {"status": "crashed", "cells": [], "flags": [wrong], "clean": False, "reason": wrong}
        return result

    def source_notebook(self, resources: dict) -> tuple[bytes, dict] | None:
        """The instructor's version of the notebook being graded (the course's ``source/``): its bytes and, where it
        reads as a notebook, its content; None where the course has none here."""
        from nbgrader.coursedir import CourseDirectory

        info = resources.get("nbgrader", {})
        assignment, notebook = info.get("assignment"), info.get("notebook")
        if not assignment or not notebook:
            return None
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook}.ipynb"
        try:
            data = path.read_bytes()
            return data, nbformat.reads(data, as_version=4)
        except (OSError, ValueError, nbformat.reader.NotJSONError):
            return None

    def calibrated(self, resources: dict, source: tuple[bytes, dict] | None) -> dict[str, float]:
        """Each answer and test cell's time limit, by nbgrader cell id, from the instructor's solution (the source
        notebook) run in the sandbox as a submission is; measured once per version of the source and kept. Empty
        where there is no source to measure (each cell then gets ``timeout``)."""
        info = resources.get("nbgrader", {})
        if source is None:
            return {}
        seconds = self.solution_seconds(info.get("assignment"), info.get("notebook"), source)
        return {
            gid: min(float(self.timeout), max(self.time_floor, self.time_factor * float(t)))
            for gid, t in seconds.items()
            if isinstance(t, int | float)
        }

    def solution_seconds(self, assignment: str, notebook: str, source: tuple[bytes, dict]) -> dict[str, float]:
        """Seconds each cell of the notebook's solution took in the sandbox: kept, or measured now (by one process
        at a time: the others wait for its figures rather than measure beside it)."""
        from nbgrader.coursedir import CourseDirectory

        data, solution = source
        digest = hashlib.sha256(data).hexdigest()
        root = Path(CourseDirectory(config=self.config).root)
        kept = (root / "gradebook" if (root / "gradebook").is_dir() else root) / f".timing-{assignment}.json"

        def read() -> dict:
            try:
                timing = json.loads(kept.read_text())
            except (OSError, ValueError):
                return {}
            return timing if isinstance(timing, dict) else {}

        def current(timing: dict) -> dict | None:
            entry = timing.get(notebook)
            ok = isinstance(entry, dict) and entry.get("source") == digest and isinstance(entry.get("seconds"), dict)
            return entry["seconds"] if ok else None

        seconds = current(read())
        if seconds is not None:
            return seconds
        try:
            lock = open(kept.with_name(f"{kept.name}.lock"), "a")  # noqa: SIM115 -- held until measured
        except OSError:  # whoever cannot write beside it measures for itself
            lock = None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            timing = read()
            seconds = current(timing)
            if seconds is None:
                seconds = self._measure(solution, assignment)
                timing[notebook] = {"source": digest, "seconds": seconds}
                try:  # kept for the next submission
                    partial = kept.with_name(f"{kept.name}.{os.getpid()}")
                    partial.write_text(json.dumps(timing))
                    partial.replace(kept)
                except OSError:
                    pass
            return seconds
        finally:
            if lock is not None:
                lock.close()

    def _measure(self, nb, assignment: str) -> dict[str, float]:
        """Seconds each nbgrader cell of the solution took in the sandbox, the fastest of ``calibration_runs``;
        cells that failed are not measured."""
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        runs: dict[str, list[float]] = {}
        for _ in range(max(1, self.calibration_runs)):
            result = self.execute(self.job(code, f"calibrate {assignment}", {}))
            for cell, ran in zip(code, result.get("cells", []), strict=False):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                failed = any(o.get("output_type") == "error" for o in ran.get("outputs", []))
                if isinstance(grade_id, str) and isinstance(ran.get("seconds"), int | float) and not failed:
                    runs.setdefault(grade_id, []).append(ran["seconds"])
            if result.get("status") != "ok":
                self.log.warning(
                    "%s: the solution did not run to its end in the sandbox (%s); its cells after that "
                    "get the full time limit",
                    assignment,
                    result.get("reason"),
                )
                break
        return {grade_id: min(seconds) for grade_id, seconds in runs.items()}


def calibrate(config, assignment: str) -> dict[str, dict[str, float]]:
    """At release: each notebook's solution of the assignment measured in the sandbox (unless its figures for this
    version are kept), so that the first submissions neither wait for it nor are measured against a busy machine.
    Seconds per cell, by notebook."""
    from nbgrader.coursedir import CourseDirectory

    execute = SandboxedExecute(config=config)
    if not execute.calibrate:
        return {}
    coursedir = CourseDirectory(config=config)
    folder = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    measured = {}
    for path in sorted(folder.glob("*.ipynb")):
        source = execute.source_notebook({"nbgrader": {"assignment": assignment, "notebook": path.stem}})
        if source is not None:
            measured[path.stem] = execute.solution_seconds(assignment, path.stem, source)
    return measured


def in_process_cells(nb) -> set[str]:
    """The nbgrader ids of the test cells a notebook opts into in-process mode (``"studio": {"in_process": true}``
    in a cell's metadata): they run in the student's interpreter, as stock nbgrader runs every cell, for a test that
    needs what the judge cannot carry. Their verdicts are then the student's code's to change, and formgrader says
    so on every submission (render.py)."""
    found = set()
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        studio = cell.get("metadata", {}).get("studio")
        if (
            cell.cell_type == "code"
            and isinstance(grade_id, str)
            and isinstance(studio, dict)
            and studio.get("in_process") is True
        ):
            found.add(grade_id)
    return found


class GradingServiceError(RuntimeError):
    """The grading service did not run the notebook (refused, unreachable): nbgrader reports this submission as
    failed, and grades nothing for it."""


def run_at_service(url: str, course: str, job: dict, timeout: float) -> dict:
    """Run a notebook's job in one of the grading service's sandboxes."""
    if not course:
        raise GradingServiceError("the grading service needs the course: set c.CourseDirectory.course_id")
    return call_service(url, f"api/execute/{course}", job, timeout)


def call_service(url: str, path: str, body: dict, timeout: float) -> dict:
    """POST ``body`` to the grading service's ``path`` as the caller: a course's formgrader with its own token,
    anyone else with their hub token; its JSON answer, or GradingServiceError."""
    from studio_wire import http

    if path.endswith("/"):
        raise GradingServiceError("the grading service needs the course: set c.CourseDirectory.course_id")
    token = os.environ.get("STUDIO_FORMGRADER_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    try:
        with http.client(timeout) as c:
            resp = c.post(f"{url.rstrip('/')}/{path}", json=body, headers={"Authorization": f"token {token}"})
    except http.Error as e:
        raise GradingServiceError(f"the grading service cannot be reached ({type(e).__name__})") from None
    if resp.status_code != 200:
        try:
            message = resp.json().get("message") or resp.reason_phrase
        except ValueError:
            message = resp.reason_phrase
        raise GradingServiceError(f"the grading service refused: {message} (HTTP {resp.status_code})")
    return resp.json()


def apply_result(code_cells: list, result: dict) -> None:
    """Each code cell gets the outputs the sandbox recorded for it; cells it never reached get an error."""
    ran = result.get("cells", [])
    why = result.get("reason") or result.get("status") or "the notebook stopped"
    for i, cell in enumerate(code_cells):
        if i < len(ran):
            cell.outputs = [nbformat.from_dict(out) for out in ran[i]["outputs"]]
            cell.execution_count = ran[i]["execution_count"]
        else:
            cell.outputs = [
                nbformat.from_dict(
                    {
                        "output_type": "error",
                        "ename": "NotRun",
                        "evalue": f"this cell did not run: {why}",
                        "traceback": [f"NotRun: this cell did not run: {why}"],
                    }
                )
            ]
            cell.execution_count = None


class RecordGradingReport(NbGraderPreprocessor):
    """After SaveAutoGrades: a notebook the sandbox flagged (or that timed out or crashed) is flagged in the
    gradebook for a person to look at, and what happened is kept in this process's ``REPORTS``."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        report = resources.get("studio_grading")
        if not report:
            return nb, resources
        REPORTS.append(report)
        # What formgrader shows the course team comes from here only, never from what the submission carried.
        studio = nb.metadata.setdefault("studio", {})
        if not isinstance(studio, dict):
            studio = nb.metadata["studio"] = {}
        studio.pop("needs_review", None)
        studio.pop("in_process", None)
        if report.get("in_process"):
            studio["in_process"] = list(report["in_process"])
        if report["flags"] or report["status"] != "ok":
            # Kept with the autograded notebook: formgrader's submission view shows why it needs review (render.py).
            reasons = ([report["reason"]] if report.get("reason") else []) + list(report["flags"] or [])
            studio["needs_review"] = [str(r)[:1000] for r in reasons[:50]]
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gb:  # as nbgrader's SaveAutoGrades opens it
                submitted = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
                submitted.flagged = True
                gb.db.commit()
        return nb, resources
