"""A student who has read our source attacks the services with what their own server holds (its hub token, the
services' addresses): each attack is refused, or done as if they were only themselves, and nobody else's work
is touched. The real hub, exchange, grading and hints services and portal (the embedded default's stack).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from tests.conftest import COURSE_CONTENT
from tests.integration.test_exchange import COURSE, NOTEBOOK, PS, api, files, server_env
from tests.integration.test_hints import call

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def released(stack):
    """ps01's source at the grading service (hints read it there; grading needs it), and ps01 released at the
    exchange unless another module of this session's stack released it already (its content does not matter)."""
    folder = COURSE_CONTENT / COURSE / "source" / PS
    source = {p.name: base64.b64encode(p.read_bytes()).decode() for p in folder.iterdir() if p.is_file()}
    resp = call(stack, "instructor1", "PUT", f"api/source/{COURSE}/{PS}", service="GRADING", json={"files": source})
    assert resp.status_code == 200, resp.text
    listed = api(stack, "student1", "GET", "api/assignments", params={"course": COURSE}).json()["assignments"]
    if PS not in {a["assignment_id"] for a in listed}:
        resp = api(
            stack,
            "instructor1",
            "PUT",
            f"api/assignments/{COURSE}/{PS}",
            json={**files(**{f"{PS}.ipynb": NOTEBOOK}), "force": True},
        )
        assert resp.status_code == 200, resp.text


def token_of(stack, username: str) -> str:
    return server_env(stack, username)["JUPYTERHUB_API_TOKEN"]


@pytest.fixture(scope="module")
def student2_submission(stack, released):
    resp = api(stack, "student2", "POST", f"api/submissions/{COURSE}/{PS}", json=files(**{f"{PS}.ipynb": NOTEBOOK}))
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def test_events_cannot_be_reported_in_anothers_name(stack):
    """Attack: learning events that say they are student2's (to spoil their analytics, or hide one's own)."""
    sent = call(
        stack,
        "student1",
        "POST",
        "api/events",
        json={
            "events": [
                {
                    "kind": "execute",
                    "course": COURSE,
                    "assignment": PS,
                    "ok": False,
                    "student": "student2",
                    "ename": "Forged",
                }
            ]
        },
    )
    assert sent.status_code == 200 and sent.json()["accepted"] == 1, sent.text
    queue = call(stack, "instructor1", "GET", "api/events", params={"count": 1000}).json()["events"]
    forged = [e for e in queue if e.get("ename") == "Forged"]
    assert forged and all(e["student"] == "student1" for e in forged), forged


def test_a_student_cannot_read_the_event_queue_or_the_hint_log(stack):
    """Attack: read every classmate's activity (the queue is the portal's) or the course's hint log."""
    assert call(stack, "student1", "GET", "api/events").status_code == 403
    assert call(stack, "student1", "GET", "api/log", params={"course": COURSE}).status_code == 403


def test_a_student_cannot_pose_as_the_exchange_to_the_grading_service(stack, student2_submission):
    """Attack: tell the grading service of a "submission" (to have it fetch and grade something of one's
    choosing, or regrade a classmate's over and over)."""
    body = {"course_id": COURSE, "assignment_id": PS, "student_id": "student2", "id": student2_submission}
    resp = call(stack, "student1", "POST", "api/submitted", service="GRADING", json=body)
    assert resp.status_code == 403, resp.text


def test_a_student_cannot_replace_the_assignments_source(stack):
    """Attack: upload a "source" whose tests always pass (or whose hidden tests are one's own) to the grading
    service, which grades everyone against it."""
    trivial = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    body = {"files": {f"{PS}.ipynb": base64.b64encode(trivial).decode()}}
    resp = call(stack, "student1", "PUT", f"api/source/{COURSE}/{PS}", service="GRADING", json=body)
    assert resp.status_code == 403, resp.text


def test_a_student_cannot_read_a_classmates_submission_or_feedback(stack, student2_submission):
    """Attack: fetch student2's files, or their feedback (it names what they got wrong), by guessing the URL."""
    for kind in ("submissions", "feedback"):
        resp = api(stack, "student1", "GET", f"api/{kind}/{COURSE}/{PS}/student2/{student2_submission}")
        assert resp.status_code == 403, (kind, resp.text)


def test_a_submitted_timestamp_file_does_not_change_when_it_was_submitted(stack, released):
    """Attack: submit late with a timestamp.txt of one's own (nbgrader reads the time from that file)."""
    forged = b"2000-01-01 00:00:00.000000 UTC"
    resp = api(
        stack,
        "student2",
        "POST",
        f"api/submissions/{COURSE}/{PS}",
        json=files(**{f"{PS}.ipynb": NOTEBOOK, "timestamp.txt": forged}),
    )
    assert resp.status_code == 201, resp.text
    real = resp.json()["timestamp"]
    assert real != forged.decode() and real.startswith(time.strftime("%Y-"))
    written = stack.grading_dir / COURSE / "submitted" / "student2" / PS / "timestamp.txt"
    deadline = time.monotonic() + 120
    while not (written.is_file() and written.read_text().strip() == real):
        assert written.read_text().strip() != forged.decode() if written.is_file() else True, "the forged time"
        assert time.monotonic() < deadline, "the grading service did not take the submission"
        time.sleep(0.5)


def test_a_server_token_reaches_nothing_of_anyone_else_at_the_hub(stack):
    """Attack: use one's server's hub token (in every kernel's environment) on the hub's API: list users, read a
    classmate, start or stop their server, make oneself a token with more rights."""
    headers = {"Authorization": f"token {token_of(stack, 'student1')}"}
    hub = f"{stack.hub_url}/hub/api"
    attempts = [
        ("GET", "/users", {}),
        ("GET", "/users/student2", {}),
        ("DELETE", "/users/student2/server", {}),
        ("POST", "/users/student2/server", {}),
        ("POST", "/users/student1/tokens", {"json": {"scopes": ["admin:users"]}}),
        ("GET", "/groups", {}),
    ]
    for method, path, kwargs in attempts:
        resp = requests.request(method, hub + path, headers=headers, timeout=30, **kwargs)
        assert resp.status_code in (403, 404), (method, path, resp.status_code)
    assert requests.get(hub + "/user", headers=headers, timeout=30).json()["name"] == "student1"


def test_a_hub_token_is_not_a_portal_service_token(stack):
    """Attack: send the portal a grade, or events, with one's hub token as the bearer."""
    headers = {"Authorization": f"Bearer {token_of(stack, 'student1')}"}
    grade = {
        "course": COURSE,
        "assignment": PS,
        "student": "student1",
        "state": "graded",
        "score": 7,
        "max_score": 7,
        "needs_manual_grade": False,
        "flagged": False,
    }
    assert (
        requests.put(
            f"{stack.portal_url}/api/grades/", json={"grades": [grade]}, headers=headers, timeout=30
        ).status_code
        == 403
    )
    assert (
        requests.put(f"{stack.portal_url}/api/events/", json={"events": []}, headers=headers, timeout=30).status_code
        == 403
    )


def test_a_huge_hint_request_is_refused_and_the_service_stays(stack, released):
    """Attack: a hint request carrying megabytes of "code" (the tutor parses it; a model would be paid for it)."""
    data = {"assignment": PS, "exercise": "ex1-answer", "code": "x = 1\n" * 2_000_000}
    try:
        status = call(stack, "student2", "POST", "api/hint", json=data).status_code
    except requests.ConnectionError:  # tornado refuses a body past its limit by closing the connection
        status = "closed"
    assert status in (400, 413, "closed"), status
    # Just under the body limit: answered, about the first part of the code only, and quickly.
    data["code"] = "x = 1\n" * 120_000
    t0 = time.monotonic()
    assert call(stack, "student2", "POST", "api/hint", json=data).status_code == 200
    assert time.monotonic() - t0 < 10
    assert call(stack, "student2", "GET", "api/health").status_code == 200


def test_a_grade_cannot_be_read_for_a_classmate(stack):
    """Attack: ask the grading service for "my" grades in a way that returns others' (course filter, names)."""
    mine = call(
        stack,
        "student1",
        "GET",
        "api/grades",
        service="GRADING",
        params={"mine": "1", "course": COURSE, "student": "student2"},
    )
    assert mine.status_code == 200 and {r["student"] for r in mine.json()["grades"]} <= {"student1"}
    assert call(stack, "student1", "GET", "api/grades", service="GRADING", params={"course": COURSE}).status_code == 403
