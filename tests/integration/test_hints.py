"""The hints service with the real hub: learners' server tokens ask for hints and report events, the hub says who
they are and in which course groups; the course team reads the hint log. And end to end in headless Chromium: a
student runs a failing cell, presses Hint, reads hint 1, tries again, asks for more and reads hint 2.

The source (solutions, hint ladders) reaches the service the real way: the instructor's release sends it to the
grading service, whose course folder the hints service reads.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest
import requests

from tests.conftest import COURSE_CONTENT, new_account
from tests.e2e.test_lesson_in_browser import ARTIFACTS, page  # noqa: F401 -- the browser fixture
from tests.grading_cases import make_course
from tests.grading_cases import released as released_notebook
from tests.integration.client import Visitor
from tests.integration.test_exchange import _VISITORS, COURSE, PS, server_env

pytestmark = pytest.mark.integration
PRINTS = "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n"
LEARNER = "hinted"  # the browser's student


def call(
    stack, username: str | None, method: str, path: str, token: str | None = None, service: str = "HINTS", **kwargs
) -> requests.Response:
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
    # Another course's student (their own account: the exchange tests' outsider is in no course).
    elsewhere = Visitor(stack)
    elsewhere.login("elsewhere", new_account(stack, "elsewhere", course="data-science"))
    assert elsewhere.follow(f"{stack.hub_url}/hub/spawn").status_code == 200
    _VISITORS[(id(stack), "elsewhere")] = elsewhere
    # Another course's student: 403, whether or not they name the course.
    assert hint(stack, "elsewhere").status_code == 403
    assert hint(stack, "elsewhere", course=COURSE).status_code == 403
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
    events = [
        {"kind": "execute", "assignment": PS, "exercise": "ex1-answer", "ok": False, "ename": "NameError"},
        {"kind": "execute", "course": "data-science", "ok": True},
    ]
    resp = call(stack, "student2", "POST", "api/events", json={"events": events})
    assert resp.status_code == 200 and resp.json() == {"accepted": 1, "rejected": 1}
    # The queue is for the portal and hub admins (instructor1 is portal staff), not for graders or students.
    assert call(stack, "grader1", "GET", "api/events").status_code == 403
    assert call(stack, "student2", "GET", "api/events").status_code == 403
    queued = call(stack, "instructor1", "GET", "api/events", params={"count": 1000}).json()["events"]
    # (student2's runs in lessons, from other tests, are in the queue too: they name the lesson, not ps01)
    mine = [e for e in queued if e["student"] == "student2" and e["kind"] == "execute" and e.get("assignment") == PS]
    assert len(mine) == 1 and mine[0]["course"] == COURSE and mine[0]["ename"] == "NameError"


@pytest.mark.e2e
def test_a_student_asks_for_hints_in_jupyterlab(stack, released, page, tmp_path):  # noqa: F811
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A student new to this exercise (no hints yet); ps01 as nbgrader releases it, in their home where nbgrader
    # fetch_assignment puts it, with their answer.
    password = new_account(stack, LEARNER, course=COURSE)
    nb = json.loads(nbformat.writes(released_notebook(make_course(tmp_path / "course", image="studio-learner:latest"))))
    answer = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex1-answer")
    answer["source"] = PRINTS
    visitor = Visitor(stack)
    visitor.login(LEARNER, password)
    assert visitor.follow(f"{stack.hub_url}/hub/spawn").status_code == 200  # their server runs, their home exists
    home = Path("/home") / f"{stack.learner_prefix}{LEARNER}"
    folder = home / PS
    folder.mkdir(exist_ok=True)
    (folder / f"{PS}.ipynb").write_text(json.dumps(nb))
    for path in (folder, folder / f"{PS}.ipynb"):
        os.chown(path, home.stat().st_uid, home.stat().st_gid)

    log_in(page, stack, LEARNER, password)
    page.goto(f"{stack.user_url(LEARNER)}lab/tree/{PS}/{PS}.ipynb")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
    try:
        cells = notebook.locator(".jp-CodeCell")
        hint_button = page.get_by_role("button", name="Hint for exercise ex1-answer")
        hint_button.wait_for()
        # Run the answer and the visible tests below it: the test fails (the function prints, returns None).
        ran = re.compile(r"\[\d+\]")
        run_cell(
            page,
            cells.nth(0),
            lambda: cells.nth(0).locator(".jp-InputPrompt").filter(has_text=ran).wait_for(timeout=20_000),
        )
        page.keyboard.press("Shift+Enter")
        cells.nth(1).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").wait_for()

        # By keyboard: the Hint button takes the focus and Enter presses it.
        hint_button.focus()
        page.keyboard.press("Enter")
        panel = page.locator("#studio-hints-panel")
        panel.get_by_text("Hint 1 of 4").wait_for()
        text = panel.locator(".studio-HintPanel-text")
        assert text.get_attribute("aria-live") == "polite"
        assert "prints its result instead of returning it" in text.inner_text()
        more = panel.get_by_role("button", name="More specific")
        assert more.is_disabled(), "more specific only after another try or some time"

        # Another try at the answer cell unlocks the next rung.
        enabled = "() => !document.querySelector('.studio-HintPanel-more').disabled"
        run_cell(page, cells.nth(0), lambda: page.wait_for_function(enabled, timeout=20_000))
        more.focus()
        page.keyboard.press("Enter")
        panel.get_by_text("Hint 2 of 4").wait_for()
        second = text.inner_text()
        assert "line 2" in second and "c * 9 / 5 + 32" not in second.replace("print(c * 9 / 5 + 32)", "")
    except (PlaywrightTimeout, AssertionError):
        page.screenshot(path=str(ARTIFACTS / "e2e-hints-failure.png"))
        raise
    page.screenshot(path=str(ARTIFACTS / "e2e-hints-panel.png"))
    # The runs were reported: the service queued them for the portal, with the exercise they were about.
    queued = call(stack, "instructor1", "GET", "api/events", params={"count": 1000}).json()["events"]
    runs = [e for e in queued if e["student"] == LEARNER and e["kind"] == "execute" and e.get("exercise")]
    assert runs and all(re.fullmatch(r"[0-9a-f]{32}", e["code_hash"]) for e in runs)


def log_in(page, stack, username: str, password: str) -> None:  # noqa: F811
    """``username`` logs in at the portal in ``page`` (a browser's first step)."""
    page.set_default_timeout(90_000)
    page.goto(f"{stack.portal_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.portal_url}/")


def run_cell(browser, cell, done) -> None:
    """Shift+Enter in ``cell`` until ``done()`` says it ran (a key press while JupyterLab settles can be lost)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(4):
        cell.locator(".cm-content").click()
        browser.keyboard.press("Shift+Enter")
        try:
            done()
            return
        except PlaywrightTimeout:
            continue
    done()


@pytest.mark.e2e
def test_a_student_practises_a_lessons_exercise_with_hints_and_its_check(stack, page):  # noqa: F811
    lesson_practice_in_browser(page, stack, "practising", new_account(stack, "practising", course=COURSE))


def lesson_practice_in_browser(page, stack, learner: str, password: str) -> None:  # noqa: F811
    """The lesson's practice, as a learner meets it: opened from the portal, the answer cell holds the starter (not
    the solution); a wrong answer fails the check below it; Hint answers about their code; a right answer passes
    the check; the portal counts the exercise passed only then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.context.clear_cookies()
    log_in(page, stack, learner, password)
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    hint_button = page.get_by_role("button", name="Hint for exercise celsius-to-fahrenheit")
    try:
        page.goto(f"{stack.portal_url}/{COURSE}/")
        enroll = page.get_by_role("button", name="Enroll in this course")
        if enroll.count():  # the demo's student3 is in no course yet: they enroll, as a newcomer would
            enroll.click()
            page.get_by_role("link", name="Functions", exact=True).wait_for()
        page.get_by_role("link", name="Functions", exact=True).click()
        page.get_by_role("link", name="Open in JupyterLab", exact=True).click()
        page.wait_for_url(re.compile(rf"/user/{learner}/lab/tree/{COURSE}/lessons/02-functions\.ipynb"))
        notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
        hint_button.wait_for()
        cells = notebook.locator(".jp-CodeCell")
        answer_at = next(
            i for i in range(cells.count()) if cells.nth(i).get_by_role("button", name=re.compile("Hint")).count()
        )
        answer, check = cells.nth(answer_at), cells.nth(answer_at + 1)
        starter = answer.locator(".cm-content").inner_text()
        assert "raise NotImplementedError()" in starter and "9 / 5" not in starter
        errors = check.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")

        def ran_again(cell):
            prompt = cell.locator(".jp-InputPrompt")
            before = prompt.inner_text().strip()
            changed = "([el, before]) => el.innerText.trim() !== before && /\\[\\d+\\]/.test(el.innerText)"
            return lambda: page.wait_for_function(changed, arg=[prompt.element_handle(), before], timeout=20_000)

        def attempt(code: str) -> None:
            answer.locator(".cm-content").click()
            page.keyboard.press("Control+a")
            page.keyboard.type(code)
            run_cell(page, answer, ran_again(answer))
            run_cell(page, check, ran_again(check))

        attempt("def celsius_to_fahrenheit(c): print(c * 9 / 5 + 32)")
        errors.wait_for()
        assert "AssertionError" in check.inner_text()
        hint_button.click()
        panel = page.locator("#studio-hints-panel")
        panel.get_by_text(re.compile(r"Hint 1 of \d")).wait_for()
        assert "return" in panel.locator(".studio-HintPanel-text").inner_text()

        attempt("def celsius_to_fahrenheit(c): return c * 9 / 5 + 32")
        check.locator(".jp-OutputArea-output").first.wait_for()
        page.wait_for_function(
            "el => !el.querySelector(\"[data-mime-type='application/vnd.jupyter.stderr']\")", arg=check.element_handle()
        )
        assert "98.6" in check.inner_text() and "Correct: all the checks passed." in check.inner_text()
    except (PlaywrightTimeout, AssertionError, StopIteration):
        page.screenshot(path=str(ARTIFACTS / "e2e-lesson-practice-failure.png"))
        raise
    page.screenshot(path=str(ARTIFACTS / "e2e-lesson-practice.png"))

    # Both checks reached the portal through the learner's server, the hints service and its queue: the exercise
    # counts as passed because its check passed, after one that did not.
    query = (
        "from studio_portal.analytics.models import ExerciseStat, LearningEvent\n"
        f"e = LearningEvent.objects.filter(student__username={learner!r}, kind='check')\n"
        "print(sorted((x.assignment, x.exercise, x.ok) for x in e))\n"
        "fields = ('assignment', 'exercise', 'passed')\n"
        f"print(list(ExerciseStat.objects.filter(student__username={learner!r}).values_list(*fields)))\n"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = [line for line in stack.manage("shell", "-c", query).splitlines() if line.startswith("[")]
        if "True" in out[0]:
            break
        time.sleep(2)
    checks, stats = out
    assert (
        checks == "[('02-functions', 'celsius-to-fahrenheit', False), ('02-functions', 'celsius-to-fahrenheit', True)]"
    ), out
    assert stats == "[('02-functions', 'celsius-to-fahrenheit', True)]", out
