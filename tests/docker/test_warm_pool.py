"""The warm pool: learners' containers started before their learners, handed over with the learner's own home."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from studio_hub import homes
from tests.docker.conftest import HOME_SIZE, new_learner, waiting_containers
from tests.docker.test_sandboxed_spawner import spawn_via_api
from tests.integration.client import Visitor
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.docker


def docker_json(*args: str):
    return json.loads(subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout)


def wait_for_pool(stack, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = waiting_containers(stack)
        if ready:
            time.sleep(1)  # the hub polls the port every 50 ms before it counts the container as ready
            return ready[0]
        time.sleep(1)
    pytest.fail(f"no pooled container ready within {timeout} s")


def stop_via_api(stack, v: Visitor, user: str) -> None:
    api = f"{stack.hub_url}/hub/api/users/{user}"
    headers = {"X-XSRFToken": v.http.cookies.get("_xsrf", path="/hub/")}
    v.http.delete(f"{api}/server", headers=headers)
    deadline = time.monotonic() + 60
    while v.http.get(api, headers=headers).json()["servers"] and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_learner_gets_a_pooled_container_with_their_own_home_and_the_pool_refills(docker_stack):
    v = Visitor(docker_stack)
    v.login("early", new_learner(docker_stack, "early"))
    assert v.follow(f"{docker_stack.hub_url}/hub/home").status_code == 200  # the hub now fills its pool
    pooled = wait_for_pool(docker_stack)

    t0 = time.monotonic()
    spawn_via_api(docker_stack, v, "early")
    print(f"\nspawn from the pool (REST request → ready): {time.monotonic() - t0:.1f} s")
    container = f"{docker_stack.container_prefix}-early"
    info = docker_json("inspect", container)[0]
    assert info["Id"] == pooled  # the waiting container became theirs
    assert info["HostConfig"]["Runtime"] == "runsc" and info["HostConfig"]["ReadonlyRootfs"]
    slot = Path(next(m["Source"] for m in info["Mounts"] if m["Destination"] == "/home"))
    assert slot.parent == docker_stack.var / "hub" / "home-images" / "warm"

    code = (
        "import os, shutil, subprocess\n"
        "print(os.environ['JUPYTERHUB_USER'], 'STUDIO_WARM_KEY' in os.environ, os.getcwd())\n"
        "print(sorted(os.listdir('/home')), sorted(os.listdir('/home/learner')))\n"
        "print(shutil.disk_usage('/home/learner').total, os.stat('/home/learner').st_uid)\n"
        "open('/home/learner/kept.txt', 'w').write('mine')\n"
        "print(subprocess.run(['ls', '/home/learner'], capture_output=True, text=True).stdout.split())"
    )
    assert v.follow(f"{docker_stack.user_url('early')}lab").status_code == 200  # logs in to the server (OAuth)
    out = run_in_kernel(v, docker_stack.user_url("early"), code)
    assert out["status"] == "ok", out
    who, home_listing, disk, ls = out["stdout"].splitlines()
    assert who == "early False /home/learner"  # their identity; the pool's key is not in the kernel's environment
    assert home_listing.startswith("['learner'] [") and "'.bashrc'" in home_listing  # no other home; a shell set up
    total, uid = map(int, disk.split())
    assert 0.8 * homes.size_in_bytes(HOME_SIZE) <= total <= homes.size_in_bytes(HOME_SIZE) and uid == 1000
    assert "kept.txt" in ls

    # The pool's handover port is now the learner's Jupyter server: another hand-over is refused.
    ip = info["NetworkSettings"]["Networks"][docker_stack.network]["IPAddress"]
    again = requests.post(
        f"http://{ip}:8888/studio-warm/assign",
        json={"env": {}, "argv": [], "home": "/tmp"},
        headers={"Authorization": "token guess"},
        timeout=10,
    )
    assert again.status_code in (403, 404) and "assigned" not in again.text

    # The hub starts another one for the next learner.
    refill = wait_for_pool(docker_stack)
    assert refill != pooled

    # Stopped: the home is unmounted from the slot, the slot removed, the loop device free; the file is kept.
    image = docker_stack.var / "hub" / "home-images" / f"{docker_stack.container_prefix}-home-early.ext4"
    stop_via_api(docker_stack, v, "early")
    assert not slot.exists()
    assert not subprocess.run(["losetup", "--associated", str(image)], capture_output=True, text=True).stdout
    spawn_via_api(docker_stack, v, "early")
    assert v.follow(f"{docker_stack.user_url('early')}lab").status_code == 200
    kept = run_in_kernel(v, docker_stack.user_url("early"), "print(open('/home/learner/kept.txt').read())")
    assert kept["stdout"].strip() == "mine", kept


def test_stopping_the_hub_removes_the_containers_still_waiting(learner_image):
    """Ctrl-C on a demo with Docker learners left its pooled gVisor containers running until the next hub started:
    the hub's stop removes them, and their slot folders."""
    from tests.docker.conftest import docker_learners_stack

    with docker_learners_stack(learner_image, STUDIO_WARM_POOL="2") as stack:
        v = Visitor(stack)
        v.login("student1")
        assert v.follow(f"{stack.hub_url}/hub/home").status_code == 200  # the hub now fills its pool
        deadline = time.monotonic() + 240
        while len(waiting_containers(stack)) < 2:
            assert time.monotonic() < deadline, "the pool did not fill"
            time.sleep(1)
        stack.stop("hub")
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"name={stack.container_prefix}-warm-"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert left == [], f"pooled containers left running after the hub stopped: {left}"
        slots = stack.var / "hub" / "home-images" / "warm"
        assert not slots.is_dir() or not any(slots.iterdir()), list(slots.iterdir())
        assert "Warm pool: removed" in (stack.log_dir / "hub.log").read_text()
