"""Formgrader per course, behind the grading service: one jupyter-server per course, started on first use.

Each runs nbgrader's formgrader and nothing else (no JupyterLab, no kernels offered, no learner extensions) in the
course's grading folder, listens on 127.0.0.1 only and accepts only the grading service (a token of its own). The
grading service authorizes every request by the caller's hub groups and forwards only formgrader's own pages and
API, so a course's formgrader is reached by that course's graders and instructors only, and a new course needs no
hub restart: its formgrader starts the first time one of them opens it.
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

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

log = logging.getLogger("studio.grading")
EXTENSION = "nbgrader.server_extensions.formgrader"


@dataclass
class Formgrader:
    course: str
    folder: Path
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

    def __init__(self, prefix: str, start_timeout: float = 60.0):
        self.prefix = prefix.rstrip("/") + "/formgrader/"
        self.start_timeout = start_timeout
        self.running: dict[str, Formgrader] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def get(self, course: str, folder: Path) -> Formgrader:
        lock = self.locks.setdefault(course, asyncio.Lock())
        async with lock:
            fg = self.running.get(course)
            if fg is None or not fg.alive():
                fg = self.running[course] = await self._start(course, folder)
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

    async def _start(self, course: str, folder: Path) -> Formgrader:
        fg = Formgrader(course, folder, f"{self.prefix}{course}/", _free_port())
        env = {**os.environ, "STUDIO_FORMGRADER_TOKEN": fg.token}
        fg.proc = subprocess.Popen(
            [sys.executable, "-m", "studio_grader.formgrader", "--port", str(fg.port), "--base-url", fg.base_url],
            cwd=folder, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        client = AsyncHTTPClient()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            if fg.proc.poll() is not None:
                raise RuntimeError(f"formgrader of {course} exited (code {fg.proc.returncode}); see the service log")
            try:
                await client.fetch(fg.url + "formgrader/api/status", headers={"Authorization": f"token {fg.token}"},
                                   request_timeout=5)  # fmt: skip
                log.info("formgrader of %s started at %s", course, fg.url)
                return fg
            except (HTTPClientError, OSError):
                await asyncio.sleep(0.3)
        fg.proc.kill()
        raise RuntimeError(f"formgrader of {course} did not start within {self.start_timeout:.0f} s")

    def stop(self) -> None:
        for fg in self.running.values():
            _stop(fg)


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

    class FormgraderServer(ServerApp):
        name = "studio-formgrader"

        def find_server_extensions(self) -> None:
            # Only formgrader: the environment's other extensions (JupyterLab, the learners') have no place here.
            self.jpserver_extensions = {EXTENSION: True}

    root = str(Path.cwd())
    token = os.environ["STUDIO_FORMGRADER_TOKEN"]
    # Run by the hub's own user (root in the embedded default); student code runs only in grading sandboxes.
    FormgraderServer.launch_instance(argv=[
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={args.port}", "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={args.base_url}", f"--ServerApp.root_dir={root}", "--no-browser", "--allow-root",
        f"--IdentityProvider.token={token}", "--ServerApp.terminals_enabled=False",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
