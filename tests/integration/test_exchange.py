"""The exchange service with the real stack: nbgrader's own commands, run in each user's own server, and the
JupyterLab assignment list's endpoints, all going through the hub-managed exchange with the caller's hub token.

Who is who (the demo accounts): student1, student2 study intro-python; grader1 grades it; instructor1 teaches it.
"outsider" is an account of this module's own with no course (the demo student3 is kept for the login tests,
which check that it never reached the hub). Nobody has a role in data-science.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import COURSE_CONTENT, new_account
from tests.integration.client import Visitor
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.integration

COURSE, OTHER = "intro-python", "data-science"
PS = "ps01-values-and-names"
OUTSIDER = "outsider"


_VISITORS: dict[tuple[int, str], object] = {}


def _visitor(stack, username):
    """A logged-in visitor whose server runs (one per user and stack)."""
    key = (id(stack), username)
    if key not in _VISITORS:
        v = Visitor(stack)
        v.login(username, new_account(stack, username) if username == OUTSIDER else None)
        resp = v.follow(f"{stack.hub_url}/hub/spawn")
        assert resp.status_code == 200 and f"/user/{username}/" in resp.url, (resp.status_code, resp.url)
        _VISITORS[key] = v
    return _VISITORS[key]


def server_url(stack, username: str) -> str:
    return stack.user_url(username)


def server_env(stack, username: str) -> dict[str, str]:
    """The environment of ``username``'s running server: what nbgrader in their terminal or kernel sees."""
    _visitor(stack, username)
    unix = f"{stack.learner_prefix}{username}"
    pids = subprocess.run(["pgrep", "-u", unix, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    for pid in pids.stdout.split():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
        if "JUPYTERHUB_API_TOKEN" in env:
            return env
    raise AssertionError(f"no running server of {username}")


def nbgrader(stack, username: str, *args: str, cwd: str = "~") -> tuple[int, str]:
    """Run ``nbgrader ARGS`` in ``username``'s own kernel, as they would in their terminal; (exit code, output)."""
    code = (
        "import os, subprocess, sys\n"
        f"r = subprocess.run([sys.executable, '-m', 'nbgrader', *{list(args)!r}], capture_output=True, text=True,"
        f" cwd=os.path.expanduser({cwd!r}))\n"
        "print(r.returncode); print(r.stdout + r.stderr)\n"
    )
    out = run_in_kernel(_visitor(stack, username), server_url(stack, username), code, timeout=180)
    assert out["status"] == "ok", out
    rc, _, text = out["stdout"].partition("\n")
    return int(rc), text


def in_kernel(stack, username: str, code: str) -> str:
    out = run_in_kernel(_visitor(stack, username), server_url(stack, username), code, timeout=120)
    assert out["status"] == "ok", out
    return out["stdout"]


def api(stack, username: str | None, method: str, path: str, **kwargs) -> requests.Response:
    env = server_env(stack, username or "student1")
    headers = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"} if username else {}
    return requests.request(method, env["STUDIO_EXCHANGE_URL"] + path, headers=headers, timeout=30, **kwargs)


def files(**named: bytes) -> dict:
    return {"files": {name: base64.b64encode(data).decode() for name, data in named.items()}}


NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def course_folder(stack, username: str, name: str) -> None:
    """``~/<name>`` of ``username``: an nbgrader course folder of intro-python with ps01's source, as they would
    clone it from the course repository (it is not in the content learners see)."""
    in_kernel(
        stack,
        username,
        (
            "import os\n"
            f"os.makedirs(os.path.expanduser('~/{name}/source'), exist_ok=True)\n"
            f"open(os.path.expanduser('~/{name}/nbgrader_config.py'), 'w').write("
            f"'c = get_config()\\nc.CourseDirectory.course_id = \"{COURSE}\"\\n')\n"
        ),
    )
    home = Path("/home") / f"{stack.learner_prefix}{username}"
    dest = home / name / "source" / PS
    shutil.copytree(COURSE_CONTENT / COURSE / "source" / PS, dest)
    owner = home.stat()
    for path in [dest, *dest.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid)


@pytest.fixture(scope="module")
def released(stack):
    """instructor1 generates and releases ps01 from a course folder in their own home, as nbgrader's docs say.

    The instructor's copy of the assignment (with solutions and hidden tests) is not in the course content
    learners see: it is put into their home from the course repository, as they would clone it."""
    course_folder(stack, "instructor1", "course")
    rc, out = nbgrader(stack, "instructor1", "generate_assignment", PS, cwd="~/course")
    assert rc == 0, out
    rc, out = nbgrader(stack, "instructor1", "release_assignment", PS, "--force", cwd="~/course")
    assert rc == 0, out
    assert f"Released {COURSE}/{PS}" in out
    return out


def test_student_fetches_works_submits_and_reads_feedback_with_nbgrader_commands(stack, released):
    rc, out = nbgrader(stack, "student1", "list", "--course", COURSE)
    assert rc == 0 and f"{COURSE} {PS} (released)" in out, out
    rc, out = nbgrader(stack, "student1", "fetch_assignment", PS, "--course", COURSE)
    assert rc == 0, out
    # The instructor's release carried the hint ladders (nbgrader keeps cell metadata); the exchange takes them out:
    # the hints service gives them a rung at a time.
    fetched = json.loads((Path("/home") / f"{stack.learner_prefix}student1" / PS / f"{PS}.ipynb").read_text())
    assert not [c for c in fetched["cells"] if "studio" in c["metadata"]]
    assert any(
        "studio" in c["metadata"]
        for c in json.loads(next((COURSE_CONTENT / COURSE / "source" / PS).glob("*.ipynb")).read_text())["cells"]
    )
    rc, out = nbgrader(stack, "student1", "fetch_assignment", PS, "--course", COURSE)
    assert rc != 0 and "already have a copy" in out, "a second fetch does not overwrite the student's work"

    # The student works: their answer goes into the notebook they fetched. Then they submit twice.
    in_kernel(
        stack,
        "student1",
        (
            "import json, os\n"
            f"p = os.path.expanduser('~/{PS}/{PS}.ipynb')\n"
            "nb = json.load(open(p))\n"
            "cell = next(c for c in nb['cells'] if c['metadata'].get('nbgrader', {}).get('grade_id') == 'ex1-answer')\n"
            "cell['source'] = 'def celsius_to_fahrenheit(c):\\n    return c * 9 / 5 + 32  # attempt-1\\n'\n"
            "json.dump(nb, open(p, 'w'))\n"
        ),
    )
    rc, first = nbgrader(stack, "student1", "submit", PS, "--course", COURSE)
    assert rc == 0 and "Submitted as:" in first, first
    in_kernel(
        stack,
        "student1",
        f"import os; p = os.path.expanduser('~/{PS}/{PS}.ipynb'); s = open(p).read(); "
        "open(p, 'w').write(s.replace('attempt-1', 'attempt-2'))",
    )
    rc, out = nbgrader(stack, "student1", "submit", PS, "--course", COURSE)
    assert rc == 0, out
    rc, out = nbgrader(stack, "student1", "list", "--cached", "--course", COURSE)
    assert rc == 0 and out.count(f"{COURSE} student1 {PS}") == 2, out

    # The grader collects the latest submission into their own course folder.
    in_kernel(
        stack,
        "grader1",
        "import os; os.makedirs(os.path.expanduser('~/course'), exist_ok=True); "
        f"open(os.path.expanduser('~/course/nbgrader_config.py'), 'w').write("
        f"'c = get_config()\\nc.CourseDirectory.course_id = \"{COURSE}\"\\n')",
    )
    rc, out = nbgrader(stack, "grader1", "list", "--inbound", "--course", COURSE)
    assert rc == 0 and out.count(f"{COURSE} student1 {PS}") == 2, out
    rc, out = nbgrader(stack, "grader1", "collect", PS, cwd="~/course")
    assert rc == 0 and "Collecting submission: student1" in out, out
    collected = in_kernel(
        stack,
        "grader1",
        (
            "import os\n"
            f"d = os.path.expanduser('~/course/submitted/student1/{PS}')\n"
            f"print(open(os.path.join(d, '{PS}.ipynb')).read().count('attempt-2'),"
            " open(os.path.join(d, 'timestamp.txt')).read())\n"
        ),
    )
    count, timestamp = collected.strip().split(" ", 1)
    assert count == "1", "the latest submission is the one collected"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC", timestamp)

    # Feedback, as nbgrader generate_feedback leaves it (written here: grading itself is another test's), released
    # through the exchange, fetched by the student.
    in_kernel(
        stack,
        "grader1",
        (
            "import os, shutil\n"
            f"d = os.path.expanduser('~/course/feedback/student1/{PS}')\n"
            "os.makedirs(d, exist_ok=True)\n"
            f"open(os.path.join(d, '{PS}.html'), 'w').write('<p>well done, student1</p>')\n"
            f"shutil.copy(os.path.expanduser('~/course/submitted/student1/{PS}/timestamp.txt'), d)\n"
        ),
    )
    rc, out = nbgrader(stack, "grader1", "release_feedback", PS, cwd="~/course")
    assert rc == 0 and "Releasing feedback for student 'student1'" in out, out
    rc, out = nbgrader(stack, "student1", "list", "--cached", "--course", COURSE)
    assert "feedback ready to be fetched" in out, out
    rc, out = nbgrader(stack, "student1", "fetch_feedback", PS, "--course", COURSE)
    assert rc == 0 and "Fetched feedback" in out, out
    html = in_kernel(
        stack, "student1", f"import os; print(open(os.path.expanduser('~/{PS}/feedback/{timestamp}/{PS}.html')).read())"
    )
    assert "well done, student1" in html


def test_jupyterlab_assignment_list_works_for_graders_too(stack, released):
    v = _visitor(stack, "grader1")
    listing = v.http.get(f"{server_url(stack, 'grader1')}assignments", params={"course_id": COURSE}).json()
    assert listing["success"], listing
    assert [a["status"] for a in listing["value"] if a["assignment_id"] == PS] == ["released"]


def test_jupyterlab_assignment_list_fetches_and_submits_through_the_exchange(stack, released):
    v = _visitor(stack, "student2")
    base = server_url(stack, "student2")
    xsrf = {"X-XSRFToken": v.http.cookies.get("_xsrf", path="/user/student2/") or ""}
    listing = v.http.get(f"{base}assignments", params={"course_id": COURSE}).json()
    assert listing["success"], listing
    (entry,) = [a for a in listing["value"] if a["assignment_id"] == PS]
    assert entry["status"] == "released" and [n["notebook_id"] for n in entry["notebooks"]] == [PS]
    fetched = v.http.post(f"{base}assignments/fetch", data={"course_id": COURSE, "assignment_id": PS}, headers=xsrf)
    (entry,) = [a for a in fetched.json()["value"] if a["assignment_id"] == PS and a["status"] != "submitted"]
    assert entry["status"] == "fetched" and entry["path"] == PS
    submitted = v.http.post(
        f"{base}assignments/submit", data={"course_id": COURSE, "assignment_id": PS}, headers=xsrf
    ).json()
    assert submitted["success"], submitted
    (entry,) = [a for a in submitted["value"] if a.get("student_id") == "student2"]
    assert entry["status"] == "submitted" and len(entry["submissions"]) == 1
    assert entry["submissions"][0]["has_exchange_feedback"] is False


# role (demo account) → what it may do in intro-python; in data-science nobody may do anything.
ALLOWED = {
    "student1": {"list", "fetch", "submit", "mine"},
    # "mine": their own submissions, none (JupyterLab's assignment list asks everyone for theirs)
    "grader1": {"list", "fetch", "release", "inbound", "collect", "feedback", "mine"},
    "instructor1": {"list", "fetch", "release", "inbound", "collect", "feedback", "mine"},
    OUTSIDER: set(),
}


def _attempt(stack, user: str, action: str, course: str, target: dict) -> int:
    a = f"api/assignments/{course}/{PS}"
    calls = {
        "list": ("GET", "api/assignments", {"params": {"course": course}}),
        "fetch": ("GET", a, {}),
        "release": ("PUT", a, {"json": {**files(**{f"{PS}.ipynb": target["notebook"]}), "force": True}}),
        "submit": ("POST", f"api/submissions/{course}/{PS}", {"json": files(**{f"{PS}.ipynb": NOTEBOOK})}),
        "mine": ("GET", "api/submissions", {"params": {"mine": "1", "course": course}}),
        "inbound": ("GET", "api/submissions", {"params": {"course": course}}),
        "collect": ("GET", f"api/collect/{course}/{PS}", {}),
        "feedback": (
            "PUT",
            f"api/feedback/{course}/{PS}/student2/{target['id']}",
            {"json": files(**{f"{PS}.html": b"<p>ok</p>"})},
        ),
    }
    method, path, kwargs = calls[action]
    return api(stack, user, method, path, **kwargs).status_code


@pytest.mark.parametrize("course", [COURSE, OTHER])
@pytest.mark.parametrize("user", list(ALLOWED))
def test_authorization_table(stack, released, user, course):
    # a submission of student2's to address feedback to, and the released notebook to re-release unchanged
    sub = api(stack, "student2", "POST", f"api/submissions/{COURSE}/{PS}", json=files(**{f"{PS}.ipynb": NOTEBOOK}))
    notebook = base64.b64decode(
        api(stack, "instructor1", "GET", f"api/assignments/{COURSE}/{PS}").json()["files"][f"{PS}.ipynb"]
    )
    target = {"id": sub.json()["id"], "notebook": notebook}
    got = {
        action: _attempt(stack, user, action, course, target)
        for action in sorted({*ALLOWED["grader1"], *ALLOWED["student1"]})
    }
    allowed = ALLOWED[user] if course == COURSE else set()
    assert {a for a, status in got.items() if status < 400} == allowed, got
    assert all(status == 403 for a, status in got.items() if a not in allowed), got


def test_students_see_only_their_own_work(stack, released):
    mine = api(stack, "student2", "POST", f"api/submissions/{COURSE}/{PS}", json=files(**{f"{PS}.ipynb": NOTEBOOK}))
    assert mine.status_code == 201
    sub = mine.json()
    assert sub["student_id"] == "student2", "the service takes the student's name from the token, not the request"
    theirs = f"api/submissions/{COURSE}/{PS}/student2/{sub['id']}"
    assert api(stack, "student1", "GET", theirs).status_code == 403
    assert api(stack, "student1", "GET", f"api/feedback/{COURSE}/{PS}/student2/{sub['id']}").status_code == 403
    assert api(stack, "student2", "GET", theirs).status_code == 200
    own = api(stack, "student1", "GET", "api/submissions", params={"mine": "1"}).json()["submissions"]
    assert {s["student_id"] for s in own} <= {"student1"}


def test_learners_content_holds_no_solutions_or_hidden_tests(stack):
    content = stack.var / "content"
    assert (content / COURSE / "lessons").is_dir() and not (content / COURSE / "source").exists()
    for path in content.rglob("*.ipynb"):
        text = path.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, path
        assert '"studio"' not in text, f"{path}: a hint ladder in learners' content"
    # The lessons' practice answers are there, cleared (studio_hub.content), as nbgrader releases an assignment's.
    lesson = json.loads((content / COURSE / "lessons" / "02-functions.ipynb").read_text())
    (answer,) = [c for c in lesson["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert "raise NotImplementedError()" in "".join(answer["source"])


def test_tokens_are_required_and_checked(stack, released):
    assert api(stack, None, "GET", "api/assignments").status_code == 401
    env = server_env(stack, "student1")
    bad = requests.get(env["STUDIO_EXCHANGE_URL"] + "api/assignments", headers={"Authorization": "token nope"})
    assert bad.status_code == 403
    assert requests.get(env["STUDIO_EXCHANGE_URL"] + "api/health").json() == {"ok": True}
    # Only the health route itself is open: not a route whose path merely ends like it (a feedback upload here).
    tail = f"api/feedback/{COURSE}/{PS}/api/health"
    for method, kwargs in (("PUT", {"json": files(**{"x.html": b"<p>forged</p>"})}), ("GET", {})):
        resp = requests.request(method, env["STUDIO_EXCHANGE_URL"] + tail, timeout=30, **kwargs)
        assert resp.status_code == 401, (method, resp.status_code, resp.text)
    resp = requests.get(env["STUDIO_HINTS_URL"] + "api/exercises/x/api/health", timeout=30)
    assert resp.status_code in (401, 404), resp.status_code


@pytest.mark.parametrize("name", ["../../evil.ipynb", "/tmp/evil.ipynb", ".bashrc", "a/../../evil.ipynb"])
def test_path_traversal_in_a_submission_is_refused(stack, released, name):
    resp = api(stack, "student1", "POST", f"api/submissions/{COURSE}/{PS}", json=files(**{name: b"x"}))
    assert resp.status_code == 400 and "invalid file name" in resp.json()["message"]
    resp = api(stack, "student1", "POST", f"api/submissions/{COURSE}/..%2F..%2Fetc/{PS}", json=files(a=b"x"))
    assert resp.status_code in (400, 403, 404)
    assert not list(Path("/").glob("tmp/evil.ipynb")) and not list(stack.hub_dir.rglob("evil.ipynb"))


def test_submissions_after_the_due_date_are_kept_and_flagged_late(stack, released):
    past = "2020-01-01T00:00:00+00:00"
    body = {**files(**{"late.ipynb": NOTEBOOK}), "duedate": past, "force": True}
    assert api(stack, "instructor1", "PUT", f"api/assignments/{COURSE}/ps-late", json=body).status_code == 200
    resp = api(stack, "student1", "POST", f"api/submissions/{COURSE}/ps-late", json=files(**{"late.ipynb": NOTEBOOK}))
    assert resp.status_code == 201 and resp.json()["late"] is True
    rc, out = nbgrader(stack, "student1", "list", "--cached", "--course", COURSE, "--assignment", "ps-late")
    assert rc == 0 and "late" in out, out
    assert api(stack, "instructor1", "DELETE", f"api/assignments/{COURSE}/ps-late").status_code == 204


def test_oversized_and_malformed_submissions_get_clear_errors(stack, released):
    big = api(
        stack, "student1", "POST", f"api/submissions/{COURSE}/{PS}", json=files(**{f"{PS}.ipynb": b"x" * (21 * 2**20)})
    )
    assert big.status_code == 413 and "at most 20.0 MiB" in big.json()["message"]
    not_b64 = api(stack, "student1", "POST", f"api/submissions/{COURSE}/{PS}", json={"files": {"a.ipynb": "%%%"}})
    assert not_b64.status_code == 400 and "base64" in not_b64.json()["message"]
    not_json = api(stack, "student1", "POST", f"api/submissions/{COURSE}/{PS}", data=b"{nope")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["message"]
    # Each body is checked against its schema (studio_wire.exchange), with where it is wrong.
    for body, says in (
        ({"files": ["a.ipynb"]}, "a submission: files: ['a.ipynb'] is not of type 'object'"),
        ({"files": {"a.ipynb": 1}}, "a submission: files/a.ipynb: 1 is not of type 'string'"),
        ({**files(a=b"x"), "force": True}, "a submission: Additional properties are not allowed ('force'"),
    ):
        resp = api(stack, "student1", "POST", f"api/submissions/{COURSE}/{PS}", json=body)
        assert resp.status_code == 400 and resp.json()["message"].startswith(says), resp.text
    resp = api(stack, "instructor1", "PUT", f"api/assignments/{COURSE}/ps-x", json={**files(a=b"x"), "force": "yes"})
    assert resp.status_code == 400 and resp.json()["message"].startswith("a release: force: 'yes'"), resp.text
    unreleased = api(stack, "student1", "POST", f"api/submissions/{COURSE}/ps99", json=files(a=b"x"))
    assert unreleased.status_code == 404


def _status_in_portal(v, stack, assignment: str = PS, timeout: float = 60, want: str | None = None) -> str:
    """The status the course page shows ``v``'s student for ``assignment`` (waiting until it is ``want``)."""
    deadline = time.monotonic() + timeout
    while True:
        page = v.http.get(f"{stack.portal_url}/{COURSE}/").text
        found = re.search(f'data-assignment="{re.escape(assignment)}" data-status="([a-z-]+)"', page)
        status = found.group(1) if found else ""
        if want is None or status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def test_the_portal_lists_released_assignments_opens_them_in_jupyterlab_and_follows_each_students_work(stack, released):
    """The course page: each released assignment with its status for the student, "Open in JupyterLab" fetching it
    through the exchange into their home (as nbgrader's fetch does) and opening its notebook; the course team's
    numbers follow."""
    password = new_account(stack, "assignee", course=COURSE)
    v = Visitor(stack)
    v.login("assignee", password)
    assert _status_in_portal(v, stack, want="not-fetched") == "not-fetched"
    page = v.http.get(f"{stack.portal_url}/{COURSE}/").text
    link = page.split(f'data-assignment="{PS}"')[1].split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert link == f"{stack.hub_url}/hub/user-redirect/studio/assignments/{COURSE}/{PS}"
    opened = v.follow(link)
    assert opened.status_code == 200 and opened.url.endswith(f"/user/assignee/lab/tree/{PS}/{PS}.ipynb"), opened.url
    copy = Path("/home") / f"{stack.learner_prefix}assignee" / PS / f"{PS}.ipynb"
    assert copy.is_file() and "BEGIN SOLUTION" not in copy.read_text()
    assert _status_in_portal(v, stack, want="fetched") == "fetched"
    # Opened again: their copy (with their work) is kept, not fetched over.
    copy.write_text(copy.read_text().replace("raise NotImplementedError()", "return 0", 1))
    mine = copy.read_text()
    assert v.follow(link).url.endswith(f"/lab/tree/{PS}/{PS}.ipynb") and copy.read_text() == mine
    # Submitted (as the Assignment List does), graded by the grading service (bubblewrap here), its score shown.
    _VISITORS[(id(stack), "assignee")] = v  # their server runs: api() calls the exchange with its token
    body = files(**{f"{PS}.ipynb": mine.encode()})
    assert api(stack, "assignee", "POST", f"api/submissions/{COURSE}/{PS}", json=body).status_code == 201
    assert _status_in_portal(v, stack, want="graded", timeout=180) == "graded"
    assert " / 7" in v.http.get(f"{stack.portal_url}/{COURSE}/").text
    # The course team's numbers and their formgrader link.
    teacher = Visitor(stack)
    teacher.login("instructor1")
    team = teacher.http.get(f"{stack.portal_url}/{COURSE}/").text
    row = team.split(f'<tr data-assignment="{PS}">')[1].split("</tr>")[0]
    assert '<td class="submitted">' in row and "manage_submissions/" + PS in row, row
    # Someone outside the course cannot have it fetched for them.
    outsider = _visitor(stack, OUTSIDER)
    refused = outsider.follow(f"{stack.hub_url}/hub/user-redirect/studio/assignments/{COURSE}/{PS}")
    assert refused.status_code == 403 and not (Path("/home") / f"{stack.learner_prefix}{OUTSIDER}" / PS).exists()
