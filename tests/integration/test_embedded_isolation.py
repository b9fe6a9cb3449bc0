"""Learners' servers in the embedded default, attacked from a real kernel: each attack fails, others keep working."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.integration.client import learner_in_lesson
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def student1(stack):
    return learner_in_lesson(stack, "student1", "intro-python", "values-and-names")


@pytest.fixture(scope="module")
def student2(stack):
    return learner_in_lesson(stack, "student2", "intro-python", "functions")


@pytest.fixture(scope="module")
def student2_home(stack, student2):
    return f"/home/{stack.learner_prefix}student2"


def attack(stack, visitor, code: str) -> dict:
    return run_in_kernel(visitor, stack.user_url("student1"), code)


def test_kernel_runs_code_as_the_learner_in_a_private_process_namespace(stack, student1):
    out = attack(
        stack,
        student1,
        "import os; print(os.getuid(), os.getcwd(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:3])",
    )
    assert out["status"] == "ok", out
    uid, cwd, pids = out["stdout"].split(" ", 2)
    assert int(uid) != 0 and cwd == f"/home/{stack.learner_prefix}student1"
    assert pids.strip().startswith("[1, ")  # its own PID namespace: the hub's processes are not there


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("read another learner's home", "print(open(HOME2 + '/intro-python/lessons/02-functions.ipynb').read()[:20])"),
        ("list another learner's home", "print(os.listdir(HOME2))"),
        ("read the hub's OAuth client secret", "print(open(HUB + '/oauth_client_secret').read())"),
        ("read the hub's database", "print(open(HUB + '/jupyterhub.sqlite', 'rb').read(16))"),
        ("read the portal's signing key", "print(open(VAR + '/portal/oidc_rsa_key.pem').read()[:30])"),
        ("read the demo passwords", "print(open(VAR + '/demo-passwords.txt').read())"),
        (
            "read another server's API token from /proc",
            "env = lambda p: open(f'/proc/{p}/environ').read()\n"
            "others = [p for p in os.listdir('/proc') if p.isdigit() and 'JUPYTERHUB_USER=' in env(p)"
            " and 'JUPYTERHUB_USER=student1\\0' not in env(p)]\n"
            "print(others or 1 / 0)",
        ),
        ("write outside home and /tmp", "open('/etc/owned', 'w').write('x')"),
        ("write into the course content", "open(VAR + '/content/intro-python/course.toml', 'a').write('x')"),
        (
            "setuid escalation with su",
            "import subprocess\n"
            "r = subprocess.run(['su', '-c', 'id -u', 'root'], capture_output=True, text=True, timeout=10)\n"
            "print(r.stdout) if r.stdout.strip() == '0' else 1 / 0",
        ),
    ],
)
def test_attack_from_a_kernel_fails(stack, student1, student2_home, name, code):
    prelude = f"import os\nHOME2 = {student2_home!r}\nHUB = {str(stack.hub_dir)!r}\nVAR = {str(stack.var)!r}\n"
    out = attack(stack, student1, prelude + code)
    assert out["status"] == "error", f"{name} succeeded: {out}"
    assert out["error"] in ("FileNotFoundError", "PermissionError", "OSError", "ZeroDivisionError", "TimeoutExpired"), (
        out
    )


def test_a_learners_own_config_never_configures_their_server(stack, student1):
    """Attack: plant a Jupyter server config in one's home (it would load an extension that serves script to a
    visiting grader or admin, or change the server's settings), then have the server restarted."""
    home = f"/home/{stack.learner_prefix}student1"
    canary = f"{home}/config-ran"
    plant = f"open({canary!r}, 'w').write('my config ran')\n"
    out = attack(
        stack,
        student1,
        (
            "import os\n"
            "for d in ('~/.jupyter', '~/.local/etc/jupyter'):\n"
            "    os.makedirs(os.path.expanduser(d), exist_ok=True)\n"
            f"    open(os.path.expanduser(d + '/jupyter_server_config.py'), 'w').write({plant!r})\n"
        ),
    )
    assert out["status"] == "ok", out
    v = student1
    v.follow(f"{stack.hub_url}/hub/home")
    xsrf = v.http.cookies.get("_xsrf", path="/hub/")
    stop = v.http.delete(f"{stack.hub_url}/hub/api/users/student1/server", headers={"X-XSRFToken": xsrf})
    assert stop.status_code in (202, 204), stop.text
    deadline = time.monotonic() + 60
    while v.http.get(f"{stack.hub_url}/hub/api/users/student1", headers={"X-XSRFToken": xsrf}).json().get("server"):
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(0.5)
    resp = v.follow(f"{stack.hub_url}/hub/spawn")
    assert resp.status_code == 200 and "/user/student1/" in resp.url, resp.url
    ran = attack(stack, student1, f"import os\nprint(os.path.exists({canary!r}))")
    assert ran["stdout"].strip() == "False", "the learner's own config was loaded by their server"


def test_hub_and_another_learner_keep_working_after_the_attacks(stack, student2, student2_home):
    v = student2
    out = run_in_kernel(v, stack.user_url("student2"), "print(sum(range(10)))")
    assert out["stdout"].strip() == "45"
    assert v.http.get(f"{stack.hub_url}/hub/api").status_code == 200
    assert os.path.exists(f"{student2_home}/intro-python/lessons/02-functions.ipynb")
    assert json.loads(v.http.get(f"{stack.hub_url}/hub/api").text)["version"]
