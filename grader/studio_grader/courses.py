"""The grading service's course folders: one nbgrader course directory per course, on the trusted side.

    <root>/<course>/nbgrader_config.py      written by the service (course id, gradebook, exchange, sandboxes)
    <root>/<course>/source/<assignment>/    the instructors' version (solutions, hidden tests), from the course
                                            repository or uploaded when an instructor releases
    <root>/<course>/submitted|autograded|feedback/<student>/<assignment>/   as nbgrader keeps them
    <root>/<course>/gradebook/gradebook.db  the SQLite gradebook (the embedded default)
    <root>/.grading-status.db               what the service did with each submission (studio_grader.service.ledger;
                                            with PostgreSQL, a table in that database instead)

Graders and formgrader work in the same folder and gradebook, so what the service graded is what they review.
The gradebook is SQLite in the folder (the embedded default) or, given a PostgreSQL URL, a schema of its own per
course in that database.

A course's formgrader runs under an account of the course's own (``owner``), never as the service's: the course
folder and its configuration stay the service's (root's), readable by that account's group only, and the folders
nbgrader and formgrader write (:data:`SHARED`) are the account's. What the service writes there is handed over to
the account (:meth:`CourseSpace.hand_over`), so formgrader can replace it, as it can its own. Nothing that account
can write is read as configuration: nbgrader reads ``nbgrader_config.py`` (and ``.json``) from the course folder,
which only the service writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .sandbox import SandboxSpec

STATUS_FILE = "status.json"
# The folders of a course that its formgrader writes (nbgrader's, and the SQLite gradebook's: SQLite writes its
# journal next to the database).
SHARED = ("source", "release", "submitted", "autograded", "feedback", "gradebook")
log = logging.getLogger("studio.grading")


ROLE_PASSWORD_FILE = ".gradebook-role"  # in the course folder (0600): the course's own database role's password


def gradebook_url(base: str, course: str, folder: Path) -> str:
    """The course's nbgrader gradebook: ``base`` empty → SQLite in its folder; PostgreSQL → a schema per course,
    reached as the course's own role when it has one (:func:`create_schema`), else as ``base``'s."""
    if not base:
        # Workers write it at once: they wait for each other.
        return f"sqlite:///{folder / 'gradebook' / 'gradebook.db'}?timeout=60"
    if not base.startswith("postgresql"):
        raise ValueError(f"the gradebook database must be PostgreSQL or empty (SQLite per course), not {base!r}")
    try:
        password = (folder / ROLE_PASSWORD_FILE).read_text().strip() if folder else ""
    except OSError:
        password = ""
    if password:
        from sqlalchemy.engine import make_url

        base = (
            make_url(base).set(username=role_for(base, course), password=password).render_as_string(hide_password=False)
        )
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote('-csearch_path=' + schema_for(course))}"


def role_for(base: str, course: str) -> str:
    """The course's own PostgreSQL role: roles are the whole server's, so its name carries the database's too."""
    from sqlalchemy.engine import make_url

    slug = re.sub(r"[^a-z0-9_]", "_", course.lower())[:32]
    digest = hashlib.sha1(f"{make_url(base).database}/{course}".encode()).hexdigest()[:10]
    return f"gb_{slug}_{digest}"


def schema_for(course: str) -> str:
    """A PostgreSQL schema name for a course id (which may hold '-', '.', '@'): readable, and never shared."""
    slug = re.sub(r"[^a-z0-9_]", "_", course.lower())[:40]
    return f"grading_{slug}_{hashlib.sha1(course.encode()).hexdigest()[:8]}"


def create_schema(base: str, course: str, folder: Path) -> bool:
    """The course's schema; and, where ``base``'s role may create roles, a role of the course's own that owns the
    schema and reaches nothing else (not the other courses', not the hub's tables in the same database): the
    course's gradebook URL, which its formgrader reads, then holds that role's password only. True if it has one.

    Names are made here of [a-z0-9_] only and the password of URL-safe characters, so the statements below are
    written out (PostgreSQL takes no parameters in CREATE ROLE)."""
    from sqlalchemy import create_engine, text

    schema, role = schema_for(course), role_for(base, course)
    engine = create_engine(base)
    try:
        with engine.begin() as conn:
            may = conn.execute(text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user"))
            if not may.scalar():
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                return False
            secret = folder / ROLE_PASSWORD_FILE
            password = secret.read_text().strip() if secret.is_file() else secrets.token_urlsafe(24)
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                text(f"{verb} ROLE \"{role}\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'")
            )
            conn.execute(text(f'GRANT "{role}" TO current_user'))  # to hand it what this role made before
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"'))
            conn.execute(text(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"'))
            conn.execute(text(f'REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC'))
            # A gradebook made before the course had a role of its own: its tables and sequences become the role's.
            for kind, name in conn.execute(
                text(
                    "SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, c.relname "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'S', 'v') AND pg_get_userbyid(c.relowner) <> :r"
                ),
                {"s": schema, "r": role},
            ).all():
                conn.execute(text(f'ALTER {kind} "{schema}"."{name}" OWNER TO "{role}"'))
        if not secret.is_file():
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
        return True
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Sandboxes:
    """How the service's grading sandboxes run (``c.SandboxedExecute``)."""

    image: str = "studio-learner:latest"
    runtime: str = "runsc"
    engine: str = "docker"  # "runsc" or "bwrap": on this machine, no Docker (studio_grader.sandbox)
    mode: str = "pooled"
    timeout: int = 30
    prefix: str = "studio-grade"  # the sandboxes' container names start with it

    def spec(self, purpose: str) -> SandboxSpec:
        """A one-off sandbox's (``purpose``: its names' suffix)."""
        return SandboxSpec(
            image=self.image, runtime=self.runtime, engine=self.engine, prefix=f"{self.prefix}-{purpose}"
        )


@dataclass(frozen=True)
class CourseSpace:
    root: Path
    course: str
    gradebook: str = ""  # base URL; empty: SQLite per course
    content_dir: Path | None = None  # the course repository's folders (<content_dir>/<course>/source)
    exchange_url: str = ""
    sandboxes: Sandboxes = Sandboxes()
    owner: tuple[int, int] | None = None  # the course account's uid and gid (its formgrader's); None: not root
    # The grading service's hub token, which the exchange gives submissions to; never written into a course folder.
    exchange_token: str = field(default="", repr=False, compare=False)

    @property
    def folder(self) -> Path:
        return self.root / self.course

    @property
    def db_url(self) -> str:
        return gradebook_url(self.gradebook, self.course, self.folder)

    def prepare(self) -> Path:
        """Create the course folder and (re)write its nbgrader config; the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        old_gradebook = self.folder / "gradebook.db"  # where a gradebook was before it had a folder of its own
        (self.folder / "gradebook").mkdir(exist_ok=True)
        if old_gradebook.is_file() and not (self.folder / "gradebook" / "gradebook.db").exists():
            old_gradebook.rename(self.folder / "gradebook" / "gradebook.db")
        if self.gradebook and not create_schema(self.gradebook, self.course, self.folder):
            log.warning(
                "%s: the gradebook database's role may not create roles, so this course's gradebook is "
                "reached with that role, which reaches every course's and the hub's tables: give it "
                "CREATEROLE (ALTER ROLE ... CREATEROLE) for a role per course",
                self.course,
            )
        s = self.sandboxes
        lines = [
            "# Written by the grading service (studio_grader.service) at every start: change its options instead.",
            "c = get_config()  # noqa: F821",
            "from studio_grader import pipeline, trusted",
            "pipeline.configure(c)",
            # Nothing of the course's runs here: AUTOTEST directives are expanded in a grading sandbox.
            f"trusted.configure(c, image={s.image!r}, runtime={s.runtime!r}, prefix={s.prefix!r}, engine={s.engine!r})",
            f"c.CourseDirectory.root = {str(self.folder)!r}",
            f"c.CourseDirectory.course_id = {self.course!r}",
            f"c.CourseDirectory.db_url = {self.db_url!r}",
            f"c.SandboxedExecute.image = {s.image!r}",
            f"c.SandboxedExecute.runtime = {s.runtime!r}",
            f"c.SandboxedExecute.engine = {s.engine!r}",
            f"c.SandboxedExecute.mode = {s.mode!r}",
            f"c.SandboxedExecute.timeout = {s.timeout!r}",
            f"c.SandboxedExecute.prefix = {s.prefix!r}",
            # The exchange as the grading service's own hub token reaches it (collect, release, feedback); the
            # course's formgrader, which holds no hub token, reaches it through the service with a token of its own.
            *[f"c.ExchangeFactory.{action} = 'studio_ext.exchange.{cls}'" for action, cls in EXCHANGE_PLUGINS],
            "import os",
            # Its sandboxes too: its account may not use Docker, the service runs them for it.
            "if os.environ.get('STUDIO_FORMGRADER_TOKEN'):",
            "    c.Exchange.url = os.environ.get('STUDIO_FORMGRADER_EXCHANGE_URL', '')",
            "    c.Exchange.token = os.environ['STUDIO_FORMGRADER_TOKEN']",
            "    c.SandboxedExecute.backend = c.SandboxedAutotests.backend = 'service'",
            "    c.SandboxedExecute.grading_url = os.environ.get('STUDIO_FORMGRADER_GRADING_URL', '')",
            "    c.SandboxedAutotests.grading_url = os.environ.get('STUDIO_FORMGRADER_GRADING_URL', '')",
            "else:",
            f"    c.Exchange.url = {self.exchange_url!r}",
        ]
        _write_atomic(self.folder / "nbgrader_config.py", "\n".join(lines) + "\n")
        if self.owner:
            self._lay_out()
        return self.folder

    def _lay_out(self) -> None:
        """The course folder and its configuration: the service's, readable by the course account's group only
        (other courses' accounts see nothing of it); the shared folders: the course account's."""
        uid, gid = self.owner
        os.chown(self.folder, 0, gid)
        os.chmod(self.folder, 0o750)
        os.chown(self.folder / "nbgrader_config.py", 0, gid)
        os.chmod(self.folder / "nbgrader_config.py", 0o640)
        for name in SHARED:
            (self.folder / name).mkdir(exist_ok=True)
        self.hand_over(*SHARED)

    def check_shared(self, rel: str) -> list[Path]:
        """``rel`` is in a shared folder, reached through no link (the course account could have made one, for the
        service to write or hand over what it points at): the folders leading there and ``rel``; else ValueError."""
        parts = Path(rel).parts
        if not parts or parts[0] not in SHARED or ".." in parts:
            raise ValueError(f"{rel!r} is not in a folder the course account writes")
        chain = [self.folder.joinpath(*parts[: i + 1]) for i in range(len(parts))]
        linked = [p for p in chain[:-1] if p.is_symlink()]
        if linked:
            raise ValueError(f"{linked[0].relative_to(self.folder)} is a link: the service writes nothing through it")
        return chain

    def hand_over(self, *paths: str) -> None:
        """What the service wrote at ``paths`` (relative to the course folder, with the folders leading there)
        becomes the course account's, so its formgrader may replace it. Links are never followed."""
        if not self.owner:
            return
        uid, gid = self.owner
        for rel in paths:
            path = self.folder / rel
            chain = self.check_shared(rel)
            for entry in chain[:-1]:
                _own(entry, uid, gid)
            if not path.is_symlink() and path.is_dir():
                for folder, dirs, files in os.walk(path):
                    _own(Path(folder), uid, gid)
                    for name in dirs + files:
                        _own(Path(folder) / name, uid, gid)
            else:
                _own(path, uid, gid)

    def source_dir(self, assignment: str) -> Path | None:
        """The assignment's source folder here, first copied from the course repository if only that has it."""
        mine = self.folder / "source" / assignment
        if mine.is_dir():
            return mine
        theirs = self.content_dir / self.course / "source" / assignment if self.content_dir else None
        if theirs is None or not theirs.is_dir():
            return None
        _replace_folder(mine, {str(p.relative_to(theirs)): p.read_bytes() for p in theirs.rglob("*") if p.is_file()})
        self.hand_over(f"source/{assignment}")
        return mine

    def put_source(self, assignment: str, files: dict[str, bytes]) -> None:
        """An instructor's release brings the source it was generated from: it replaces the one here."""
        _replace_folder(self.folder / "source" / assignment, files)
        self.hand_over(f"source/{assignment}")

    def put_submission(self, assignment: str, student: str, files: dict[str, bytes], timestamp: str) -> Path:
        """The submission as ``nbgrader collect`` leaves it (with timestamp.txt), replacing an earlier one."""
        dest = self.folder / "submitted" / student / assignment
        _replace_folder(dest, {**files, "timestamp.txt": timestamp.encode()})
        self.hand_over(f"submitted/{student}/{assignment}")
        return dest

    # --- what an earlier version of the service did (now in its table: studio_grader.service.ledger) ------------
    def take_old_status(self) -> dict[str, dict]:
        """The ``status.json`` an earlier version kept here, once: renamed ``status.json.imported`` after."""
        path = self.folder / STATUS_FILE
        try:
            entries = json.loads(path.read_text())
            if not isinstance(entries, dict) or not all(isinstance(e, dict) and "/" in k for k, e in entries.items()):
                raise ValueError("not a status file")
        except FileNotFoundError:
            return {}
        except ValueError:
            # Never lose the service's start over it: everything is graded again, which is harmless.
            path.rename(path.with_suffix(".json.broken"))
            return {}
        path.rename(path.with_suffix(".json.imported"))
        return entries


EXCHANGE_PLUGINS = [
    ("exchange", "Exchange"),
    ("release_assignment", "ReleaseAssignment"),
    ("list", "List"),
    ("collect", "Collect"),
    ("release_feedback", "ReleaseFeedback"),
]


def _own(path: Path, uid: int, gid: int) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)


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
