"""Formgrader per course, behind the grading service: one jupyter-server per course, started on first use.

Each runs nbgrader's formgrader and nothing else (no JupyterLab, no kernels offered, no learner extensions) in the
course's grading folder, listens on 127.0.0.1 only and accepts only the grading service (a token of its own). The
grading service authorizes every request by the caller's hub groups and forwards only formgrader's own pages and
API, so a course's formgrader is reached by that course's graders and instructors only, and a new course needs no
hub restart: its formgrader starts the first time one of them opens it.

A formgrader holds a course folder with students' files in it (``submitted/``, ``autograded/``), so:

- it serves that folder only: nbgrader's start page would re-initialise formgrader from any folder named by its
  ``path`` argument, running that folder's ``nbgrader_config.py`` (a file a student can submit); here that argument
  is refused, and its configuration is the course folder's own ``nbgrader_config.py``, which the grading service
  writes;
- its environment holds its own token and nothing of the service's (no hub token, no grades token, no gradebook
  URL); what it needs of the exchange (release, collect, feedback) it asks the grading service for, with its own
  token, for its own course only (``formgrader-exchange/<course>/`` there);
- it runs under the course's own Unix account (:mod:`studio_grader.accounts`), never as root or as the service's
  user: it writes its course's shared folders and gradebook only (:mod:`studio_grader.courses`), reads no other
  course's, and may not use Docker: notebooks it autogrades, and AUTOTEST directives it expands, run in the service's
  sandboxes (``api/execute/<course>``, ``api/autotests/<course>`` there, with its own token).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from studio_wire import http
from tornado import web

log = logging.getLogger("studio.grading")
EXTENSION = "nbgrader.server_extensions.formgrader"


@dataclass
class Formgrader:
    course: str
    folder: Path
    owner: tuple[int, int]  # the course account's uid and gid
    base_url: str
    port: int
    token: str = field(default_factory=lambda: secrets.token_hex(24), repr=False)
    proc: subprocess.Popen | None = None
    last_used: float = 0.0  # time.monotonic() of the last request through the service

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Formgraders:
    """The running formgraders, by course."""

    def __init__(self, prefix: str, start_timeout: float = 60.0, service_url: str = ""):
        self.prefix = prefix.rstrip("/") + "/formgrader/"
        # Where formgraders reach the service: its formgrader-exchange/<course>/ and api/ (their sandboxes).
        self.service_url = service_url.rstrip("/") + "/" if service_url else ""
        self.start_timeout = start_timeout
        self.running: dict[str, Formgrader] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def get(self, course: str, folder: Path, owner: tuple[int, int] | None) -> Formgrader:
        """The course's formgrader, started if need be under ``owner`` (the course's account); without one (a
        service not run by root) none starts: FormgraderUnavailable."""
        if owner is None:
            raise FormgraderUnavailable(
                "formgrader runs under an account of its course's own, which only root makes: "
                "the grading service does not run as root here"
            )
        lock = self.locks.setdefault(course, asyncio.Lock())
        async with lock:
            fg = self.running.get(course)
            if fg is None or not fg.alive():
                fg = self.running[course] = await self._start(course, folder, owner)
            fg.last_used = time.monotonic()
            return fg

    def stop_idle(self, max_idle: float) -> list[str]:
        """Stop the formgraders nobody used for ``max_idle`` seconds (the next request starts them again)."""
        now = time.monotonic()
        idle = [c for c, fg in self.running.items() if now - fg.last_used >= max_idle and not self.locks[c].locked()]
        for course in idle:
            _stop(self.running.pop(course))
            log.info("formgrader of %s stopped: unused for %.0f s", course, max_idle)
        return idle

    async def _start(self, course: str, folder: Path, owner: tuple[int, int]) -> Formgrader:
        fg = Formgrader(course, folder, owner, f"{self.prefix}{course}/", _free_port())
        env = formgrader_env(fg, self.service_url)
        uid, gid = owner
        fg.proc = subprocess.Popen(
            [sys.executable, "-m", "studio_grader.formgrader", "--port", str(fg.port), "--base-url", fg.base_url],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            user=uid,
            group=gid,
            extra_groups=[],
            umask=0o027,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        async with http.async_client(5) as client:
            while loop.time() < deadline:
                if fg.proc.poll() is not None:
                    raise RuntimeError(
                        f"formgrader of {course} exited (code {fg.proc.returncode}); see the service log"
                    )
                try:
                    status = fg.url + "formgrader/api/status"
                    (await client.get(status, headers={"Authorization": f"token {fg.token}"})).raise_for_status()
                    log.info("formgrader of %s started at %s", course, fg.url)
                    return fg
                except http.Error:
                    await asyncio.sleep(0.3)
        fg.proc.kill()
        raise RuntimeError(f"formgrader of {course} did not start within {self.start_timeout:.0f} s")

    def token_of(self, course: str) -> str | None:
        """The token of ``course``'s running formgrader (it calls the service with it), if one runs."""
        fg = self.running.get(course)
        return fg.token if fg is not None and fg.alive() else None

    def stop(self) -> None:
        for fg in self.running.values():
            _stop(fg)


# What of the service's environment a formgrader gets: how to run programs and read text, nothing else.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


class FormgraderUnavailable(RuntimeError):
    """No formgrader can run for this course here (the reason is for the person who opened it)."""


def formgrader_env(fg: Formgrader, service_url: str) -> dict[str, str]:
    """A formgrader's whole environment: its own token and where its course's exchange calls and sandboxes go.
    Its Jupyter folders are its own (never a home a student's file could be in), its account's only."""
    uid, gid = fg.owner
    homes = fg.folder.parent / ".formgrader"
    homes.mkdir(mode=0o711, exist_ok=True)
    home = homes / fg.course
    for sub in ("", "config", "data", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chown(home / sub, uid, gid, follow_symlinks=False)
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    return {
        **env,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "STUDIO_FORMGRADER_TOKEN": fg.token,
        "STUDIO_FORMGRADER_EXCHANGE_URL": f"{service_url}formgrader-exchange/{fg.course}/" if service_url else "",
        "STUDIO_FORMGRADER_GRADING_URL": service_url,
    }


def _stop(fg: Formgrader) -> None:
    if fg.alive():
        fg.proc.terminate()
        try:
            fg.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fg.proc.kill()
            fg.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    """A jupyter-server with formgrader only, in the working folder (a course's grading folder)."""
    import argparse

    from jupyter_server.serverapp import ServerApp

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args(argv)

    _serve_own_course_only()

    class FormgraderServer(ServerApp):
        name = "studio-formgrader"

        def find_server_extensions(self) -> None:
            # Only formgrader: the environment's other extensions (JupyterLab, the learners') have no place here.
            self.jpserver_extensions = {EXTENSION: True}

    root = str(Path.cwd())
    token = os.environ["STUDIO_FORMGRADER_TOKEN"]
    # Run by the course's own account (never root: the service starts it so); student code runs only in sandboxes.
    FormgraderServer.launch_instance(
        argv=[
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={args.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={args.base_url}",
            f"--ServerApp.root_dir={root}",
            "--no-browser",
            f"--IdentityProvider.token={token}",
            "--ServerApp.terminals_enabled=False",
        ]
    )


def _serve_own_course_only() -> None:
    """nbgrader's start page (``formgrader/``) re-initialises formgrader from the folder its ``path`` argument names,
    loading that folder's ``nbgrader_config.py``: replaced by one that refuses the argument and never re-reads
    configuration. And the submission view renders with the sanitising exporter."""
    from nbgrader.server_extensions.formgrader import handlers

    class CourseOnlyFormgraderHandler(handlers.BaseHandler):
        @web.authenticated
        def get(self):
            if "path" in self.request.query_arguments:
                raise web.HTTPError(400, "this formgrader serves its own course only")
            self.redirect(f"{self.base_url}/formgrader/manage_assignments")

    # The submission view: the notebook's HTML sanitised (studio_grader.render), whatever nbgrader's template does.
    from nbgrader.server_extensions.formgrader import formgrader

    from .render import SanitizingHTMLExporter

    formgrader.HTMLExporter = SanitizingHTMLExporter

    handlers.default_handlers[:] = [
        (pattern, CourseOnlyFormgraderHandler if handler is handlers.FormgraderHandler else handler, *rest)
        for pattern, handler, *rest in handlers.default_handlers
    ]


if __name__ == "__main__":
    main()
