"""The Unix account a course's formgrader runs under: one per course, made by the grading service (root).

Formgrader reads students' files and renders them for graders; if anything of a submission ever got code to run in
it, that code holds the course account's rights: its course's shared folders and gradebook, nothing of the service's
(tokens, configuration, Docker) and nothing of another course's.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess

MAX_NAME = 32  # useradd's limit


def course_account(prefix: str, course: str) -> str:
    """``prefix`` and a digest of the course id (ids hold characters account names may not; never two courses
    on one account)."""
    return prefix + hashlib.sha256(course.encode()).hexdigest()[: min(16, MAX_NAME - len(prefix))]


def ensure_course_account(prefix: str, course: str) -> tuple[int, int]:
    """The course's account (made if missing: a system account with a group of its own, no home, no login
    shell); its uid and gid. Only root makes accounts: anyone else gets a PermissionError."""
    name = course_account(prefix, course)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if os.geteuid() != 0:
            raise PermissionError(
                "a formgrader runs under an account of its own course's, which only root makes: "
                "run the grading service as root"
            ) from None
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                f"formgrader of {course}"[:100],
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise PermissionError(f"{name} is a root account: not a formgrader's")
    return entry.pw_uid, entry.pw_gid
