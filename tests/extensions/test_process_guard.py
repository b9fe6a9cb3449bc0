"""The per-kernel process limit (gVisor ignores RLIMIT_NPROC), on this machine with a safety net under it.

Each case runs in its own session as an unprivileged user with RLIMIT_NPROC set, so that if the guard failed the
host's own limit would still hold the bomb.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from studio_ext.process_guard import ProcessGuard, TooManyProcesses, end_session, session_tasks

# The virtualenv's python by its real path: the unprivileged user may not enter a checkout that .venv links from.
PYTHON = str(Path(sys.executable).parent.resolve() / "python")

HEADER = """
import os, sys, time, subprocess
from studio_ext.process_guard import ProcessGuard, TooManyProcesses
g = ProcessGuard(int(sys.argv[1]), out=sys.stdout).install()
"""


def run_guarded(body: str, limit: int, timeout: float = 60) -> str:
    code = HEADER + textwrap.dedent(body)
    cmd = [PYTHON, "-c", code, str(limit)]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    cmd = ["prlimit", "--nproc=400:400", *cmd]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd="/"
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        end_session(proc.pid)  # whatever the case left behind
        proc.wait()
        # Killed orphans are reaped by PID 1, which may take a moment; until then they count against RLIMIT_NPROC.
        deadline = time.monotonic() + 20
        while _session_has_any(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return out


def test_python_fork_bomb_is_refused_with_a_plain_message():
    out = run_guarded(
        """
        try:
            while True:
                os.fork()
        except TooManyProcesses as e:
            print("REFUSED:", os.getpid() == g.pid, e, flush=True)  # only the kernel itself gets here

        time.sleep(0.5)  # a few may pass the check together: any past the limit are ended by the watchdog
        print("LEFT", g.count()[0], flush=True)
        """,
        limit=8,
    )
    refused = re.search(r"REFUSED: True This kernel may run 8 processes at most, .* All \d+ processes it had", out)
    assert refused, out
    assert "REFUSED: False" not in out
    assert out.split("LEFT")[1].split()[0] == "1"  # the copies the bomb made are all gone


def test_shell_fork_bomb_is_ended_and_the_kernel_lives_on():
    if not shutil.which("bash"):
        pytest.skip("needs bash")
    out = run_guarded(
        """
        t0 = time.monotonic()
        subprocess.run(["bash", "-c", ":(){ :|:& };:; sleep 20"])  # returns when the watchdog ends the shell
        time.sleep(0.5)
        print("ALIVE stops", g.stops, "left", g.count()[0], "after %.1f s" % (time.monotonic() - t0), flush=True)
        """,
        limit=16,
    )
    assert "Stopped: the code in this cell started more than 16 processes at once" in out, out
    assert "Your kernel and its variables are still here" in out
    assert "ALIVE stops 1" in out
    assert "left 1 " in out  # only the kernel itself


def test_threads_count_towards_a_higher_limit():
    out = run_guarded(
        """
        import threading
        ev = threading.Event()
        started = 0
        try:
            for _ in range(100):
                threading.Thread(target=ev.wait, daemon=True).start()
                started += 1
        except TooManyProcesses as e:
            print("REFUSED after", started, ":", e, flush=True)
        ev.set()
        """,
        limit=4,
    )
    assert "REFUSED after" in out and "its limit is 16: no more threads can be started" in out, out
    assert int(out.split("REFUSED after")[1].split()[0]) < 16


def test_ordinary_subprocesses_are_untouched():
    out = run_guarded(
        """
        results = [subprocess.run(["true"]).returncode for _ in range(30)]  # one at a time: never near the limit
        print("OK", sum(results), g.stops, flush=True)
        """,
        limit=4,
    )
    assert "OK 0 0" in out, out


def test_session_tasks_reads_names_with_spaces_and_parentheses(tmp_path):
    odd = tmp_path / "a b) (c"
    odd.symlink_to(shutil.which("sleep"))
    proc = subprocess.Popen([str(odd), "5"], start_new_session=True)
    try:
        assert session_tasks(proc.pid) == {proc.pid: 1}
    finally:
        proc.kill()
        proc.wait()


def test_a_guard_outside_its_own_session_never_kills_its_parent():
    # Started by something that is not jupyter_client (no new session), the guard makes its own session first.
    code = HEADER + "print('SID', g.sid == os.getpid())"
    out = subprocess.run([PYTHON, "-c", code, "4"], capture_output=True, text=True, cwd="/")
    assert "SID True" in out.stdout, out.stderr


def test_limit_error_is_what_fork_raises_at_its_limit():
    assert issubclass(TooManyProcesses, BlockingIOError)
    assert ProcessGuard(8).thread_limit == 32


def _session_has_any(sid: int) -> bool:
    """Any process, zombies included, still in session ``sid``?"""
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.getsid(int(name)) == sid:
                return True
        except OSError:
            pass
    return False
