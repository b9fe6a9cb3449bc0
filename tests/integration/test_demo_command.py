"""`make demo`'s launcher: starts, prints URLs and accounts, serves a learner, stops on Ctrl-C, restarts fast."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.integration.client import Visitor

pytestmark = pytest.mark.integration


def start_demo(env: dict[str, str]) -> tuple[subprocess.Popen, str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "embedded.py"), "demo"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Press Ctrl-C to stop" in line:
            return proc, "".join(lines), time.monotonic() - t0
    proc.wait()
    pytest.fail("demo exited before it was ready:\n" + "".join(lines))


def ctrl_c(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 0, rest
    return rest


def test_demo_starts_prints_urls_stops_on_ctrl_c_and_restarts(tmp_path):
    from embedded import free_port, port_is_free

    run = secrets.token_hex(3)
    prefix = f"d{run}-"
    ports = {name: free_port() for name in ("HUB", "PORTAL", "HUB_API", "PROXY_API")}
    var = ROOT / "var" / "tests" / f"demo-{run}"
    env = {**os.environ, "STUDIO_DEMO_VAR": str(var), "STUDIO_LEARNER_USER_PREFIX": prefix,
           **{f"STUDIO_{k}_PORT": str(v) for k, v in ports.items()}}  # fmt: skip
    proc = None
    try:
        proc, out, first = start_demo(env)
        hub, portal = f"http://127.0.0.1:{ports['HUB']}", f"http://127.0.0.1:{ports['PORTAL']}"
        assert f"Portal (start here):  {portal}/" in out and f"JupyterHub:           {hub}/" in out
        passwords = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", out, re.M))
        assert set(passwords) == {"student1", "student2", "student3", "grader1", "instructor1"}

        # A learner's server runs when Ctrl-C comes: everything must go.
        stack = type("S", (), {"portal_url": portal, "hub_url": hub, "passwords": passwords})()
        v = Visitor(stack)
        v.login("student1")
        assert v.open_lesson("intro-python", "loops").url.endswith("/lab/tree/intro-python/lessons/04-loops.ipynb")
        learner = pwd.getpwnam(f"{prefix}student1")
        assert "[demo] stopped." in ctrl_c(proc)
        assert all(port_is_free(p) for p in ports.values())
        left = subprocess.run(["pgrep", "-u", str(learner.pw_uid)], capture_output=True, text=True).stdout
        assert left == "", f"learner processes left behind: {left}"

        # Second start reuses everything: same accounts, and the learner's copy of the lesson is still there.
        proc, out2, second = start_demo(env)
        print(f"\ndemo start: first {first:.1f} s, second {second:.1f} s (set-up and start, after `make setup`)")
        assert dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", out2, re.M)) == passwords
        assert os.path.exists(f"{learner.pw_dir}/intro-python/lessons/04-loops.ipynb")
        ctrl_c(proc)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        for entry in pwd.getpwall():
            if entry.pw_name.startswith(prefix):
                subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], capture_output=True)
                subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
        shutil.rmtree(var, ignore_errors=True)
