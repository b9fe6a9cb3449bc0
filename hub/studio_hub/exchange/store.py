"""The exchange's files on the service's own disk: releases, every submission (kept), feedback.

Layout under ``root`` (nothing here is ever shared with a learner's or grader's container)::

    <course>/released/<assignment>          symlink to the current release version (swapped atomically)
    <course>/versions/<assignment>/<v>/     files/ + meta.json (due date, who released it, when)
    <course>/submissions/<assignment>/<student>/<id>/   files/ + meta.json (timestamp, late)
    <course>/feedback/<assignment>/<student>/<id>/      <notebook>.html

Everything is written under ``<course>/.incoming`` first and renamed into place, so a reader sees a whole release or
submission or none of it. Names are checked before any path is built from them: no separators, no dot-dot, no
hidden files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..service.handlers import RequestError

# Course, assignment and student ids: what nbgrader's exchange allows minus its separator "+" and anything a path
# could misread.
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
# One component of a file's path inside an assignment.
PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_. ()-]{0,199}")
MAX_DEPTH = 4
# nbgrader's own timestamp format (Exchange.timestamp_format) in UTC: collect writes it to timestamp.txt, which
# autograde reads to compute lateness.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
# A replaced release stays on disk this long, for whoever is reading it at that moment.
VERSION_GRACE_SECONDS = 120


class ExchangeError(RequestError):
    """A request the exchange refuses; ``status`` is the HTTP status the service answers with."""


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ExchangeError(f"invalid {kind} {value!r}: use letters, digits, '_', '.', '@', '-' (at most 100)")
    return value


def check_path(name: str) -> str:
    """A relative file path inside an assignment, or ExchangeError (absolute, '..', hidden, too deep...)."""
    parts = name.split("/") if isinstance(name, str) else [None]
    if len(parts) > MAX_DEPTH or not all(isinstance(p, str) and PART.fullmatch(p) for p in parts):
        raise ExchangeError(f"invalid file name {name!r}: relative, at most {MAX_DEPTH} levels, no hidden parts")
    return name


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024  # all files of one release, submission or feedback together
    max_files: int = 100
    max_submissions: int = 200  # kept per student and assignment; then the student must ask their instructor
    max_student_bytes: int = 200 * 1024 * 1024  # all of one student's submissions in a course, together


def _now() -> datetime:
    return datetime.now(UTC)


class ExchangeStore:
    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = Path(root)
        self.limits = limits or Limits()
        self.root.mkdir(parents=True, exist_ok=True)

    # --- releases -------------------------------------------------------------------------------------------------

    def release(
        self, course: str, assignment: str, files: dict[str, bytes], *, by: str, duedate: datetime | None = None
    ) -> dict:
        """Publish ``files`` as the assignment's current release, replacing any earlier one at once."""
        c = self._course(course)
        check_id("assignment", assignment)
        self._check_files(files)
        if not any(name.endswith(".ipynb") for name in files):
            raise ExchangeError("a release needs at least one notebook")
        meta = {"released_at": _now().isoformat(), "by": by, "duedate": duedate.isoformat() if duedate else None}
        version = f"{_now().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(3)}"
        staged = self._stage(c, files, meta)
        versions = c / "versions" / assignment
        versions.mkdir(parents=True, exist_ok=True)
        os.rename(staged, versions / version)
        released = c / "released"
        released.mkdir(exist_ok=True)
        link = released / f".{assignment}.{version}"
        os.symlink(Path("..") / "versions" / assignment / version, link)
        os.replace(link, released / assignment)  # atomic: readers see the old release or the new one
        self._prune_versions(versions, keep=version)
        return self._release_info(course, assignment)

    def _prune_versions(self, versions: Path, keep: str) -> None:
        """Remove replaced versions once no reader can still be in one (readers take well under a minute)."""
        for old in versions.iterdir():
            if old.name != keep and time.time() - old.stat().st_mtime > VERSION_GRACE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)

    def unrelease(self, course: str, assignment: str) -> None:
        current = self._release_dir(course, assignment)
        if current is None:
            raise ExchangeError(f"{course}/{assignment} is not released", 404)
        (self._course(course) / "released" / assignment).unlink()
        shutil.rmtree(current, ignore_errors=True)

    def releases(self, courses: list[str]) -> list[dict]:
        out = []
        for course in sorted(courses):
            released = self.root / check_id("course", course) / "released"
            if released.is_dir():
                out += [
                    self._release_info(course, p.name)
                    for p in sorted(released.iterdir())
                    if not p.name.startswith(".") and self._release_dir(course, p.name)
                ]
        return out

    def released_files(self, course: str, assignment: str) -> dict[str, bytes]:
        current = self._release_dir(course, assignment)
        if current is None:
            raise ExchangeError(f"{course}/{assignment} is not released", 404)
        return _read_tree(current / "files")

    def mark_fetched(self, course: str, assignment: str, student: str) -> bool:
        """Note ``student``'s first fetch of the assignment (a file of its time); True if it is the first."""
        mark = self._course(course) / "fetched" / check_id("assignment", assignment) / check_id("student", student)
        if mark.exists():
            return False
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(_now().isoformat())
        return True

    # --- what the portal shows: each assignment's state, and each student's work on it ----------------------------

    def assignment_record(self, course: str, assignment: str) -> dict:
        """An assignment as the portal lists it: released or not, its due date and notebooks."""
        record = {"kind": "assignment", "course": course, "assignment": assignment, "released": False}
        if self._release_dir(course, assignment):
            info = self._release_info(course, assignment)
            record.update(
                released=True, due=info["duedate"], released_at=info["released_at"], notebooks=info["notebooks"]
            )
        return record

    def work_record(self, course: str, assignment: str, student: str) -> dict:
        """One student's work on an assignment: when they fetched it, their latest submission (late or not, and how
        many), and whether its feedback is released."""
        c = self.root / check_id("course", course)
        mark = c / "fetched" / check_id("assignment", assignment) / check_id("student", student)
        subs = self.submissions(course, assignment=assignment, student=student)
        latest = subs[-1] if subs else None
        return {
            "kind": "work",
            "course": course,
            "assignment": assignment,
            "student": student,
            "fetched_at": mark.read_text().strip() if mark.is_file() else None,
            "submissions": len(subs),
            "submission": latest["id"] if latest else None,
            "submitted": latest["timestamp"] if latest else None,
            "late": bool(latest and latest.get("late")),
            "feedback": bool(latest and latest["feedback"]),
        }

    def records(self) -> list[dict]:
        """Everything the portal shows, as it stands: every assignment ever released or worked on, and every
        student's work (a portal that was away, or new, catches up from these)."""
        out = []
        for c in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            assignments = set()
            for kind in ("released", "submissions", "fetched"):
                if (c / kind).is_dir():
                    assignments |= {p.name for p in (c / kind).iterdir() if not p.name.startswith(".")}
            for a in sorted(assignments):
                out.append(self.assignment_record(c.name, a))
                students = set()
                for kind in ("submissions", "fetched"):
                    if (c / kind / a).is_dir():
                        students |= {p.name for p in (c / kind / a).iterdir() if not p.name.startswith(".")}
                out += [self.work_record(c.name, a, s) for s in sorted(students)]
        return out

    # --- submissions ----------------------------------------------------------------------------------------------

    def submit(self, course: str, assignment: str, student: str, files: dict[str, bytes]) -> dict:
        """Keep a new submission (never replacing an earlier one); returns its info with the late flag."""
        c = self._course(course)
        check_id("student", student)
        release = self._release_info(course, assignment) if self._release_dir(course, assignment) else None
        if release is None:
            raise ExchangeError(f"{course}/{assignment} is not released", 404)
        self._check_files(files)
        folder = c / "submissions" / assignment / student
        folder.mkdir(parents=True, exist_ok=True)
        if sum(1 for p in folder.iterdir() if not p.name.startswith(".")) >= self.limits.max_submissions:
            raise ExchangeError(
                f"{self.limits.max_submissions} submissions of {assignment} are kept already: ask "
                "your instructor to make room",
                429,
            )
        used = sum(p.stat().st_size for p in (c / "submissions").glob(f"*/{student}/**/*") if p.is_file())
        if used + sum(len(data) for data in files.values()) > self.limits.max_student_bytes:
            raise ExchangeError(
                f"your submissions in {course} take {_size(used)}; with this one they would pass "
                f"the {_size(self.limits.max_student_bytes)} each student may keep: ask your "
                "instructor to make room",
                413,
            )
        now = _now()
        duedate = datetime.fromisoformat(release["duedate"]) if release["duedate"] else None
        meta = {"timestamp": now.strftime(TIMESTAMP_FORMAT), "late": bool(duedate and now > duedate)}
        staged = self._stage(c, files, meta)
        sub_id = now.strftime("%Y%m%dT%H%M%S%fZ")
        while True:
            try:
                os.rename(staged, folder / sub_id)  # fails if taken (same microsecond): then the next id
                break
            except OSError:
                if not (folder / sub_id).exists():
                    raise
                sub_id = f"{sub_id}-{secrets.token_hex(2)}"
        return self.submission(course, assignment, student, sub_id)

    def submissions(self, course: str, *, assignment: str | None = None, student: str | None = None) -> list[dict]:
        """Every kept submission, oldest first per student and assignment."""
        base = self.root / check_id("course", course) / "submissions"
        out = []
        for a in sorted(base.iterdir()) if base.is_dir() else []:
            if assignment not in (None, a.name):
                continue
            for s in sorted(a.iterdir()):
                if student not in (None, s.name):
                    continue
                out += [
                    self._submission_info(course, a.name, s.name, d.name)
                    for d in sorted(s.iterdir())
                    if not d.name.startswith(".")
                ]
        return out

    def submission(self, course: str, assignment: str, student: str, sub_id: str) -> dict:
        return self._submission_info(course, assignment, student, sub_id)

    def submission_files(self, course: str, assignment: str, student: str, sub_id: str) -> dict[str, bytes]:
        return _read_tree(self._submission_dir(course, assignment, student, sub_id) / "files")

    def latest(self, course: str, assignment: str, student: str, *, before_duedate: bool = False) -> dict | None:
        """The submission that is graded: the latest, or with ``before_duedate`` the latest on time if any."""
        subs = self.submissions(course, assignment=assignment, student=student)
        on_time = [s for s in subs if not s["late"]]
        chosen = (on_time or subs) if before_duedate else subs
        return chosen[-1] if chosen else None

    # --- feedback -------------------------------------------------------------------------------------------------

    def put_feedback(self, course: str, assignment: str, student: str, sub_id: str, files: dict[str, bytes]) -> dict:
        self._submission_dir(course, assignment, student, sub_id)  # it must exist
        self._check_files(files)
        if not all(name.endswith(".html") and "/" not in name for name in files):
            raise ExchangeError("feedback is one <notebook>.html file per notebook")
        c = self._course(course)
        staged = self._stage(c, files, None)
        dest = c / "feedback" / assignment / student / sub_id
        dest.parent.mkdir(parents=True, exist_ok=True)
        old = c / ".incoming" / f"old-{secrets.token_hex(6)}"
        if dest.exists():
            os.rename(dest, old)
        os.rename(staged, dest)
        shutil.rmtree(old, ignore_errors=True)
        return self._submission_info(course, assignment, student, sub_id)

    def feedback_files(self, course: str, assignment: str, student: str, sub_id: str) -> dict[str, bytes]:
        self._submission_dir(course, assignment, student, sub_id)
        dest = self._course(course) / "feedback" / assignment / student / sub_id
        return _read_tree(dest / "files") if dest.is_dir() else {}

    # --- internals ------------------------------------------------------------------------------------------------

    def _course(self, course: str) -> Path:
        c = self.root / check_id("course", course)
        (c / ".incoming").mkdir(parents=True, exist_ok=True)
        return c

    def _release_dir(self, course: str, assignment: str) -> Path | None:
        link = self.root / check_id("course", course) / "released" / check_id("assignment", assignment)
        return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None

    def _release_info(self, course: str, assignment: str) -> dict:
        current = self._release_dir(course, assignment)
        meta = json.loads((current / "meta.json").read_text())
        notebooks = _notebooks(current / "files")
        return {"course_id": course, "assignment_id": assignment, "notebooks": notebooks, **meta}

    def _submission_dir(self, course: str, assignment: str, student: str, sub_id: str) -> Path:
        path = (
            self.root
            / check_id("course", course)
            / "submissions"
            / check_id("assignment", assignment)
            / check_id("student", student)
            / check_id("submission", sub_id)
        )
        if not (path / "meta.json").is_file():
            raise ExchangeError(f"no submission {sub_id} of {course}/{assignment} by {student}", 404)
        return path

    def _submission_info(self, course: str, assignment: str, student: str, sub_id: str) -> dict:
        path = self._submission_dir(course, assignment, student, sub_id)
        meta = json.loads((path / "meta.json").read_text())
        feedback = self._course(course) / "feedback" / assignment / student / sub_id
        checksums = {
            name[:-5]: hashlib.sha256(data).hexdigest() for name, data in _read_tree(feedback / "files").items()
        }
        notebooks = _notebooks(path / "files")
        return {
            "course_id": course,
            "assignment_id": assignment,
            "student_id": student,
            "id": sub_id,
            "notebooks": notebooks,
            "feedback": checksums,
            **meta,
        }

    def _check_files(self, files: dict[str, bytes]) -> None:
        if not files:
            raise ExchangeError("no files")
        if len(files) > self.limits.max_files:
            raise ExchangeError(f"{len(files)} files; at most {self.limits.max_files}", 413)
        total = sum(len(data) for data in files.values())
        if total > self.limits.max_bytes:
            raise ExchangeError(f"{_size(total)} of files; at most {_size(self.limits.max_bytes)}", 413)
        for name in files:
            check_path(name)

    def _stage(self, course_dir: Path, files: dict[str, bytes], meta: dict | None) -> Path:
        staged = course_dir / ".incoming" / secrets.token_hex(8)
        (staged / "files").mkdir(parents=True)
        for name, data in files.items():
            target = staged / "files" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if meta is not None:
            (staged / "meta.json").write_text(json.dumps(meta))
        return staged


def _read_tree(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def _notebooks(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix()[: -len(".ipynb")] for p in folder.rglob("*.ipynb"))
