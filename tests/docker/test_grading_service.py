"""The grading service with the real stack: a submission to the exchange is graded in a sandbox as it arrives, its
score reaches the portal, the course's graders review it in formgrader (theirs only) and release feedback through
it, and the student fetches that feedback with nbgrader.

One hub and portal (learners as local processes: the sandboxes are what this is about), one grading worker; every
test runs twice: with gVisor containers of the learner image as the grading sandboxes, and with bubblewrap on this
machine (the embedded default's, without Docker).
"""

from __future__ import annotations

import base64
import json
import pwd
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import new_account, running_stack
from tests.grading_cases import make_course, submission
from tests.integration.test_exchange import (  # noqa: F401 -- released: the exchange tests' release fixture
    COURSE,
    PS,
    _visitor,
    course_folder,
    in_kernel,
    nbgrader,
    released,
    server_env,
)

pytestmark = [pytest.mark.docker, pytest.mark.integration]
OUTSIDER = "outsider"
FORMGRADER = f"/services/grading/formgrader/{COURSE}/formgrader"
HIDDEN = ["celsius_to_fahrenheit(-40)", "98.6", "seconds_to_hms(86399)"]  # in ps01's hidden tests


@pytest.fixture(scope="module", params=["docker", "runsc", "bwrap"])
def stack(request):
    # The service looks for changed scores (manual grading) every 3 s here, every minute by default.
    env = {"STUDIO_GRADING_RESCAN": "3", "STUDIO_GRADING_SANDBOX": request.param}
    if request.param == "docker":
        env["STUDIO_LEARNER_IMAGE"] = request.getfixturevalue("learner_image")
    if request.param == "runsc":
        from tests.docker.conftest import ensure_runsc

        ensure_runsc()
    with running_stack(f"grading-{request.param}", env) as s:
        yield s


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, bytes]:
    course = make_course(tmp_path_factory.mktemp("course"), image="unused: ps01 has no AUTOTEST to expand")
    return {kind: _bytes(submission(course, kind)) for kind in ("right", "wrong")}


def _bytes(nb) -> bytes:
    import nbformat

    return nb if isinstance(nb, bytes) else nbformat.writes(nb).encode()


def formgrader(stack) -> str:
    """The course's formgrader, on the grading service's own origin."""
    return stack.service_origin("grading") + FORMGRADER


def call(stack, username: str, method: str, path: str, service: str = "GRADING", **kwargs) -> requests.Response:
    """``username``'s own server token calling a service (as nbgrader in their terminal does)."""
    env = server_env(stack, username)
    return requests.request(
        method,
        env[f"STUDIO_{service}_URL"] + path,
        timeout=60,
        headers={"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"},
        **kwargs,
    )


def submit(stack, username: str, nb: bytes, assignment: str = PS) -> str:
    body = {"files": {f"{PS}.ipynb": base64.b64encode(nb).decode()}}
    resp = call(stack, username, "POST", f"api/submissions/{COURSE}/{assignment}", service="EXCHANGE", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def wait_graded(stack, student: str, sub_id: str, assignment: str = PS, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rows = call(stack, "grader1", "GET", "api/grades", params={"course": COURSE}).json()["grades"]
        row = next((r for r in rows if (r["student"], r["assignment"]) == (student, assignment)), None)
        if row and row["submission"] == sub_id and row["state"] in ("graded", "failed"):
            return row
        assert time.monotonic() < deadline, f"not graded in {timeout} s: {row}"
        time.sleep(1)


def test_a_release_measures_the_solution_before_any_submission(stack, released):  # noqa: F811
    """instructor1's release brings the source: the service generates it and times the solution in its sandbox
    then (each cell's limit is a factor of that), not while the first submissions wait."""
    folder = stack.grading_dir / COURSE
    deadline = time.monotonic() + 120
    while (kept := next(folder.rglob(f".timing-{PS}.json"), None)) is None:
        assert time.monotonic() < deadline, "the solution was not measured at release"
        time.sleep(0.5)
    seconds = json.loads(kept.read_text())[PS]["seconds"]
    assert {"ex1-answer", "ex1-tests", "ex2-answer", "ex2-tests"} <= set(seconds), seconds
    assert all(0 < s < 5 for s in seconds.values()), seconds
    assert not list(folder.glob("submitted/*/*")), "no submission yet: it was measured at release"


@pytest.fixture(scope="module")
def graded(stack, released, notebooks):  # noqa: F811 -- the exchange tests' release, by instructor1
    first = submit(stack, "student1", notebooks["wrong"])
    other = submit(stack, "student2", notebooks["right"])
    return {"student1": wait_graded(stack, "student1", first), "student2": wait_graded(stack, "student2", other)}


def test_each_submission_is_graded_in_a_sandbox_as_it_arrives(stack, graded, notebooks):
    s1, s2 = graded["student1"], graded["student2"]
    assert s1["state"] == s2["state"] == "graded", (s1, s2)
    # ps01: 5 points of tests (2 + 3) and 2 points graded by hand.
    assert (s1["auto_score"], s2["auto_score"]) == (0.0, 5.0)
    assert s1["max_score"] == s2["max_score"] == 7.0 and not s1["flagged"] and not s2["flagged"]
    folder = stack.grading_dir / COURSE
    autograded = (folder / "autograded" / "student2" / PS / f"{PS}.ipynb").read_text()
    assert "Traceback" not in autograded
    # A newer submission is graded again; the latest is what counts.
    again = submit(stack, "student1", notebooks["right"])
    row = wait_graded(stack, "student1", again)
    assert (row["state"], row["auto_score"]) == ("graded", 5.0)


def test_students_read_only_their_own_grades(stack, graded):
    mine = call(stack, "student1", "GET", "api/grades", params={"mine": "1"})
    assert mine.status_code == 200 and {r["student"] for r in mine.json()["grades"]} == {"student1"}
    # Whether a grader will look, but not what the detectors saw (the course team's): the grader's rows have it.
    rows = mine.json()["grades"]
    assert all("flags" not in r for r in rows) and all("flagged" in r for r in rows if r["state"] == "graded")
    team = call(stack, "grader1", "GET", "api/grades", params={"course": COURSE}).json()["grades"]
    assert all("flags" in r for r in team if r["student"] == "student1")
    # Who may read a course's grades and its queue: graders and instructors of that course.
    new_account(stack, OUTSIDER)
    table = {"student1": 403, "grader1": 200, "instructor1": 200}
    for user, status in table.items():
        for path in ("api/grades", "api/progress"):
            resp = call(stack, user, "GET", path, params={"course": COURSE})
            assert resp.status_code == status, (user, path, resp.text)
        assert call(stack, user, "GET", "api/grades", params={"course": "data-science"}).status_code == 403
    assert requests.get(
        server_env(stack, "student1")["STUDIO_GRADING_URL"] + "api/grades?course=" + COURSE, timeout=30
    ).status_code in (401, 403)  # no token


def test_grades_reach_the_portal(stack, graded):
    v = _visitor(stack, "student2")
    page = v.http.get(f"{stack.portal_url}/courses/{COURSE}/grades/")
    assert page.status_code == 200 and PS in page.text and "5 / 7" in page.text, page.text[-2000:]
    teacher = _visitor(stack, "instructor1")
    export = teacher.http.get(f"{stack.portal_url}/courses/{COURSE}/grades.csv")
    assert export.status_code == 200 and f"student2,{PS},graded,5,7" in export.text, export.text


def test_a_manual_grade_given_in_formgrader_reaches_the_portal(stack, graded):
    grader = _visitor(stack, "grader1")
    url = formgrader(stack)
    grader.follow(url + "/manage_assignments")
    xsrf = grader.http.cookies.get("_xsrf", path="/services/grading/")
    notebooks = grader.http.get(f"{url}/api/submitted_notebooks/{PS}/{PS}").json()
    (nb,) = [n for n in notebooks if n["student"] == "student2"]
    grades = grader.http.get(f"{url}/api/grades", params={"submission_id": nb["id"]}).json()
    (manual,) = [g for g in grades if g["name"] == "explain"]  # ps01's answer graded by hand (2 points)
    resp = grader.http.put(
        f"{url}/api/grade/{manual['id']}",
        json={"manual_score": 2.0, "extra_credit": None},
        headers={"X-CSRFToken": xsrf},
    )
    assert resp.status_code == 200, resp.text
    student = _visitor(stack, "student2")
    deadline = time.monotonic() + 60
    while "7 / 7" not in (page := student.http.get(f"{stack.portal_url}/courses/{COURSE}/grades/").text):
        assert time.monotonic() < deadline, page[-1500:]
        time.sleep(1)


def test_an_assignment_without_source_fails_with_a_reason_and_others_go_on(stack, graded, notebooks):
    release = {"files": {"x.ipynb": base64.b64encode(notebooks["right"]).decode()}, "force": True}
    resp = call(stack, "instructor1", "PUT", f"api/assignments/{COURSE}/ps99-nowhere", service="EXCHANGE", json=release)
    assert resp.status_code == 200, resp.text
    row = wait_graded(stack, "student2", submit(stack, "student2", notebooks["wrong"], "ps99-nowhere"), "ps99-nowhere")
    assert row["state"] == "failed" and "no source of ps99-nowhere" in row["reason"], row
    assert wait_graded(stack, "student1", submit(stack, "student1", notebooks["wrong"]))["state"] == "graded"


def test_malformed_grading_jobs_and_notices_are_refused_with_the_reason(stack, graded):
    """What a grader's server sends to run in a sandbox is checked against studio_wire.grading.JOB first."""
    job = {"cells": [{"source": "print(1)", "run_as": "root"}], "timeout": 3}
    resp = call(stack, "instructor1", "POST", f"api/execute/{COURSE}", json=job)
    assert resp.status_code == 400 and resp.json()["message"].startswith("a grading job: cells/0"), resp.text
    resp = call(stack, "instructor1", "POST", f"api/execute/{COURSE}", json={"cells": "print(1)"})
    assert resp.status_code == 400 and "a grading job: cells" in resp.json()["message"], resp.text
    resp = call(stack, "instructor1", "PUT", f"api/source/{COURSE}/{PS}", json={"files": {"a.ipynb": 7}})
    assert resp.status_code == 400 and "an assignment's source: files/a.ipynb" in resp.json()["message"]


def test_formgrader_serves_the_course_team_only(stack, graded):
    url = formgrader(stack)
    grader = _visitor(stack, "grader1")
    page = grader.follow(url + "/manage_assignments")
    assert page.status_code == 200 and "Manage Assignments" in page.text, page.text[-1500:]
    # In a tab of its own or framed by this hub's pages, nowhere else; only scripts with this page's nonce run.
    csp = page.headers["Content-Security-Policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert (
        "frame-ancestors 'self'" in csp
        and "object-src 'none'" in csp
        and "unsafe-inline' " not in csp.split("style-src")[0]
    ), csp
    assert page.text.count("<script") == page.text.count(f'<script nonce="{nonce}"') > 0
    # Its scripts and styles arrive as what they are (a browser refuses them otherwise: nosniff).
    for path, kind in (("static/css/nbgrader.css", "text/css"), ("static/js/utils.js", "application/javascript")):
        resp = grader.http.get(f"{url}/{path}")
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(kind), (path, resp.headers)
    subs = grader.http.get(f"{url}/api/submissions/{PS}")
    assert subs.status_code == 200 and {"student1", "student2"} <= {s["student"] for s in subs.json()}
    # Only formgrader's own pages go through: not the jupyter-server behind it.
    base = stack.service_origin("grading") + f"/services/grading/formgrader/{COURSE}/"
    for path in ("api/contents", "api/kernels", "api/status", "lab", "formgrader/../api/contents"):
        assert grader.http.get(base + path, allow_redirects=False).status_code == 404, path
    for user in ("student1", OUTSIDER):
        resp = _visitor(stack, user).follow(url + "/manage_assignments")
        assert resp.status_code == 403, (user, resp.status_code)
    # The grading service's page lists the courses one grades, with their formgraders.
    index = grader.follow(stack.service_url("grading"))
    assert index.status_code == 200 and f'href="{FORMGRADER}/"' in index.text


def test_a_graders_own_nbgrader_autograde_runs_in_the_services_sandbox(stack, graded):
    """grader1's server has no Docker (not theirs to use): their nbgrader autograde executes in the service's
    sandbox, with their own course folder and gradebook; a student may not use that."""
    course_folder(stack, "grader1", "mycourse")
    for args in (("generate_assignment", PS), ("collect", PS, "--update"), ("autograde", PS)):
        rc, out = nbgrader(stack, "grader1", *args, cwd="~/mycourse")
        assert rc == 0, (args, out[-3000:])
    score = in_kernel(
        stack,
        "grader1",
        (
            "import os\nfrom nbgrader.api import Gradebook\n"
            "with Gradebook('sqlite:///' + os.path.expanduser('~/mycourse/gradebook.db')) as gb:\n"
            f"    print(gb.find_submission('{PS}', 'student2').score)\n"
        ),
    )
    assert float(score) == 5.0  # student2's latest of ps01 is right
    assert "grader1: runs a notebook of intro-python" in (stack.log_dir / "hub.log").read_text()
    job = {"cells": [{"source": "print(1)", "grade": False}], "timeout": 5, "job_timeout": 10}
    assert call(stack, "student1", "POST", f"api/execute/{COURSE}", json=job).status_code == 403
    assert call(stack, "grader1", "POST", "api/execute/data-science", json=job).status_code == 403
    ran = call(stack, "grader1", "POST", f"api/execute/{COURSE}", json=job)
    assert ran.status_code == 200 and ran.json()["cells"][0]["outputs"][0]["text"] == "1\n", ran.text


def test_feedback_released_from_formgrader_reaches_the_student_without_hidden_tests(stack, graded, notebooks):
    wait_graded(stack, "student1", submit(stack, "student1", notebooks["wrong"]))
    grader = _visitor(stack, "grader1")
    url = formgrader(stack)
    grader.follow(url + "/manage_assignments")
    xsrf = grader.http.cookies.get("_xsrf", path="/services/grading/")  # the one its pages can read
    assert xsrf, "formgrader's pages set the _xsrf cookie its scripts send back"
    # A cross-site form cannot send the header: refused without it.
    assert grader.http.post(f"{url}/api/assignment/{PS}/student1/generate_feedback").status_code == 403
    for action in ("generate_feedback", "release_feedback"):
        resp = grader.http.post(f"{url}/api/assignment/{PS}/student1/{action}", headers={"X-CSRFToken": xsrf})
        assert resp.status_code == 200 and resp.json()["success"], (action, resp.text[-2000:])
    rc, out = nbgrader(stack, "student1", "fetch_feedback", PS, "--course", COURSE)
    assert rc == 0 and "Fetched feedback: " in out, out
    path = out.split("Fetched feedback: ")[-1].splitlines()[0].strip()  # the folder is the timestamp: spaces
    html = in_kernel(stack, "student1", f"print(open({path!r}).read())")
    # Which visible test failed, and how; never a hidden test's source.
    assert "failed: assert celsius_to_fahrenheit(0) == 32" in html, html[-3000:]
    assert not [h for h in HIDDEN if h in html]


def formgrader_token(stack, course: str = COURSE) -> str:
    """The token of ``course``'s running formgrader, read from its process (as only root can)."""
    pids = subprocess.run(
        ["pgrep", "-f", f"studio_grader.formgrader .*formgrader/{course}/"], capture_output=True, text=True
    ).stdout.split()
    (pid,) = [p for p in pids if Path(f"/proc/{p}/cwd").resolve() == (stack.grading_dir / course).resolve()]
    environ = dict(e.split("=", 1) for e in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in e)
    return environ["STUDIO_FORMGRADER_TOKEN"]


def test_formgrader_autogrades_and_expands_autotests_in_the_services_sandboxes(stack, graded, notebooks):
    """Its account may not use Docker: formgrader's own autograde (a grader's click) runs the notebook in the
    service's sandbox, with formgrader's token, and rewrites what the service had autograded; its token reaches
    only its own course's sandboxes."""
    wait_graded(stack, "student1", submit(stack, "student1", notebooks["wrong"]))
    grader = _visitor(stack, "grader1")
    url = formgrader(stack)
    grader.follow(url + "/manage_assignments")
    xsrf = grader.http.cookies.get("_xsrf", path="/services/grading/")
    autograded = stack.grading_dir / COURSE / "autograded" / "student1" / PS / f"{PS}.ipynb"
    before = autograded.stat().st_mtime_ns
    resp = grader.http.post(f"{url}/api/submission/{PS}/student1/autograde", headers={"X-CSRFToken": xsrf})
    assert resp.status_code == 200 and resp.json()["success"], resp.text[-3000:]
    assert autograded.stat().st_mtime_ns != before
    assert f"{COURSE}'s formgrader: runs a notebook of {COURSE}" in (stack.log_dir / "hub.log").read_text()
    token, base = formgrader_token(stack), server_env(stack, "grader1")["STUDIO_GRADING_URL"]
    from tests.docker.test_autotests import NBGRADER_AUTOTESTS
    from tests.grader.test_courses import _code, _notebook

    source = _notebook(
        _code(
            "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n", solution=True, grade_id="f"
        ),
        _code("### AUTOTEST f(2)\n", grade=True, grade_id="t", points=1),
    )
    job = {"notebook": source.decode(), "autotests": NBGRADER_AUTOTESTS.format(plant="pass")}
    expanded = requests.post(
        base + f"api/autotests/{COURSE}", json=job, timeout=300, headers={"Authorization": f"token {token}"}
    )
    assert expanded.status_code == 200 and "AUTOTEST" not in expanded.json()["notebook"], expanded.text[-2000:]
    for path in ("api/autotests/data-science", "api/execute/data-science"):
        other = requests.post(base + path, json=job, timeout=60, headers={"Authorization": f"token {token}"})
        assert other.status_code in (401, 403), (path, other.status_code)  # not a hub token, not its course


def test_a_students_nbgrader_config_never_runs_in_formgrader(stack, graded, notebooks):
    """Attack: a student submits an nbgrader_config.py (the service writes it under submitted/), then a grader opens
    a link that points formgrader's ``?path=`` at it, or at another course. Nothing of it runs, and the formgrader
    holds no token of the service's."""
    canary = stack.var / f"canary-{secrets.token_hex(4)}"
    planted = f"open({str(canary)!r}, 'w').write('student code ran on the trusted side')\n"
    files = {f"{PS}.ipynb": notebooks["wrong"], "nbgrader_config.py": planted.encode()}
    body = {"files": {name: base64.b64encode(data).decode() for name, data in files.items()}}
    resp = call(stack, "student1", "POST", f"api/submissions/{COURSE}/{PS}", service="EXCHANGE", json=body)
    assert resp.status_code == 201, resp.text
    wait_graded(stack, "student1", resp.json()["id"])
    assert (stack.grading_dir / COURSE / "submitted" / "student1" / PS / "nbgrader_config.py").is_file()
    grader = _visitor(stack, "grader1")
    for path in (f"submitted/student1/{PS}", f"autograded/student1/{PS}", "../data-science", "/"):
        resp = grader.http.get(formgrader(stack) + "/", params={"path": path}, allow_redirects=False)
        assert resp.status_code == 400, (path, resp.status_code)
    assert grader.follow(formgrader(stack) + "/manage_assignments").status_code == 200
    assert not canary.exists(), "a student's nbgrader_config.py ran in formgrader"
    # The course's formgrader process: its own token and nothing of the service's.
    pids = subprocess.run(
        ["pgrep", "-f", f"studio_grader.formgrader .*formgrader/{COURSE}/"], capture_output=True, text=True
    ).stdout.split()
    mine = [p for p in pids if Path(f"/proc/{p}/cwd").resolve() == (stack.grading_dir / COURSE).resolve()]
    assert len(mine) == 1, pids
    environ = dict(e.split("=", 1) for e in Path(f"/proc/{mine[0]}/environ").read_text().split("\0") if "=" in e)
    assert not {"JUPYTERHUB_API_TOKEN", "STUDIO_GRADES_TOKEN", "STUDIO_GRADEBOOK_URL"} & set(environ), environ
    token = environ["STUDIO_FORMGRADER_TOKEN"]
    # Under the course's own account: not root, not the hub's user; it may not use Docker, nor read the service's
    # state beside its course folder.
    status = {
        k: v.split()
        for k, _, v in (line.partition(":") for line in Path(f"/proc/{mine[0]}/status").read_text().splitlines())
    }
    account = pwd.getpwuid(int(status["Uid"][0]))
    assert account.pw_name.startswith(stack.extra_env["STUDIO_FORMGRADER_ACCOUNT_PREFIX"]), account
    assert set(status["Uid"]) == {str(account.pw_uid)} and status["Groups"] == [], status
    assert f"formgrader of {COURSE}" == account.pw_gecos
    docker = "import socket; socket.socket(socket.AF_UNIX).connect('/var/run/docker.sock')"
    for attempt in (
        ["python3", "-c", docker],
        ["ls", str(stack.grading_dir)],
        ["cat", str(stack.hub_dir / "grades_token")],
    ):
        tried = subprocess.run(
            ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", "--", *attempt],
            capture_output=True,
            text=True,
        )
        assert tried.returncode != 0 and ("denied" in tried.stderr or "Permission" in tried.stderr), (attempt, tried)
    # Its way to the exchange: its own course's calls, with its own token; nobody else's token gets through there.
    fx = server_env(stack, "grader1")["STUDIO_GRADING_URL"] + "formgrader-exchange/"
    ok = requests.get(
        fx + f"{COURSE}/api/submissions",
        params={"course": COURSE},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert ok.status_code == 200 and ok.json()["submissions"], ok.text
    for course, path, auth in (
        (COURSE, "api/submissions?course=data-science", token),
        (COURSE, "api/submissions?mine=1", token),
        ("data-science", "api/submissions?course=data-science", token),
        (COURSE, "api/submissions?course=" + COURSE, server_env(stack, "grader1")["JUPYTERHUB_API_TOKEN"]),
        (COURSE, "api/submissions?course=" + COURSE, ""),
    ):
        resp = requests.get(fx + f"{course}/{path}", headers={"Authorization": f"token {auth}"}, timeout=30)
        assert resp.status_code == 403, (course, path, resp.status_code)


# role → what it may do at the grading service in intro-python; in data-science nobody may do anything there.
GRADING_ALLOWED = {
    "student1": set(),
    "grader1": {"grades", "progress", "regrade", "execute", "autotests", "source", "formgrader", "formgrader-api"},
    "instructor1": {"grades", "progress", "regrade", "execute", "autotests", "source", "formgrader", "formgrader-api"},
    OUTSIDER: set(),
}
OTHER_COURSE = "data-science"
AUTOTEST_NOTEBOOK = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []})


def _grading_attempt(stack, user: str, action: str, course: str) -> int:
    job = {"cells": [{"source": "print(1)", "grade": False}], "timeout": 5, "job_timeout": 10}
    source = {"files": {"ps-table.ipynb": base64.b64encode(b'{"cells": []}').decode()}}
    fg = f"formgrader/{course}/formgrader"
    calls = {
        "grades": ("GET", "api/grades", {"params": {"course": course}}),
        "progress": ("GET", "api/progress", {"params": {"course": course}}),
        "regrade": ("POST", f"api/regrade/{course}/ps-none", {}),
        "execute": ("POST", f"api/execute/{course}", {"json": job}),
        "autotests": ("POST", f"api/autotests/{course}", {"json": {"notebook": AUTOTEST_NOTEBOOK, "autotests": None}}),
        "source": ("PUT", f"api/source/{course}/ps-table", {"json": source}),
        "formgrader": ("GET", f"{fg}/manage_assignments", {}),
        "formgrader-api": ("GET", f"{fg}/api/assignments", {}),
    }
    method, path, kwargs = calls[action]
    return call(stack, user, method, path, allow_redirects=False, **kwargs).status_code


@pytest.mark.parametrize("course", [COURSE, OTHER_COURSE])
@pytest.mark.parametrize("user", list(GRADING_ALLOWED))
def test_grading_authorization_table(stack, graded, user, course):
    """role × course × action: a grader of one course reaches nothing of another's (grades, queue, sandboxes,
    sources, formgrader), whatever the parameters; and formgrader is pointed at no other folder by any path."""
    new_account(stack, OUTSIDER)
    got = {action: _grading_attempt(stack, user, action, course) for action in sorted(GRADING_ALLOWED["grader1"])}
    allowed = GRADING_ALLOWED[user] if course == COURSE else set()
    assert {a for a, status in got.items() if status < 400} == allowed, got
    assert all(status == 403 for a, status in got.items() if a not in allowed), got
    # Paths that try to leave the course's formgrader: never another course's, never another folder.
    paths = [
        (f"formgrader/{course}/formgrader/", {"path": f"../{OTHER_COURSE}"}),
        (f"formgrader/{course}/formgrader/", {"path": "/"}),
        (f"formgrader/{course}/%2e%2e/{OTHER_COURSE}/formgrader/manage_assignments", {}),
        (f"formgrader/{course}/formgrader/%2e%2e/%2e%2e/{OTHER_COURSE}/formgrader/api/assignments", {}),
        (f"formgrader/{course}/api/contents", {}),
        (f"formgrader-exchange/{course}/api/submissions", {"course": course}),
    ]
    for path, params in paths:
        status = call(stack, user, "GET", path, params=params, allow_redirects=False).status_code
        assert status in (400, 403, 404), (path, status)
        if course != COURSE or user not in ("grader1", "instructor1"):
            assert status in (403, 404), (path, status)
