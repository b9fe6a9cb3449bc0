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
from tests.e2e.test_lesson_in_browser import page  # noqa: F401 -- fixture
from tests.integration.client import Visitor

pytestmark = pytest.mark.integration


def start_demo(env: dict[str, str]) -> tuple[subprocess.Popen, str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "embedded.py"), "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
    ports = {name: free_port() for name in ("HUB", "PORTAL", "HUB_API", "PROXY_API", "EXCHANGE", "GRADING", "HINTS")}
    var = ROOT / "var" / "tests" / f"demo-{run}"
    env = {
        **os.environ,
        "STUDIO_DEMO_VAR": str(var),
        "STUDIO_LEARNER_USER_PREFIX": prefix,
        **{f"STUDIO_{k}_PORT": str(v) for k, v in ports.items()},
    }
    proc = None
    try:
        proc, out, first = start_demo(env)
        hub, portal = f"http://localhost:{ports['HUB']}", f"http://127.0.0.1:{ports['PORTAL']}"
        assert f"Portal (start here):  {portal}/" in out and f"JupyterHub:           {hub}/" in out
        assert f"Grading, formgrader:  http://grading--service.localhost:{ports['HUB']}/services/grading/" in out
        passwords = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", out, re.M))
        assert set(passwords) == {"student1", "student2", "student3", "grader1", "instructor1"}

        # A learner's server runs when Ctrl-C comes: everything must go.
        stack = type("S", (), {"portal_url": portal, "hub_url": hub, "passwords": passwords})()
        v = Visitor(stack)
        v.login("student1")
        assert v.open_lesson("intro-python", "loops").url.endswith("/lab/tree/intro-python/lessons/04-loops.ipynb")
        learner = pwd.getpwnam(f"{prefix}student1")
        # The course's assignments are released by the grading service at first start: student1 sees them all.
        assert "Its assignments are released in the first minute" in out
        released = sorted(p.name for p in (ROOT / "course-content" / "intro-python" / "source").iterdir())
        deadline, listed = time.monotonic() + 180, []
        while listed != released:
            assert time.monotonic() < deadline, f"released by now: {listed}"
            time.sleep(2)
            course_page = v.http.get(f"{portal}/intro-python/").text
            listed = sorted(re.findall(r'data-assignment="([^"]+)" data-status="not-fetched"', course_page))
        assert "no due date" not in course_page.split('id="assignments-title"')[1].split("</table>")[0]
        # A cohort of classmates' work, through the real paths, graded for real: the team's dashboards show it.
        seeded = next(line for line in proc.stdout if line.startswith("[demo] cohort") or "not seeded" in line)
        assert re.match(r"\[demo\] cohort: 8 classmates, 1[0-9] submissions", seeded), seeded
        teacher = Visitor(stack)
        teacher.login("instructor1")
        deadline = time.monotonic() + 240
        while "5 / 7" not in (grades := teacher.http.get(f"{portal}/courses/intro-python/grades/").text):
            assert time.monotonic() < deadline, grades[-2000:]
            time.sleep(2)
        dashboard = teacher.http.get(f"{portal}/courses/intro-python/analytics/").text
        risk = dashboard.split('id="risk"')[1].split('id="funnel"')[0]
        assert "farid" in risk and "hugo" in risk and "ada" not in risk, risk
        # Per exercise, lessons' practice too: a pass is the exercise's tests passing, so the rates differ.
        exercises = dashboard.split('id="exercises"')[1]
        assert "01-values-and-names / minutes-in-a-week" in exercises, exercises[:3000]
        rates = {int(r) for r in re.findall(r"<span>(\d+)%</span>", exercises)}
        assert len(rates) > 1 and min(rates) < 100, rates
        board = v.http.get(f"{portal}/courses/intro-python/leaderboard/").text
        assert "Ada Quinn" in board or "ada" in board, board[-2000:]
        assert "<td>student1</td>" not in grades and "<td>student2</td>" not in grades  # left to try things
        assert "[demo] stopped." in ctrl_c(proc)
        assert all(port_is_free(p) for p in ports.values())
        # Processes inside a learner's sandbox die with it, a moment after the hub has stopped it.
        deadline, left = time.monotonic() + 10, "?"
        while left and time.monotonic() < deadline:
            ps = ["ps", "-o", "pid,ppid,stat,args", "--no-headers", "-u", str(learner.pw_uid)]
            left = subprocess.run(ps, capture_output=True, text=True).stdout
            time.sleep(0.2)
        assert left == "", f"learner processes left behind: {left}"

        # Second start reuses everything: same accounts, and the learner's copy of the lesson is still there.
        proc, out2, second = start_demo(env)
        print(f"\ndemo start: first {first:.1f} s, second {second:.1f} s (set-up and start, after `make setup`)")
        assert dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", out2, re.M)) == passwords
        assert os.path.exists(f"{learner.pw_dir}/intro-python/lessons/04-loops.ipynb")
        ctrl_c(proc)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()  # the demo stops its hub and portal on SIGTERM; a SIGKILL would orphan them
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for entry in pwd.getpwall():
            if entry.pw_name.startswith(prefix):
                subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], capture_output=True)
                subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
        shutil.rmtree(var, ignore_errors=True)


def _without_docker(path: str, shims) -> str:
    """PATH whose docker command answers as one whose daemon does not run: the demo as on a machine without Docker."""
    shims.mkdir()
    docker = shims / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    return f"{shims}{os.pathsep}{path}"


@pytest.mark.e2e
@pytest.mark.skipif(os.geteuid() != 0, reason="the demo's learner accounts and grading sandboxes need root")
def test_the_demo_without_docker_runs_the_assignment_loop_with_nbgrader_and_grades_in_a_sandbox(tmp_path, page):  # noqa: F811
    """What `make demo` installs is enough for nbgrader (release, fetch, submit), autograding (no Docker here: in
    gVisor's runsc on its own where it is installed, else in bubblewrap), the grade in the portal, formgrader for
    grader1, and feedback back to the student: with nbgrader's commands (student1), and in Chromium (student2: the
    portal's "Open in JupyterLab", JupyterLab's assignment list, formgrader, the portal following each step; student3:
    a lesson's practice, its check and a hint)."""
    from embedded import Stack, free_port

    from tests.docker.test_assignment_in_browser import assignment_loop_in_browser
    from tests.docker.test_grading_service import formgrader, submit, wait_graded
    from tests.grading_cases import make_course, submission
    from tests.integration.test_exchange import COURSE, PS, _visitor, course_folder, in_kernel, nbgrader

    run = secrets.token_hex(3)
    prefix = f"g{run}-"
    ports = {name: free_port() for name in ("HUB", "PORTAL", "HUB_API", "PROXY_API", "EXCHANGE", "GRADING", "HINTS")}
    var = ROOT / "var" / "tests" / f"demo-{run}"
    env = {
        **os.environ,
        "PATH": _without_docker(os.environ["PATH"], tmp_path / "bin"),
        "STUDIO_DEMO_VAR": str(var),
        "STUDIO_LEARNER_USER_PREFIX": prefix,
        "STUDIO_FORMGRADER_ACCOUNT_PREFIX": f"h{run}-",
        **{f"STUDIO_{k}_PORT": str(v) for k, v in ports.items()},
    }
    env.pop("STUDIO_GRADING_SANDBOX", None)
    env["STUDIO_DEMO_RELEASE"] = "0"  # instructor1 releases ps01 here, with nbgrader
    stack = Stack(
        var=var,
        courses=[],
        **{f"{k.lower()}_port": v for k, v in ports.items()},
        extra_env={"STUDIO_LEARNER_USER_PREFIX": prefix},
    )
    proc = None
    try:
        proc, out, _ = start_demo(env)
        if shutil.which("runsc"):
            assert "[demo] grading: each submission in gVisor (runsc, without Docker)" in out, out
        else:
            assert "[demo] grading: each submission in bubblewrap on this machine (no Docker)" in out, out
        # instructor1 releases ps01 from a course folder of their own, as nbgrader's documentation has it.
        course_folder(stack, "instructor1", "course")
        for args in (("generate_assignment", PS), ("release_assignment", PS, "--force")):
            rc, text = nbgrader(stack, "instructor1", *args, cwd="~/course")
            assert rc == 0, (args, text[-3000:])
        # student1 fetches it with nbgrader in their own server, answers it (the solution), submits.
        rc, text = nbgrader(stack, "student1", "fetch_assignment", PS, "--course", COURSE)
        assert rc == 0 and f"Fetched {COURSE}/{PS}" in text, text
        course = make_course(tmp_path / "course", image="unused: ps01 has no AUTOTEST")
        import nbformat

        answered = nbformat.writes(submission(course, "right"))
        in_kernel(stack, "student1", f"open('{PS}/{PS}.ipynb', 'w').write({answered!r})")
        rc, text = nbgrader(stack, "student1", "submit", PS, "--course", COURSE)
        assert rc == 0, text
        row = wait_graded(stack, "student1", _latest_submission(stack), timeout=240)
        assert (row["state"], row["auto_score"], row["max_score"]) == ("graded", 5.0, 7.0), row
        # The grade in the portal; formgrader for the course's grader; feedback back to the student.
        grades = _visitor(stack, "student1").http.get(f"{stack.portal_url}/courses/{COURSE}/grades/")
        assert grades.status_code == 200 and "5 / 7" in grades.text, grades.text[-2000:]
        grader = _visitor(stack, "grader1")
        manage = grader.follow(formgrader(stack) + "/manage_assignments")
        assert manage.status_code == 200 and "Manage Assignments" in manage.text, manage.text[-1000:]
        xsrf = grader.http.cookies.get("_xsrf", path="/services/grading/")
        for action in ("generate_feedback", "release_feedback"):
            resp = grader.http.post(
                f"{formgrader(stack)}/api/assignment/{PS}/student1/{action}", headers={"X-CSRFToken": xsrf}
            )
            assert resp.status_code == 200 and resp.json()["success"], (action, resp.text[-2000:])
        rc, text = nbgrader(stack, "student1", "fetch_feedback", PS, "--course", COURSE)
        assert rc == 0 and "Fetched feedback: " in text, text
        # A submission that loops is stopped (its limit is calibrated on the solution), and graded.
        looping = nbformat.writes(submission(course, "looping")).encode()
        row = wait_graded(stack, "student1", submit(stack, "student1", looping), timeout=240)
        assert row["state"] == "graded" and row["auto_score"] == 3.0, row
        # The same loop in Chromium, as student2.
        assignment_loop_in_browser(page, stack, answered.encode(), student="student2", from_portal=True)
        # A lesson's practice in Chromium, as student3: its starter, a failed check, a hint, a passing check.
        from tests.integration.test_hints import lesson_practice_in_browser

        lesson_practice_in_browser(page, stack, "student3", stack.passwords["student3"])
        # The instructor, in Chromium: the course page's numbers for ps01, and formgrader from its link.
        from tests.docker.test_assignment_in_browser import log_in

        log_in(page, stack, "instructor1")
        page.goto(f"{stack.portal_url}/{COURSE}/")
        row = page.locator(f'tr[data-assignment="{PS}"]')
        assert row.locator("td.submitted").inner_text().startswith("2"), row.inner_text()
        assert row.locator("td.graded").inner_text().startswith("2"), row.inner_text()
        page.goto(row.get_by_role("link", name="Open in formgrader").get_attribute("href"))
        page.locator("tr", has_text="student2").wait_for()
        assert "manage_submissions" in page.url
        import psutil

        def is_sandbox(cmdline: list[str]) -> bool:  # bubblewrap's worker, or runsc's sandbox (attached to its run)
            return "studio_sandbox.worker" in cmdline or (
                bool(cmdline) and cmdline[0] == "runsc-sandbox" and "/run/learning-studio/runsc/" in " ".join(cmdline)
            )

        everything = [p for p in psutil.process_iter(["cmdline"]) if is_sandbox(p.info["cmdline"] or [])]
        mine = [p for p in everything if proc.pid in {a.pid for a in p.parents()}]
        assert mine, "the demo's grading sandboxes are running (warm)"
        ctrl_c(proc)
        psutil.wait_procs(mine, timeout=10)
        left = [p.pid for p in mine if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert left == [], f"the demo's grading sandboxes left running after Ctrl-C: {left}"
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for entry in pwd.getpwall():
            if entry.pw_name.startswith((prefix, f"h{run}-")):
                subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], capture_output=True)
                subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
        shutil.rmtree(var, ignore_errors=True)


def _latest_submission(stack) -> str:
    """student1's newest submission of ps01, as the exchange lists it to them."""
    from tests.integration.test_exchange import COURSE, PS, api

    listed = api(stack, "student1", "GET", "api/submissions", params={"mine": "1", "course": COURSE, "assignment": PS})
    assert listed.status_code == 200 and listed.json()["submissions"], listed.text
    return listed.json()["submissions"][-1]["id"]  # oldest first


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the non-root account that runs the demo")
def test_demo_started_by_a_non_root_user_shares_one_account_and_warns(tmp_path):
    """The checkout is copied into the account's home (CI's clone may not be readable by it); .venv is shared."""
    from embedded import BIN, free_port

    user = f"lsd{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
    home = pwd.getpwnam(user).pw_dir
    checkout = f"{home}/checkout"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "--null", "-T", "-", "-cf", f"{tmp_path}/src.tar"], input=files, cwd=ROOT, check=True)
    os.makedirs(checkout)
    subprocess.run(["tar", "-xf", f"{tmp_path}/src.tar", "-C", checkout], check=True)
    os.symlink(BIN.parent, f"{checkout}/.venv")
    subprocess.run(["chown", "-R", f"{user}:{user}", home], check=True)

    ports = {name: free_port() for name in ("HUB", "PORTAL", "HUB_API", "PROXY_API", "EXCHANGE", "GRADING", "HINTS")}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "LANG": "C.UTF-8",
        **{f"STUDIO_{k}_PORT": str(v) for k, v in ports.items()},
    }
    # setpriv execs the demo itself (runuser would stay in between and swallow Ctrl-C).
    cmd = [
        "setpriv",
        f"--reuid={user}",
        f"--regid={user}",
        "--init-groups",
        "--",
        f"{checkout}/.venv/bin/python",
        f"{checkout}/scripts/embedded.py",
        "demo",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = ""
        for line in proc.stdout:
            out += line
            if "Press Ctrl-C to stop" in line:
                break
        assert "WARNING:" in out and "share ONE Unix account" in out and "bubblewrap hides their homes" in out, out
        # No Docker of its own and no root: nothing can run graded code safely here, and the demo says so (the hub
        # and formgrader stay up; submissions are marked failed with that reason).
        assert "[demo] grading: OFF: no grading sandbox can run here" in out and "needs root" in out, out
        passwords = dict(re.findall(r"^\s+(\w+)\s+password: (\S+)$", out, re.M))
        hub, portal = f"http://localhost:{ports['HUB']}", f"http://127.0.0.1:{ports['PORTAL']}"
        v = Visitor(type("S", (), {"portal_url": portal, "hub_url": hub, "passwords": passwords})())
        v.login("student1")
        assert v.open_lesson("intro-python", "functions").status_code == 200
        shared_home = f"{checkout}/var/hub/homes/student1"
        copy = f"{shared_home}/intro-python/lessons/02-functions.ipynb"
        assert os.stat(copy).st_uid == pwd.getpwnam(user).pw_uid  # the learner runs as the demo's own account
        assert oct(os.stat(shared_home).st_mode & 0o777) == oct(0o700)
        assert "[demo] stopped." in ctrl_c(proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run(["userdel", "--remove", user], capture_output=True)


def test_free_port_never_hands_out_a_port_twice(monkeypatch):
    """The kernel may answer two ``bind(0)`` in a row with the same free port; a stack given it twice (hub and proxy
    on one port) does not start. Here the kernel answers 40001 twice, then 40002."""
    import socket

    import embedded

    answers = iter([40001, 40001, 40002])

    class Kernel:
        def __init__(self, *args):
            self.port = None

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def bind(self, address):
            assert address == ("127.0.0.1", 0)
            self.port = next(answers)

        def getsockname(self):
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(embedded, "_handed_out", set())
    monkeypatch.setattr(embedded.socket, "socket", Kernel)
    assert [embedded.free_port(), embedded.free_port()] == [40001, 40002]
    monkeypatch.undo()
    assert embedded.socket.socket is socket.socket


def test_what_a_dead_hub_left_running_is_stopped_with_the_stack(tmp_path):
    """A hub that dies at start (a service failed) leaves its proxy and services running in sessions of their own,
    holding the demo's ports: the next `make demo` found them busy. Stopping the stack stops them, and nothing else."""
    from embedded import Stack

    stack = Stack(var=tmp_path / "var", courses=[])
    stack.hub_dir.mkdir(parents=True)
    service = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "--data-dir", str(stack.var / "hub" / "exchange")],
        start_new_session=True,
    )
    proxy = subprocess.Popen(["bash", "-c", "exec -a configurable-http-proxy sleep 600"], start_new_session=True)
    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    (stack.hub_dir / "proxy.pid").write_text(str(proxy.pid))
    try:
        time.sleep(0.3)  # the proxy's exec
        assert stack.stop_leftovers() == sorted([service.pid, proxy.pid])
        assert service.wait(timeout=10) is not None and proxy.wait(timeout=10) is not None
        assert other.poll() is None and not (stack.hub_dir / "proxy.pid").exists()
        # A pid file naming a process that is not a proxy (its pid reused) stops nothing.
        (stack.hub_dir / "proxy.pid").write_text(str(other.pid))
        assert stack.stop_leftovers() == [] and other.poll() is None
    finally:
        for proc in (service, proxy, other):
            proc.kill()
            proc.wait()
