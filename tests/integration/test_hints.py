"""The hints service with the real hub: learners' server tokens ask for hints and report events, the hub says who
they are and in which course groups; the course team reads the hint log.

The source (solutions, hint ladders) reaches the service the real way: the instructor's release sends it to the
grading service, whose course folder the hints service reads.
"""

from __future__ import annotations

import base64

import pytest
import requests

from tests.conftest import COURSE_CONTENT, new_account, running_stack
from tests.integration.test_exchange import COURSE, PS, server_env

pytestmark = pytest.mark.integration
PRINTS = "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n"


@pytest.fixture(scope="module")
def stack():
    with running_stack("hints", {"STUDIO_GRADING_WORKERS": "1"}) as s:
        yield s


def call(stack, username: str | None, method: str, path: str, token: str | None = None, service: str = "HINTS",
         **kwargs) -> requests.Response:  # fmt: skip
    env = server_env(stack, username or "student1")
    token = token if token is not None else (env["JUPYTERHUB_API_TOKEN"] if username else "")
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, env[f"STUDIO_{service}_URL"] + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def released(stack):
    folder = COURSE_CONTENT / COURSE / "source" / PS
    files = {p.name: base64.b64encode(p.read_bytes()).decode() for p in folder.iterdir() if p.is_file()}
    resp = call(stack, "instructor1", "PUT", f"api/source/{COURSE}/{PS}", service="GRADING", json={"files": files})
    assert resp.status_code == 200, resp.text


def hint(stack, username: str, **body) -> requests.Response:
    data = {"assignment": PS, "exercise": "ex1-answer", "code": PRINTS, **body}
    return call(stack, username, "POST", "api/hint", json=data)


def test_a_student_gets_a_tutor_hint_about_their_own_code(stack, released):
    resp = hint(stack, "student1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["rung"], body["of"], body["provider"]) == (1, 4, "tutor")
    assert "prints its result instead of returning it" in body["hint"]
    assert "c * 9 / 5 + 32" not in body["hint"]


def test_who_may_ask(stack, released):
    new_account(stack, "outsider", course="data-science")
    # Another course's student: 403, whether or not they name the course.
    assert hint(stack, "outsider").status_code == 403
    assert hint(stack, "outsider", course=COURSE).status_code == 403
    # No token, or a token the hub does not know.
    assert call(stack, None, "POST", "api/hint", json={}).status_code == 401
    assert call(stack, "student1", "POST", "api/hint", token="not-a-token", json={}).status_code == 403
    # Nonsense and path tricks are refused plainly.
    assert hint(stack, "student1", assignment="../../etc").status_code == 400
    assert hint(stack, "student1", exercise="no-such-cell").status_code == 404
    assert call(stack, "student1", "POST", "api/hint", data=b"not json").status_code == 400


def test_the_team_reads_the_hint_log_students_do_not(stack, released):
    hint(stack, "student2")
    log = call(stack, "grader1", "GET", "api/log", params={"course": COURSE})
    assert log.status_code == 200
    entries = [e for e in log.json()["hints"] if e["student"] == "student2"]
    assert entries and entries[0]["exercise"] == "ex1-answer" and entries[0]["provider"] == "tutor"
    assert entries[0]["latency_ms"] < 1000
    assert call(stack, "student1", "GET", "api/log", params={"course": COURSE}).status_code == 403


def test_events_from_a_learner_server(stack, released):
    events = [{"kind": "execute", "assignment": PS, "exercise": "ex1-answer", "ok": False, "ename": "NameError"},
              {"kind": "execute", "course": "data-science", "ok": True}]  # fmt: skip
    resp = call(stack, "student2", "POST", "api/events", json={"events": events})
    assert resp.status_code == 200 and resp.json() == {"accepted": 1, "rejected": 1}
    # The queue is for the portal and hub admins (instructor1 is portal staff), not for graders or students.
    assert call(stack, "grader1", "GET", "api/events").status_code == 403
    assert call(stack, "student2", "GET", "api/events").status_code == 403
    queued = call(stack, "instructor1", "GET", "api/events", params={"count": 1000}).json()["events"]
    mine = [e for e in queued if e["student"] == "student2" and e["kind"] == "execute"]
    assert len(mine) == 1 and mine[0]["course"] == COURSE and mine[0]["ename"] == "NameError"
