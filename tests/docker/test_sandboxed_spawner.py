"""Learners in gVisor: spawned through the real hub REST API with SandboxedDockerSpawner, inspected from inside."""

from __future__ import annotations

import html
import json
import re
import subprocess
import time

import pytest

from tests.integration.client import Visitor
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.docker


def spawn_via_api(stack, visitor: Visitor, user: str, timeout: float = 120) -> None:
    hub = f"{stack.hub_url}/hub/api"
    xsrf = visitor.http.cookies.get("_xsrf", path="/hub/")
    resp = visitor.http.post(f"{hub}/users/{user}/server", headers={"X-XSRFToken": xsrf})
    assert resp.status_code in (201, 202), resp.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = visitor.http.get(f"{hub}/users/{user}", headers={"X-XSRFToken": xsrf}).json()
        if model["servers"].get("", {}).get("ready"):
            return
        time.sleep(0.5)
    pytest.fail(f"{user}'s server was not ready within {timeout} s")


def own_learner(stack, user: str, lesson: str) -> tuple[Visitor, str]:
    """A learner of its own for a destructive test, logged in with ``lesson`` open; returns it and its server URL."""
    from tests.docker.conftest import new_learner

    v = Visitor(stack)
    v.login(user, new_learner(stack, user))
    assert v.open_lesson("intro-python", lesson).status_code == 200
    return v, stack.user_url(user)


def test_spawn_through_the_rest_api_runs_under_gvisor_as_uid_1000_without_capabilities(docker_stack):
    v = Visitor(docker_stack)
    v.login("grader1")  # nobody else in this module starts grader1's server
    assert v.follow(f"{docker_stack.hub_url}/hub/home").status_code == 200
    t0 = time.monotonic()
    spawn_via_api(docker_stack, v, "grader1")
    print(f"\nspawn (REST request → ready) under runsc: {time.monotonic() - t0:.1f} s")
    assert v.open_lesson("intro-python", "values-and-names").url.endswith(
        "/lab/tree/intro-python/lessons/01-values-and-names.ipynb"
    )

    # nbgrader as a student has it: the assignment list and validation, no formgrader, course list or
    # create-assignment (server extensions off, JupyterLab plugins disabled in the page config).
    server = docker_stack.user_url("grader1")
    version = v.http.get(f"{server}nbgrader_version", params={"version": "0.9.6"})
    assert version.status_code == 200 and version.json() == {"success": True}
    assert v.http.get(f"{server}nbgrader_version", params={"version": "0.1"}).json()["success"] is False
    # The student's nbgrader extensions load on the first request that needs them (nbgrader's own handlers).
    # It lists through the hub's exchange service, which the learners' firewall lets the container reach.
    listing = v.http.get(f"{server}assignments", params={"course_id": "intro-python"})
    assert listing.status_code == 200 and listing.json()["success"] is True, listing.text
    assert v.http.get(f"{server}formgrader").status_code == 404
    assert v.http.get(f"{server}tree").status_code == 404  # nbgrader's dependency notebook 7: off as well
    page = v.http.get(f"{server}lab").text
    for plugin in ("formgrader", "create-assignment", "course-list"):
        assert f'"@jupyter/nbgrader:{plugin}"' in page  # listed under disabledExtensions
    assert "@jupyter/nbgrader" in page

    code = (
        "import os, subprocess\n"
        "caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]\n"
        "print(os.uname().release, os.getuid(), caps, open('/proc/self/mountinfo').read().count(' / / ro'))\n"
        "print(subprocess.run(['dmesg'], capture_output=True, text=True).stdout.splitlines()[0])"
    )
    out = run_in_kernel(v, docker_stack.user_url("grader1"), code)
    assert out["status"] == "ok", out
    first, second = out["stdout"].splitlines()[:2]
    release, uid, caps, _ = first.split()
    assert release == "4.4.0" and "gVisor" in second  # gVisor's kernel, not the host's
    assert uid == "1000" and int(caps, 16) == 0

    # The shell tools a learner reaches for work under this gVisor (its statx() refuses a flag coreutils passes).
    shell = run_in_kernel(
        v,
        server,
        "import subprocess\nfor cmd in (['ls', '-la'], ['stat', '-c', '%U %a', '.bashrc'], "
        "['du', '-s', '/srv/content']):\n"
        "    r = subprocess.run(cmd, capture_output=True, text=True)\n"
        "    print(r.returncode, r.stdout.strip().splitlines()[-1:], r.stderr.strip())",
    )
    assert shell["status"] == "ok", shell
    results = shell["stdout"].splitlines()
    assert [line.split()[0] for line in results] == ["0", "0", "0"], results
    assert "learner 644" in results[1], results

    inspect = json.loads(
        subprocess.run(
            ["docker", "inspect", f"{docker_stack.container_prefix}-grader1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    host = inspect["HostConfig"]
    assert host["Runtime"] == "runsc" and host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"] and host["PidsLimit"] == 2048
    assert inspect["Config"]["User"] == "1000"
    mounts = {m["Destination"]: m for m in inspect["Mounts"]}
    # Their home: a volume (a full start), or their slot of the warm pool, into which the hub mounted it.
    assert mounts.get("/home/learner", {}).get("Type") == "volume" or mounts["/home"]["Propagation"] == "rslave"


def test_memory_bomb_in_a_kernel_fails_plainly_and_the_server_survives(docker_stack):
    v = Visitor(docker_stack)
    v.login("instructor1")
    assert v.open_lesson("intro-python", "loops").status_code == 200
    server = docker_stack.user_url("instructor1")
    bomb = run_in_kernel(v, server, "hog = bytearray(3 * 2**30)  # 3 GiB, three times the container's memory")
    assert bomb["status"] == "error" and bomb["error"] == "MemoryError", bomb
    # The same server still runs kernels, and the container was never restarted.
    again = run_in_kernel(v, server, "print('still here')")
    assert again["stdout"].strip() == "still here", again
    container = json.loads(
        subprocess.run(
            ["docker", "inspect", f"{docker_stack.container_prefix}-instructor1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    assert container["State"]["Running"] and not container["State"]["OOMKilled"] and container["RestartCount"] == 0


def test_fork_bomb_in_a_kernel_is_stopped_and_kernel_and_server_survive(docker_stack):
    v, server = own_learner(docker_stack, "forkbomber", "loops")
    first = run_in_kernel(v, server, "kept = 42", keep=True)
    bomb = run_in_kernel(v, server, "import os\nwhile True:\n    os.fork()", kernel=first["kernel"], keep=True)
    said = bomb["stdout"] + bomb["stderr"] + bomb["evalue"]
    print(f"\nfork bomb → {bomb['status']} {bomb['error']}: {said.strip()[:300]}")
    assert bomb["status"] == "error" and bomb["error"] in ("TooManyProcesses", "KeyboardInterrupt"), bomb
    assert "processes" in said  # the learner is told what happened, in plain words
    # The same kernel still has its variables, no process of the bomb is left, and the server never restarted.
    # Live processes in the container, waiting up to 10 s for the bomb's orphans to be reaped by tini.
    count = (
        "import os, time\n"
        "def live():\n"
        "    n = 0\n"
        "    for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "        try:\n"
        "            n += open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] not in 'ZX'\n"
        "        except OSError:\n"
        "            pass\n"
        "    return n\n"
        "t0 = time.time()\n"
        "while live() > 3 and time.time() - t0 < 10:\n"
        "    time.sleep(0.2)\n"
        "print(kept, live())"
    )
    after = run_in_kernel(v, server, count, kernel=first["kernel"])
    assert after["status"] == "ok", after
    kept, processes = after["stdout"].split()
    # Only tini, the server and the kernel: none of the bomb's copies outlives the clean-up (under gVisor a copy could
    # fork once more after SIGSTOP; the fork guard then kept a few alive at the limit until end_session looked again).
    assert kept == "42" and int(processes) <= 3, after
    container = json.loads(
        subprocess.run(
            ["docker", "inspect", f"{docker_stack.container_prefix}-forkbomber"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    assert container["State"]["Running"] and container["RestartCount"] == 0


def hub_page_with_notice(stack, v: Visitor, user: str, timeout: float = 90):
    """The hub's "not running" page for ``user`` once the hub has noticed their server died (it polls every 10 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = v.http.get(f"{stack.hub_url}/hub/user/{user}/lab", allow_redirects=False)
        if page.status_code == 424 and "studio-server-stopped" in page.text:
            return page
        time.sleep(1)
    log = (stack.log_dir / "hub.log").read_text().splitlines()
    relevant = "\n".join(line for line in log if user in line and "GET" not in line)[-3000:]
    state = subprocess.run(
        ["docker", "inspect", "--format", "{{json .State}}", f"{stack.container_prefix}-{user}"],
        capture_output=True,
        text=True,
    ).stdout
    pytest.fail(f"no notice for {user} ({page.status_code} {page.headers.get('location')})\n{state}\n{relevant}")


def test_a_server_that_dies_shows_the_learner_why_and_can_be_restarted(docker_stack):
    """Processes that each stay under the kernel's memory cap, together over the container's: the sandbox dies."""
    user = "memhog"
    v, server = own_learner(docker_stack, user, "functions")
    run_in_kernel(v, server, "open('notes.txt', 'w').write('mine')")
    attack = (
        "import subprocess, time\n"
        "ps = [subprocess.Popen(['python3', '-c', 'x = b\"x\" * (600 * 2**20); import time; time.sleep(60)'])"
        " for _ in range(3)]\ntime.sleep(60)"
    )
    t0 = time.monotonic()
    run_in_kernel(v, server, attack, timeout=30)
    page = hub_page_with_notice(docker_stack, v, user)
    print(f"\n{user}: the learner is shown why {time.monotonic() - t0:.1f} s after the attack started")
    text = " ".join(page.text.split())
    assert "Your server stopped on its own:" in text and "ran out of memory" in text
    gone = subprocess.run(["docker", "inspect", f"{docker_stack.container_prefix}-{user}"], capture_output=True)
    assert gone.returncode != 0  # the dead container was removed once its reason was read
    home = v.http.get(f"{docker_stack.hub_url}/hub/home")
    assert "ran out of memory" in home.text  # the hub's home page says it too
    # The page's own button starts the server again and leads back to JupyterLab; the learner's files are kept,
    # the dead container is gone, and so is the notice.
    launch = re.search(r'<a id="start"[^>]*href="([^"]+)"', page.text)
    assert launch and launch.group(1).startswith(f"/hub/spawn/{user}"), page.text
    back = v.follow(docker_stack.hub_url + html.unescape(launch.group(1)))
    assert back.status_code == 200 and back.url.startswith(f"{server}lab"), back.url
    out = run_in_kernel(v, server, "print(open('notes.txt').read())")
    assert out["stdout"].strip() == "mine", out
    assert "studio-server-stopped" not in v.http.get(f"{docker_stack.hub_url}/hub/home").text


SESSION_COUNT = """
import os
def session_processes():
    sid, n = os.getsid(0), 0
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                stat = open(f'/proc/{p}/stat').read()
            except OSError:
                continue
            fields = stat[stat.rfind(')') + 2:].split()
            n += int(fields[3]) == sid and fields[0] not in 'ZX'
    return n
"""


def test_a_shell_fork_bomb_meets_the_fork_guard_and_the_sandbox_survives(docker_stack):
    """bash's bomb gets EAGAIN at the kernel's limit (the image's preloaded fork guard), as at RLIMIT_NPROC."""
    user = "shellbomber"
    v, server = own_learner(docker_stack, user, "loops")
    first = run_in_kernel(v, server, SESSION_COUNT + "kept = 42", keep=True)
    bomb = run_in_kernel(
        v,
        server,
        (
            "import subprocess, time\n"
            "subprocess.Popen(['bash', '-c', ':(){ :|:& };:'], stdout=subprocess.DEVNULL,\n"
            "                 stderr=open('/tmp/bomb', 'w'))\n"
            "peak, t0 = 0, time.time()\n"
            "while time.time() - t0 < 10:\n"
            "    peak = max(peak, session_processes())\n"
            "    time.sleep(0.05)\n"
            "print(peak)"
        ),
        kernel=first["kernel"],
        keep=True,
    )
    assert bomb["status"] == "ok", bomb
    peak = int(bomb["stdout"])
    print(f"\nshell fork bomb: at most {peak} processes in the kernel's session (limit 12) over 10 s")
    assert 8 <= peak <= 12  # the bomb ran, and never past the limit
    container = json.loads(
        subprocess.run(
            ["docker", "inspect", f"{docker_stack.container_prefix}-{user}"], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert container["State"]["Running"] and container["RestartCount"] == 0
    # The next process the learner starts from the kernel ends the bomb, and says so; the kernel lives on.
    ended = run_in_kernel(v, server, "import subprocess\nsubprocess.run(['true'])", kernel=first["kernel"], keep=True)
    assert ended["error"] == "TooManyProcesses" and "were ended" in ended["evalue"], ended
    after = run_in_kernel(
        v,
        server,
        "print(kept, session_processes(), open('/tmp/bomb').read().count('Resource'))",
        kernel=first["kernel"],
    )
    assert after["status"] == "ok", after
    kept, processes, refused = after["stdout"].split()
    assert kept == "42" and int(processes) == 1 and int(refused) > 0, after  # bash was told: fork: retry: Resource…


def test_a_changed_lesson_reaches_learners_in_their_containers(docker_stack):
    """As in the embedded default (tests/integration/test_sso_and_lessons.py): the content is mounted read-only into
    each learner's container, and the same extension merges the course team's change into their copies."""
    import json

    from tests.integration.test_sso_and_lessons import lesson_updates_reach_learners

    def read_copy(v, user: str, rel: str) -> str:
        out = run_in_kernel(v, docker_stack.user_url(user), f"print(open({rel!r}).read(), end='')")
        assert out["status"] == "ok", out
        return out["stdout"]

    def write_copy(v, user: str, rel: str, text: str) -> None:
        out = run_in_kernel(v, docker_stack.user_url(user), f"open({rel!r}, 'w').write({text!r})")
        assert out["status"] == "ok", out
        json.loads(read_copy(v, user, rel))

    lesson_updates_reach_learners(docker_stack, read_copy, write_copy)


def test_a_lessons_practice_gets_hints_and_its_checks_reach_the_portal_from_gvisor(docker_stack):
    """Item 3 of issue 18 in a learner's gVisor container: the lesson (from the learner image's content, answers
    cleared) opens with its starter; the Hint on its exercise is answered through the container's firewall by the
    hints service; a failed then a passing check reach the portal, which counts the exercise passed."""
    v, server = own_learner(docker_stack, "practice-gvisor", "functions")
    lesson = "intro-python/lessons/02-functions.ipynb"
    nb = v.http.get(f"{server}api/contents/{lesson}").json()["content"]
    (answer,) = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert "NotImplementedError" in answer["source"] and "9 / 5" not in answer["source"]
    answer["source"] = "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n"
    xsrf = {"X-XSRFToken": v.http.cookies.get("_xsrf", path="/user/practice-gvisor/") or ""}
    hint = v.http.post(
        f"{server}studio/hints/hint", json={"path": lesson, "cell_id": answer["id"], "notebook": nb}, headers=xsrf
    )
    assert hint.status_code == 200, hint.text
    assert "return" in hint.json()["hint"] and "9 / 5 + 32" not in hint.json()["hint"]
    events = [
        {"kind": "check", "path": lesson, "exercise": "celsius-to-fahrenheit", "ok": False},
        {"kind": "check", "path": lesson, "exercise": "celsius-to-fahrenheit", "ok": True},
    ]
    sent = v.http.post(f"{server}studio/hints/events", json={"events": events}, headers=xsrf)
    assert sent.status_code == 202 and sent.json()["buffered"] == 2, sent.text
    query = (
        "from studio_portal.analytics.models import ExerciseStat\n"
        "print(list(ExerciseStat.objects.filter(student__username='practice-gvisor')"
        ".values_list('assignment', 'exercise', 'passed')))\n"
    )
    deadline, stats = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        stats = [line for line in docker_stack.manage("shell", "-c", query).splitlines() if line.startswith("[")]
        if stats and "True" in stats[0]:
            break
        time.sleep(2)
    assert stats == ["[('02-functions', 'celsius-to-fahrenheit', True)]"], stats
