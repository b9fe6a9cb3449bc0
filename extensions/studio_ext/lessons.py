"""Open a lesson: copy its notebook from the course's read-only content into the learner's home, and keep it current.

The rule learners expect (nbgitpuller's merge, for a single file): the first open copies the course's notebook. When
the course team changes the lesson later, a learner who never changed their copy gets the new version at the next
open; one who did keeps theirs, never overwritten, and finds the new version beside it (``<name>.updated.ipynb``),
told so once on a page with both. A copy that a learner deleted is copied again on the next open. What each learner
was given is remembered in ``~/.studio/lessons.json`` (a copy's hash against it tells whether it was changed).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from studio_wire import http
from tornado import web
from traitlets import Unicode, default
from traitlets.config import LoggingConfigurable

COURSE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
UPDATED_RE = re.compile(r"\.updated(-\d{8}-\d{6})?$")  # what sync_lesson adds to a new version's name
ROLE_GROUP_PREFIXES = ("students-", "graders-", "instructors-")


def lesson_parts(course: str, path: str) -> PurePosixPath:
    """Validate a course slug and a lesson path; return the path relative to the course folder.

    Raises ``web.HTTPError(400)`` for anything that is not a plain relative path to a notebook.
    """
    if not COURSE_RE.match(course):
        raise web.HTTPError(400, f"{course!r} is not a course name")
    rel = PurePosixPath(path)
    if (
        not path
        or "\\" in path
        or "\x00" in path
        or rel.is_absolute()
        or any(part in ("", ".", "..") or part.startswith(".") for part in path.split("/"))
        or rel.suffix != ".ipynb"
    ):
        raise web.HTTPError(400, f"{path!r} is not a lesson notebook path")
    return rel


@dataclass
class Synced:
    """What opening a lesson did to the learner's copy: "copied" (first open, or deleted), "current" (nothing to do),
    "updated" (an unchanged copy replaced by the course's new version), "kept" (a changed copy kept; ``beside``
    holds the new version when there is one; ``tell``: the learner has not been told of it yet)."""

    how: str
    beside: Path | None = None
    tell: bool = False


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_beside(source: Path, dest: Path, *, replace: bool) -> None:
    """``source``'s bytes at ``dest``, written beside it and moved into place (never half a notebook)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".studio-", suffix=".ipynb")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would surprise a learner sharing their notebook folder
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        if replace:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Given:
    """What each lesson copy was given (``~/.studio/lessons.json``): {lesson key: {"given": hash, "offered": hash}}."""

    def __init__(self, home: Path):
        self.path = home / ".studio" / "lessons.json"
        try:
            self.entries = json.loads(self.path.read_text())
            if not isinstance(self.entries, dict):
                raise ValueError
        except (OSError, ValueError):
            self.entries = {}

    def get(self, key: str, field: str) -> str | None:
        entry = self.entries.get(key)
        return entry.get(field) if isinstance(entry, dict) and isinstance(entry.get(field), str) else None

    def set(self, key: str, **fields: str) -> None:
        entry = self.entries.get(key) if isinstance(self.entries.get(key), dict) else {}
        self.entries[key] = {**entry, **fields}
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = self.path.with_name(f".lessons-{os.getpid()}.json")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def sync_lesson(source: Path, dest: Path, given: Given, key: str) -> Synced:
    """Bring the learner's copy ``dest`` of ``source`` up to date by the rule above."""
    new = _digest(source)
    if not (dest.exists() or dest.is_symlink()) and copy_once(source, dest):
        given.set(key, given=new, offered=new)
        return Synced("copied")
    if not dest.is_file():
        return Synced("kept")
    mine, had = _digest(dest), given.get(key, "given")
    if mine == new:
        given.set(key, given=new, offered=new)
        return Synced("current")
    if had is not None and mine == had:  # never changed by the learner: the course's new version replaces it
        _write_beside(source, dest, replace=True)
        given.set(key, given=new, offered=new)
        return Synced("updated")
    beside = dest.with_name(f"{dest.stem}.updated.ipynb")
    if had == new or given.get(key, "offered") == new:  # nothing newer than what they have, or told already
        return Synced("kept", beside if beside.is_file() else None)
    if beside.exists() and _digest(beside) != given.get(key, "offered"):  # their own work there too: a new name
        beside = dest.with_name(f"{dest.stem}.updated-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
    _write_beside(source, beside, replace=True)
    given.set(key, offered=new)
    return Synced("kept", beside, tell=True)


def copy_once(source: Path, dest: Path) -> bool:
    """Copy ``source`` to ``dest`` unless ``dest`` exists; return whether it copied.

    The copy is written beside ``dest`` and linked into place, so a learner never sees half a notebook and an
    existing file is never replaced, even by two opens racing each other.
    """
    if dest.exists() or dest.is_symlink():
        return False
    try:
        _write_beside(source, dest, replace=False)
        return True
    except FileExistsError:
        return False


class Lessons(LoggingConfigurable):
    """Where lessons come from, and who may open them."""

    content_dir = Unicode(
        config=True,
        help="""Folder holding the courses' read-only content, one sub-folder per course slug.
        Default: $STUDIO_CONTENT_DIR. Example: c.Lessons.content_dir = "/srv/course-content"
        """,
    )

    @default("content_dir")
    def _default_content_dir(self) -> str:
        return os.environ.get("STUDIO_CONTENT_DIR", "")

    hub_api_url = Unicode(
        config=True,
        help="""JupyterHub's API, asked for the owner's groups (course membership). Empty: no hub, no
        membership check (a personal server). Default: $JUPYTERHUB_API_URL.
        Example: c.Lessons.hub_api_url = "http://127.0.0.1:8081/hub/api"
        """,
    )

    @default("hub_api_url")
    def _default_hub_api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "")

    portal_url = Unicode(
        config=True,
        help="""The portal's address, named in the message to learners who are not enrolled.
        Default: $STUDIO_PORTAL_URL. Example: c.Lessons.portal_url = "https://learn.example.org"
        """,
    )

    @default("portal_url")
    def _default_portal_url(self) -> str:
        return os.environ.get("STUDIO_PORTAL_URL", "")

    def lesson_of(self, path: str) -> tuple[str, str] | None:
        """(course, lesson name) when the notebook at ``path`` (relative to the home) is a copy of a course's lesson,
        as opening it puts it (``<course>/lessons/02-functions.ipynb``, or its ``.updated`` version beside it)."""
        parts = PurePosixPath(path).parts
        if not self.content_dir or len(parts) < 2 or not COURSE_RE.match(parts[0]) or not path.endswith(".ipynb"):
            return None
        rel = PurePosixPath(*parts[1:])
        name = UPDATED_RE.sub("", rel.stem)
        try:
            lesson_parts(parts[0], str(rel.with_name(name + ".ipynb")))
        except web.HTTPError:
            return None
        course = Path(self.content_dir) / parts[0]
        if (course / "course.toml").is_file() and (course / rel.with_name(name + ".ipynb")).is_file():
            return parts[0], name
        return None

    def source(self, course: str, rel: PurePosixPath) -> Path:
        """The course's notebook for ``rel``; 404 if there is none (symlinks out of the course are refused)."""
        if not self.content_dir:
            raise web.HTTPError(404, "This server has no course content configured")
        course_dir = Path(self.content_dir, course).resolve()
        source = (course_dir / rel).resolve()
        if not source.is_relative_to(course_dir) or not source.is_file():
            raise web.HTTPError(404, f"There is no lesson {str(rel)!r} in course {course!r}")
        return source

    async def owner_groups(self) -> set[str] | None:
        """The server owner's hub groups, or None when there is no hub to ask."""
        if not self.hub_api_url:
            return None
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        try:
            async with http.async_client(10) as client:
                resp = (
                    await client.get(
                        url_path_join(self.hub_api_url, "user"), headers={"Authorization": f"token {token}"}
                    )
                ).raise_for_status()
        except http.Error as e:
            self.log.error("studio_ext: cannot read groups from the hub: %s", e)
            raise web.HTTPError(503, "The hub did not answer; try again in a moment") from e
        return set(resp.json().get("groups") or [])

    async def check_member(self, course: str) -> None:
        groups = await self.owner_groups()
        if groups is None:
            return
        if not any(prefix + course in groups for prefix in ROLE_GROUP_PREFIXES):
            where = f" at {self.portal_url}" if self.portal_url else " in the portal"
            raise web.HTTPError(
                403,
                f"You are not enrolled in the course {course!r}. Enroll on the course's page{where}, then open "
                "the lesson again. If you enrolled a moment ago, reload this page in a few seconds.",
            )


class LessonHandler(JupyterHandler):
    auth_resource = "contents"

    @property
    def lessons(self) -> Lessons:
        return self.settings["studio_lessons"]

    @web.authenticated
    @authorized("write")  # opening a lesson may write its copy into the home folder
    async def get(self, course: str, path: str):
        rel = lesson_parts(course, path)
        source = self.lessons.source(course, rel)
        await self.lessons.check_member(course)
        home = Path(self.contents_manager.root_dir)
        dest_rel = PurePosixPath(course) / rel
        try:
            synced = sync_lesson(source, home / dest_rel, Given(home), str(dest_rel))
        except OSError as e:  # a file where a folder should be, a full disk, a read-only folder
            raise web.HTTPError(
                409,
                f"Could not put the lesson at {dest_rel} in your files ({e.strerror}). Move or rename what is "
                "in the way, then open the lesson again.",
            ) from e
        if synced.how in ("copied", "updated"):
            self.log.info("studio_ext: lesson %s %s in the learner's home", dest_rel, synced.how)
        mine = url_path_join(self.base_url, "lab", "tree", quote(str(dest_rel)))
        if not synced.tell:
            self.redirect(mine)
            return
        new = url_path_join(self.base_url, "lab", "tree", quote(str(synced.beside.relative_to(home))))
        self.finish(
            UPDATED_PAGE.format(
                title=html.escape(rel.stem),
                mine=html.escape(mine),
                mine_name=html.escape(str(dest_rel)),
                new=html.escape(new),
                new_name=html.escape(str(synced.beside.relative_to(home))),
            )
        )


UPDATED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>This lesson was updated</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>This lesson was updated</h1>
<p>Your course team changed <strong>{title}</strong> since you opened it. You had changed your copy, so it is kept
as it is: <a id="mine" href="{mine}">{mine_name}</a>.</p>
<p>The new version is beside it: <a id="new" href="{new}">{new_name}</a>. Open it to see what changed, and copy
over what you want to keep.</p>
</body></html>
"""


def handlers(base_url: str) -> list[tuple[str, type]]:
    return [(url_path_join(base_url, r"studio/lessons/([^/]+)/(.+)"), LessonHandler)]
