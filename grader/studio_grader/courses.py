"""The grading service's course folders: one nbgrader course directory per course, on the trusted side.

    <root>/<course>/nbgrader_config.py      written by the service (course id, gradebook, exchange, sandboxes)
    <root>/<course>/source/<assignment>/    the instructors' version (solutions, hidden tests), from the course
                                            repository or uploaded when an instructor releases
    <root>/<course>/submitted|autograded|feedback/<student>/<assignment>/   as nbgrader keeps them
    <root>/<course>/status.json             what the service did with each student's latest submission

Graders and formgrader work in the same folder and gradebook, so what the service graded is what they review.
The gradebook is SQLite in the folder (the embedded default) or, given a PostgreSQL URL, a schema of its own per
course in that database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

STATUS_FILE = "status.json"


def gradebook_url(base: str, course: str, folder: Path) -> str:
    """The course's nbgrader gradebook: ``base`` empty → SQLite in its folder; PostgreSQL → a schema per course."""
    if not base:
        return f"sqlite:///{folder / 'gradebook.db'}?timeout=60"  # workers write it at once: wait for each other
    if not base.startswith("postgresql"):
        raise ValueError(f"the gradebook database must be PostgreSQL or empty (SQLite per course), not {base!r}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote('-csearch_path=' + schema_for(course))}"


def schema_for(course: str) -> str:
    """A PostgreSQL schema name for a course id (which may hold '-', '.', '@'): readable, and never shared."""
    slug = re.sub(r"[^a-z0-9_]", "_", course.lower())[:40]
    return f"grading_{slug}_{hashlib.sha1(course.encode()).hexdigest()[:8]}"


def create_schema(base: str, course: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(course)}"'))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Sandboxes:
    """How the service's grading sandboxes run (``c.SandboxedExecute``)."""

    image: str = "studio-learner:latest"
    runtime: str = "runsc"
    mode: str = "pooled"
    timeout: int = 30
    prefix: str = "studio-grade"  # the sandboxes' container names start with it


@dataclass(frozen=True)
class CourseSpace:
    root: Path
    course: str
    gradebook: str = ""  # base URL; empty: SQLite per course
    content_dir: Path | None = None  # the course repository's folders (<content_dir>/<course>/source)
    exchange_url: str = ""
    sandboxes: Sandboxes = Sandboxes()

    @property
    def folder(self) -> Path:
        return self.root / self.course

    @property
    def db_url(self) -> str:
        return gradebook_url(self.gradebook, self.course, self.folder)

    def prepare(self) -> Path:
        """Create the course folder and (re)write its nbgrader config; the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.gradebook:
            create_schema(self.gradebook, self.course)
        s = self.sandboxes
        lines = [
            "# Written by the grading service (studio_grader.service) at every start: change its options instead.",
            "c = get_config()  # noqa: F821",
            "from studio_grader import pipeline, trusted",
            "pipeline.configure(c)",
            "trusted.configure(c)  # nothing of the course's runs here (AUTOTEST is refused)",
            f"c.CourseDirectory.root = {str(self.folder)!r}",
            f"c.CourseDirectory.course_id = {self.course!r}",
            f"c.CourseDirectory.db_url = {self.db_url!r}",
            f"c.SandboxedExecute.image = {s.image!r}",
            f"c.SandboxedExecute.runtime = {s.runtime!r}",
            f"c.SandboxedExecute.mode = {s.mode!r}",
            f"c.SandboxedExecute.timeout = {s.timeout!r}",
            f"c.SandboxedExecute.prefix = {s.prefix!r}",
            # The exchange as the grading service's own hub token reaches it (collect, release, feedback); the
            # course's formgrader, which holds no hub token, reaches it through the service with a token of its own.
            *[f"c.ExchangeFactory.{action} = 'studio_ext.exchange.{cls}'" for action, cls in EXCHANGE_PLUGINS],
            "import os",
            "if os.environ.get('STUDIO_FORMGRADER_TOKEN'):",
            "    c.Exchange.url = os.environ.get('STUDIO_FORMGRADER_EXCHANGE_URL', '')",
            "    c.Exchange.token = os.environ['STUDIO_FORMGRADER_TOKEN']",
            "else:",
            f"    c.Exchange.url = {self.exchange_url!r}",
        ]
        _write_atomic(self.folder / "nbgrader_config.py", "\n".join(lines) + "\n")
        return self.folder

    def source_dir(self, assignment: str) -> Path | None:
        """The assignment's source folder here, first copied from the course repository if only that has it."""
        mine = self.folder / "source" / assignment
        if mine.is_dir():
            return mine
        theirs = self.content_dir / self.course / "source" / assignment if self.content_dir else None
        if theirs is None or not theirs.is_dir():
            return None
        _replace_folder(mine, {str(p.relative_to(theirs)): p.read_bytes() for p in theirs.rglob("*") if p.is_file()})
        return mine

    def put_source(self, assignment: str, files: dict[str, bytes]) -> None:
        """An instructor's release brings the source it was generated from: it replaces the one here."""
        _replace_folder(self.folder / "source" / assignment, files)

    def put_submission(self, assignment: str, student: str, files: dict[str, bytes], timestamp: str) -> Path:
        """The submission as ``nbgrader collect`` leaves it (with timestamp.txt), replacing an earlier one."""
        dest = self.folder / "submitted" / student / assignment
        _replace_folder(dest, {**files, "timestamp.txt": timestamp.encode()})
        return dest

    # --- what the service did ------------------------------------------------------------------------------------
    def read_status(self) -> dict[str, dict]:
        path = self.folder / STATUS_FILE
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            # Never lose the service's start over it: everything is graded again, which is harmless.
            path.rename(path.with_suffix(".json.broken"))
            return {}

    def write_status(self, status: dict[str, dict]) -> None:
        _write_atomic(self.folder / STATUS_FILE, json.dumps(status, indent=1, sort_keys=True))


EXCHANGE_PLUGINS = [("exchange", "Exchange"), ("release_assignment", "ReleaseAssignment"), ("list", "List"),
                    ("collect", "Collect"), ("release_feedback", "ReleaseFeedback")]  # fmt: skip


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _replace_folder(dest: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a new folder and swap it in for ``dest``: readers see the old one or the new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.new."))
    for name, data in files.items():
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
        dest.rename(old)
    staging.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
