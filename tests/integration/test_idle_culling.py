"""Idle culling: jupyterhub-idle-culler, run by the hub as a service, stops servers idle longer than the timeout."""

from __future__ import annotations

import pwd
import subprocess
import time

import pytest

from tests.conftest import running_stack
from tests.integration.client import Visitor

pytestmark = pytest.mark.integration


def test_an_idle_server_is_stopped_and_its_work_kept():
    with running_stack("culling", {"STUDIO_CULL_TIMEOUT": "10", "STUDIO_CULL_EVERY": "5"}) as stack:
        v = Visitor(stack)
        v.login("student1")
        assert v.open_lesson("intro-python", "values-and-names").status_code == 200
        account = pwd.getpwnam(f"{stack.learner_prefix}student1")
        running = ["pgrep", "-u", str(account.pw_uid), "-f", "jupyterhub-singleuser"]
        assert subprocess.run(running, capture_output=True).returncode == 0
        deadline = time.monotonic() + 60
        while subprocess.run(running, capture_output=True).returncode == 0 and time.monotonic() < deadline:
            time.sleep(1)
        assert subprocess.run(running, capture_output=True).returncode != 0, "the idle server was not culled"
        assert "Culling server student1" in (stack.log_dir / "hub.log").read_text()
        copy = f"{account.pw_dir}/intro-python/lessons/01-values-and-names.ipynb"
        assert subprocess.run(["test", "-f", copy]).returncode == 0  # the learner's work stays
        # Coming back starts a new server with the same home.
        assert v.open_lesson("intro-python", "values-and-names").status_code == 200
