"""Idle culling under Docker: the hub's jupyterhub-idle-culler stops an idle learner's gVisor container; the home
(an ext4 image on a loop device) is released and kept, and coming back starts a new container on it."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.docker.conftest import docker_learners_stack
from tests.integration.client import Visitor

pytestmark = pytest.mark.docker


def test_an_idle_container_is_culled_its_home_released_and_kept(learner_image):
    with docker_learners_stack(learner_image, STUDIO_CULL_TIMEOUT="10", STUDIO_CULL_EVERY="5") as stack:
        container = f"{stack.container_prefix}-student1"
        image = stack.var / "hub" / "home-images" / f"{stack.container_prefix}-home-student1.ext4"

        def running() -> bool:
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Running}}", container], capture_output=True, text=True
            ).stdout.strip()
            return state == "true"

        def loop_devices() -> str:
            return subprocess.run(["losetup", "--associated", str(image)], capture_output=True, text=True).stdout

        v = Visitor(stack)
        v.login("student1")
        assert v.open_lesson("intro-python", "values-and-names").status_code == 200
        assert running() and loop_devices()
        server = stack.user_url("student1")
        xsrf = {"X-XSRFToken": v.http.cookies.get("_xsrf", path="/user/student1/") or ""}
        note = {"type": "file", "format": "text", "content": "mine"}
        assert v.http.put(f"{server}api/contents/kept.txt", json=note, headers=xsrf).status_code in (200, 201)
        t0 = time.monotonic()
        while running() and time.monotonic() - t0 < 90:
            time.sleep(1)
        assert not running(), "the idle container was not culled"
        print(f"\nculled {time.monotonic() - t0:.0f} s after the lesson opened (timeout 10 s, every 5 s)")
        assert "Culling server student1" in (stack.log_dir / "hub.log").read_text()
        gone = subprocess.run(["docker", "inspect", container], capture_output=True)
        assert gone.returncode != 0  # removed, not left stopped
        assert loop_devices() == ""  # the home's loop device is released with it
        home = v.http.get(f"{stack.hub_url}/hub/home").text
        assert "studio-server-stopped" not in home  # culling is not a crash: no "stopped on its own" banner
        # Coming back starts a new container on the same home: the file written before is still there.
        resp = v.open_lesson("intro-python", "values-and-names")
        assert resp.status_code == 200 and running()
        kept = v.http.get(f"{server}api/contents/kept.txt")
        assert kept.status_code == 200 and kept.json()["content"] == "mine"
