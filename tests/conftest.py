"""Shared test set-up: the portal's data folder, the repository paths, and helpers for the real stack."""

from __future__ import annotations

import pwd
import secrets
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The portal's test settings (studio_portal.settings.test) choose their own temporary data folder.
sys.path.insert(0, str(ROOT / "scripts"))

COURSE_CONTENT = ROOT / "course-content"
FIXTURE_CONTENT = Path(__file__).resolve().parent / "fixtures" / "content"


# --- the real stack: portal (gunicorn) + JupyterHub (with configurable-http-proxy) as processes -----------------


@contextmanager
def running_stack(name: str, extra_env: dict[str, str] | None = None, after_stop=None, **ports: int):
    """A running portal and hub on free loopback ports, with the demo accounts and a second course.

    Learners' Unix accounts get a per-run prefix so every run starts with empty homes; they are removed at the end.
    Logs are copied to tests/artifacts/logs/<name>-*.log for reading after a failure. ``after_stop(stack)`` runs
    once the stack has stopped, before its folder is removed.
    """
    from embedded import Stack, free_port

    run = secrets.token_hex(3)
    prefix = f"t{run}-"
    names = ("hub_port", "portal_port", "hub_api_port", "proxy_api_port", "exchange_port", "grading_port", "hints_port")
    ports = {key: ports.get(key) or free_port() for key in names}
    s = Stack(
        var=ROOT / "var" / "tests" / f"{name}-{run}",  # not under pytest's 0700 tmp: learners read the content
        courses=[COURSE_CONTENT / "intro-python", FIXTURE_CONTENT / "data-science"],
        # One grading worker (one warm sandbox) per test stack: the grading tests need no more.
        # Test stacks log in from this one address many times a minute: the login rate limit is raised for them.
        extra_env={
            "STUDIO_LEARNER_USER_PREFIX": prefix,
            "STUDIO_FORMGRADER_ACCOUNT_PREFIX": f"f{run}-",
            "STUDIO_GRADING_WORKERS": "1",
            "STUDIO_LOGIN_RATE": "600/m",
            # Grading sandboxes as the embedded default has them (Docker's where a test asks for them).
            "STUDIO_GRADING_SANDBOX": "bwrap",
            **(extra_env or {}),
        },
        **ports,
    )
    try:
        s.up()
        yield s
    finally:
        s.stop()
        if after_stop:
            after_stop(s)
        artifacts = ROOT / "tests" / "artifacts" / "logs"
        artifacts.mkdir(parents=True, exist_ok=True)
        for log in s.log_dir.glob("*.log"):
            shutil.copy(log, artifacts / f"{name}-{log.name}")
        for entry in pwd.getpwall():
            if entry.pw_name.startswith((prefix, f"f{run}-")):
                subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], capture_output=True)
                subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
        shutil.rmtree(s.var, ignore_errors=True)


def new_account(stack, username: str, course: str | None = None) -> str:
    """A portal account besides the demo ones, a student of ``course`` if given; returns its password."""
    password = secrets.token_urlsafe(12)
    enroll = ""
    if course:
        enroll = (
            "from studio_portal.catalog.models import CoursePage\n"
            "from studio_portal.courses.services import enrollment_create\n"
            f"enrollment_create(user=u, course=CoursePage.objects.get(slug={course!r}))\n"
        )
    stack.manage(
        "shell",
        "-c",
        (
            "from django.contrib.auth import get_user_model\n"
            f"u, _ = get_user_model().objects.get_or_create(username={username!r})\n"
            f"u.set_password({password!r}); u.save()\n" + enroll
        ),
    )
    return password


@pytest.fixture(scope="session")
def stack():
    with running_stack("local") as s:
        yield s
