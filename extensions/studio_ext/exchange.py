"""nbgrader's exchange over HTTP: the client of the hub's exchange service (``studio_hub.exchange``).

An ``ExchangeFactory`` plugin, so ``nbgrader release_assignment / fetch_assignment / submit / list / collect /
release_feedback / fetch_feedback`` and nbgrader's JupyterLab assignment list work as graders and students know them,
with no shared folder: every call goes to the service with the caller's JupyterHub token, and the service decides by
the caller's hub groups. Enabled for every server by ``jupyter-config/nbgrader_config.py``::

    c.ExchangeFactory.exchange = "studio_ext.exchange.Exchange"
    c.ExchangeFactory.submit = "studio_ext.exchange.Submit"   # and so on for each action

The service's URL comes from ``$STUDIO_EXCHANGE_URL`` (the hub puts it in every learner's environment) and the token
from ``$JUPYTERHUB_API_TOKEN``; both are also ``c.Exchange.url`` / ``c.Exchange.token``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import re
import shutil
from datetime import UTC
from glob import glob
from pathlib import Path

from nbgrader.exchange import abc
from studio_wire import http
from traitlets import Bool, Float, Unicode, default

# What a path received from the service may look like before it is written under the student's folder.
SAFE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_. ()-]{0,199}")


class Exchange(abc.Exchange):
    url = Unicode(
        help="The exchange service, e.g. http://127.0.0.1:8083/services/exchange/ "
        "(default: $STUDIO_EXCHANGE_URL). c.Exchange.url = '...'"
    ).tag(config=True)
    token = Unicode(help="A JupyterHub token of the caller (default: $JUPYTERHUB_API_TOKEN)").tag(config=True)
    timeout = Float(120.0, help="Seconds to wait per request. c.Exchange.timeout = 120").tag(config=True)
    path_includes_course = Bool(
        False, help="Fetch into ./<course>/<assignment> instead of ./<assignment>, as nbgrader's own option."
    ).tag(config=True)

    @default("url")
    def _url_default(self) -> str:
        return os.environ.get("STUDIO_EXCHANGE_URL", "")

    @default("token")
    def _token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def api(self, method: str, path: str, *, base: str = "", service: str = "exchange", **kwargs) -> dict:
        base = base or self.url
        if not base:
            self.fail("No exchange service is configured: set $STUDIO_EXCHANGE_URL or c.Exchange.url.")
        if not self.token:
            self.fail("No JupyterHub token: run this from your hub server (or set $JUPYTERHUB_API_TOKEN).")
        url = base.rstrip("/") + "/" + path
        try:
            with http.client(self.timeout) as c:
                resp = c.request(method, url, headers={"Authorization": f"token {self.token}"}, **kwargs)
        except http.Error as e:
            self.fail(f"The {service} service cannot be reached ({type(e).__name__}); try again in a minute.")
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message") or resp.reason_phrase
            except ValueError:
                message = resp.reason_phrase
            self.fail(f"The {service} refused: {message} (HTTP {resp.status_code})")
        return resp.json() if resp.content else {}

    def course_required(self) -> str:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        return self.coursedir.course_id

    def local_assignment_dir(self, course_id: str, assignment_id: str) -> Path:
        parts = (course_id, assignment_id) if self.path_includes_course else (assignment_id,)
        return Path(self.assignment_dir, *parts).resolve()

    def read_folder(self, folder: Path) -> dict[str, str]:
        """The files under ``folder`` as {relative path: base64}, skipping what nbgrader's CourseDirectory.ignore
        names (checkpoints, feedback, caches) and hidden files."""
        files = {}
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not self._ignored(d)]
            for name in filenames:
                path = Path(dirpath, name)
                if self._ignored(name) or path.is_symlink():
                    continue
                if path.stat().st_size > self.coursedir.max_file_size * 1000:
                    self.log.warning("Leaving out %s: larger than CourseDirectory.max_file_size", path)
                    continue
                files[path.relative_to(folder).as_posix()] = base64.b64encode(path.read_bytes()).decode()
        return files

    def _ignored(self, name: str) -> bool:
        return name.startswith(".") or any(fnmatch.fnmatch(name, glob) for glob in self.coursedir.ignore)

    def write_files(self, dest: Path, files: dict[str, str], *, only_missing: bool = False) -> list[Path]:
        written = []
        for name, content in files.items():
            parts = name.split("/")
            if not all(SAFE_PART.fullmatch(p) for p in parts):
                self.fail(f"The exchange sent a file with an unsafe name: {name!r}")
            target = dest.joinpath(*parts)
            if only_missing and target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(content))
            written.append(target)
        return written

    # nbgrader's Exchange.start() calls these three in turn; each action does its work in the one that fits.
    def init_src(self):
        pass

    def init_dest(self):
        pass

    def copy_files(self):
        pass


class ReleaseAssignment(Exchange, abc.ExchangeReleaseAssignment):
    def copy_files(self):
        course = self.course_required()
        assignment = self.coursedir.assignment_id
        src = Path(self.coursedir.format_path(self.coursedir.release_directory, ".", assignment))
        if not src.is_dir():
            self.fail(f"Assignment not found: {src} (run nbgrader generate_assignment {assignment} first)")
        self._send_source(course, assignment)
        body = {"files": self.read_folder(src), "force": self.force, "duedate": self._duedate(assignment)}
        info = self.api("PUT", f"api/assignments/{course}/{assignment}", json=body)
        self.log.info(
            "Released %s/%s (%s); due %s", course, assignment, ", ".join(info["notebooks"]), info["duedate"] or "never"
        )

    def _send_source(self, course: str, assignment: str) -> None:
        """The grading service grades submissions against the source this release was generated from."""
        url = os.environ.get("STUDIO_GRADING_URL", "")
        source = Path(self.coursedir.format_path(self.coursedir.source_directory, ".", assignment))
        if not url or not source.is_dir():
            why = "no $STUDIO_GRADING_URL" if not url else f"no {source}"
            self.log.warning(
                "The grading service gets no source of %s (%s): it grades with the course repository's", assignment, why
            )
            return
        self.api(
            "PUT",
            f"api/source/{course}/{assignment}",
            json={"files": self.read_folder(source)},
            base=url,
            service="grading service",
        )
        self.log.info("Sent the source of %s to the grading service", assignment)

    def _duedate(self, assignment: str) -> str | None:
        """The due date the gradebook holds for the assignment (UTC there), which the exchange checks lateness by."""
        from nbgrader.api import Gradebook, MissingEntry

        try:
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                due = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
        if due is None:
            return None
        return (due if due.tzinfo else due.replace(tzinfo=UTC)).isoformat()


class FetchAssignment(Exchange, abc.ExchangeFetchAssignment):
    def copy_files(self):
        course = self.course_required()
        assignment = self.coursedir.assignment_id
        dest = self.local_assignment_dir(course, assignment)
        if dest.exists() and not self.replace_missing_files:
            self.fail(
                f"You already have a copy of the assignment in this directory: {dest}. Rename or remove "
                "it to fetch again, or fetch with --replace to restore missing files."
            )
        data = self.api("GET", f"api/assignments/{course}/{assignment}")
        written = self.write_files(dest, data["files"], only_missing=self.replace_missing_files)
        self.log.info("Fetched %s/%s into %s (%d files)", course, assignment, dest, len(written))


class Submit(Exchange, abc.ExchangeSubmit):
    def copy_files(self):
        course = self.course_required()
        assignment = self.coursedir.assignment_id
        src = self.local_assignment_dir(course, assignment)
        if not src.is_dir():
            self.fail(f"Assignment not found: {src}")
        files = self.read_folder(src)
        released = {
            r["assignment_id"]: r for r in self.api("GET", "api/assignments", params={"course": course})["assignments"]
        }
        if assignment not in released:
            self.fail(f"{course}/{assignment} is not released")
        missing = [nb for nb in released[assignment]["notebooks"] if f"{nb}.ipynb" not in files]
        if missing and self.strict:
            self.fail(f"Assignment {assignment} not submitted. Missing notebooks: {', '.join(missing)}")
        if missing:
            self.log.warning("Submitting without these notebooks: %s", ", ".join(missing))
        info = self.api("POST", f"api/submissions/{course}/{assignment}", json={"files": files})
        self.log.info(
            "Submitted as: %s %s %s%s",
            course,
            assignment,
            info["timestamp"],
            " (after the due date)" if info["late"] else "",
        )


class List(Exchange, abc.ExchangeList):
    def start(self):
        if self.inbound and self.cached:
            self.fail("Options --inbound and --cached are incompatible.")
        if self.remove and (self.inbound or self.cached):
            self.fail("Submissions are kept by the exchange; they cannot be removed from here.")
        if self.inbound:
            return self._report(self._grouped(self._inbound()))
        if self.cached:
            return self._report(self._grouped(self._own_submissions()))
        assignments = self._released()
        if self.remove:
            for info in assignments:
                self.api("DELETE", f"api/assignments/{info['course_id']}/{info['assignment_id']}")
                info["status"] = "removed"
        return self._report(assignments)

    def _released(self) -> list[dict]:
        params = {"course": self.coursedir.course_id} if self.coursedir.course_id else {}
        out = []
        for r in self.api("GET", "api/assignments", params=params)["assignments"]:
            if self.coursedir.assignment_id not in ("", r["assignment_id"]):
                continue
            local = self.local_assignment_dir(r["course_id"], r["assignment_id"])
            fetched = local.is_dir()
            path = str(local) if fetched else r["assignment_id"]
            notebooks = [
                {"notebook_id": nb, "path": str(local / f"{nb}.ipynb") if fetched else nb} for nb in r["notebooks"]
            ]
            out.append(
                {
                    "course_id": r["course_id"],
                    "assignment_id": r["assignment_id"],
                    "notebooks": notebooks,
                    "status": "fetched" if fetched else "released",
                    "path": path,
                }
            )
        return out

    def _inbound(self) -> list[dict]:
        params = {"course": self.course_required()}
        if self.coursedir.assignment_id:
            params["assignment"] = self.coursedir.assignment_id
        if self.coursedir.student_id not in ("", "*"):
            params["student"] = self.coursedir.student_id
        return self.api("GET", "api/submissions", params=params)["submissions"]

    def _own_submissions(self) -> list[dict]:
        params = {"mine": "1"}
        if self.coursedir.course_id:
            params["course"] = self.coursedir.course_id
        if self.coursedir.assignment_id:
            params["assignment"] = self.coursedir.assignment_id
        return self.api("GET", "api/submissions", params=params)["submissions"]

    def _grouped(self, subs: list[dict]) -> list[dict]:
        """nbgrader's shape: one entry per (course, student, assignment) with its submissions, oldest first."""
        groups: dict[tuple, list] = {}
        for sub in subs:
            info = self._submission_entry(sub)
            groups.setdefault((sub["course_id"], sub["student_id"], sub["assignment_id"]), []).append(info)
        return [
            {
                "course_id": c,
                "student_id": s,
                "assignment_id": a,
                "status": "submitted",
                "submissions": sorted(entries, key=lambda e: e["timestamp"]),
            }
            for (c, s, a), entries in sorted(groups.items())
        ]

    def _submission_entry(self, sub: dict) -> dict:
        local = self.local_assignment_dir(sub["course_id"], sub["assignment_id"]) / "feedback" / sub["timestamp"]
        notebooks = []
        for nb in sub["notebooks"]:
            path = local / f"{nb}.html"
            exchange_sum = sub["feedback"].get(nb)
            local_sum = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            notebooks.append(
                {
                    "notebook_id": nb,
                    "path": nb,
                    "has_local_feedback": local_sum is not None,
                    "has_exchange_feedback": exchange_sum is not None,
                    "local_feedback_path": str(path) if local_sum else None,
                    "feedback_updated": bool(local_sum and exchange_sum and local_sum != exchange_sum),
                }
            )
        has_local = bool(notebooks) and all(n["has_local_feedback"] for n in notebooks)
        return {
            "course_id": sub["course_id"],
            "student_id": sub["student_id"],
            "assignment_id": sub["assignment_id"],
            "timestamp": sub["timestamp"],
            "late": sub["late"],
            "id": sub["id"],
            "status": "submitted",
            "path": sub["id"],
            "notebooks": notebooks,
            "has_local_feedback": has_local,
            "has_exchange_feedback": bool(notebooks) and all(n["has_exchange_feedback"] for n in notebooks),
            "feedback_updated": any(n["feedback_updated"] for n in notebooks),
            "local_feedback_path": str(local) if has_local else None,
        }

    def _report(self, assignments: list[dict]) -> list[dict]:
        for info in assignments:
            if "submissions" in info:
                for sub in info["submissions"]:
                    if sub["has_local_feedback"]:
                        fb = "feedback already fetched"
                    else:
                        fb = "feedback ready to be fetched" if sub["has_exchange_feedback"] else "no feedback yet"
                    self.log.info(
                        "%s %s %s %s%s (%s)",
                        sub["course_id"],
                        sub["student_id"],
                        sub["assignment_id"],
                        sub["timestamp"],
                        " late" if sub["late"] else "",
                        fb,
                    )
            else:
                self.log.info("%s %s (%s)", info["course_id"], info["assignment_id"], info["status"])
        return assignments


class Collect(Exchange, abc.ExchangeCollect):
    def copy_files(self):
        course = self.course_required()
        assignment = self.coursedir.assignment_id
        params = {"before_duedate": "1"} if self.before_duedate else {}
        subs = self.api("GET", f"api/collect/{course}/{assignment}", params=params)["submissions"]
        if self.coursedir.student_id not in ("", "*"):
            subs = [s for s in subs if s["student_id"] == self.coursedir.student_id]
        if not subs:
            self.log.warning("No submissions of '%s' for course '%s' to collect", assignment, course)
        for sub in subs:
            student = sub["student_id"]
            dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment))
            if dest.is_dir():
                existing = self.coursedir.get_existing_timestamp(str(dest))
                newer = existing is None or sub["timestamp"] != self._timestamp_text(dest)
                if not ((self.update or self.before_duedate) and newer):
                    self.log.info("Submission already exists, use --update to update: %s %s", student, assignment)
                    continue
                self.log.info("Updating submission: %s %s", student, assignment)
                staging = dest.with_name(f".{dest.name}.old")
                dest.rename(staging)
            else:
                staging = None
                self.log.info("Collecting submission: %s %s", student, assignment)
            data = self.api("GET", f"api/submissions/{course}/{assignment}/{student}/{sub['id']}")
            self.write_files(dest, data["files"])
            (dest / "timestamp.txt").write_text(sub["timestamp"])
            if staging is not None:
                shutil.rmtree(staging)

    @staticmethod
    def _timestamp_text(folder: Path) -> str:
        path = folder / "timestamp.txt"
        return path.read_text().strip() if path.is_file() else ""


class ReleaseFeedback(Exchange, abc.ExchangeReleaseFeedback):
    def copy_files(self):
        course = self.course_required()
        assignment = self.coursedir.assignment_id
        student = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else "*"
        pattern = self.coursedir.format_path(self.coursedir.feedback_directory, student, assignment)
        student_of = re.compile(
            self.coursedir.format_path(self.coursedir.feedback_directory, "(?P<student>[^/]+)", assignment, escape=True)
        )
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        released = 0
        for folder in map(Path, sorted(glob(pattern))):
            student_id = student_of.fullmatch(str(folder))["student"]
            if student_id in excluded or not (folder / "timestamp.txt").is_file():
                continue
            timestamp = (folder / "timestamp.txt").read_text().strip()
            subs = self.api(
                "GET", "api/submissions", params={"course": course, "assignment": assignment, "student": student_id}
            )["submissions"]
            match = [s for s in subs if s["timestamp"] == timestamp]
            if not match:
                self.log.warning("No submission of %s by %s at %s in the exchange", assignment, student_id, timestamp)
                continue
            files = {p.name: base64.b64encode(p.read_bytes()).decode() for p in sorted(folder.glob("*.html"))}
            if files:
                self.api(
                    "PUT", f"api/feedback/{course}/{assignment}/{student_id}/{match[-1]['id']}", json={"files": files}
                )
                released += 1
                self.log.info(
                    "Releasing feedback for student '%s' on assignment '%s/%s' (%s)",
                    student_id,
                    course,
                    assignment,
                    timestamp,
                )
        if not released:
            self.log.warning("No feedback of %s to release (run nbgrader generate_feedback first)", assignment)


class FetchFeedback(Exchange, abc.ExchangeFetchFeedback):
    def copy_files(self):
        course = self.course_required()
        assignment = self.coursedir.assignment_id
        params = {"mine": "1", "course": course}
        if assignment:
            params["assignment"] = assignment
        fetched = 0
        for sub in self.api("GET", "api/submissions", params=params)["submissions"]:
            if not sub["feedback"]:
                continue
            data = self.api("GET", f"api/feedback/{course}/{sub['assignment_id']}/{sub['student_id']}/{sub['id']}")
            dest = self.local_assignment_dir(course, sub["assignment_id"]) / "feedback" / sub["timestamp"]
            for path in self.write_files(dest, data["files"]):
                fetched += 1
                self.log.info("Fetched feedback: %s", path)
        if not fetched:
            self.log.warning("No feedback for %s in %s yet", assignment or "your submissions", course)
