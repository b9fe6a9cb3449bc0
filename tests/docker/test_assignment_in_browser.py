"""An assignment end to end in headless Chromium: a student fetches and submits it from JupyterLab's assignment
list, the grading service grades it in a gVisor sandbox, a grader reviews it in formgrader and releases feedback
there, and the student fetches and reads the feedback in JupyterLab.

The student's typing is the one step not done through the browser: their answers are written into the notebook
they fetched (the editor itself is the lesson test's subject).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.docker.test_grading_service import notebooks, stack, wait_graded  # noqa: F401 -- fixtures
from tests.e2e.test_lesson_in_browser import ARTIFACTS, page  # noqa: F401 -- fixture
from tests.integration.test_exchange import COURSE, PS, released  # noqa: F401 -- fixture

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.integration]
HIDDEN = ["celsius_to_fahrenheit(-40)", "98.6", "seconds_to_hms(86399)"]


def log_in(browser, s, username: str) -> None:
    browser.context.clear_cookies()
    browser.goto(f"{s.portal_url}/accounts/login/")
    browser.get_by_label("Username").fill(username)
    browser.get_by_label("Password").fill(s.passwords[username])
    browser.get_by_role("button", name="Log in").click()
    browser.wait_for_url(f"{s.portal_url}/")


def assignment_list(browser, s, username: str):
    browser.goto(f"{s.hub_url}/hub/user-redirect/lab")
    browser.wait_for_url(re.compile(rf"/user/{username}/lab"))
    browser.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    browser.locator(".lm-Menu-item", has_text="Assignment List").click()
    return browser.locator("#assignments")


def test_fetch_submit_grade_review_feedback_in_the_browser(stack, released, notebooks, page):  # noqa: F811
    page.set_default_timeout(90_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The student fetches the assignment from JupyterLab's assignment list.
    log_in(page, stack, "student1")
    panel = assignment_list(page, stack, "student1")
    released_row = panel.locator("#released_assignments_list .list_item", has_text=PS)
    released_row.get_by_role("button", name="Fetch").click()
    fetched_row = panel.locator("#fetched_assignments_list .list_item", has_text=PS)
    fetched_row.get_by_role("button", name="Submit").wait_for()

    # They answer (written into the notebook they fetched), then submit from the list.
    home = Path("/home") / f"{stack.learner_prefix}student1"
    work = home / PS / f"{PS}.ipynb"
    assert work.is_file()
    work.write_bytes(notebooks["right"])
    os.chown(work, home.stat().st_uid, home.stat().st_gid)
    fetched_row.get_by_role("button", name="Submit").click()
    panel.locator("#submitted_assignments_list .list_item", has_text=PS).wait_for()
    page.screenshot(path=str(ARTIFACTS / "assignment-list-submitted.png"))

    # The grading service grades it in a sandbox, as it arrives.
    from tests.docker.test_grading_service import call

    subs = call(stack, "grader1", "GET", "api/submissions", service="EXCHANGE",
                params={"course": COURSE, "student": "student1"}).json()["submissions"]  # fmt: skip
    row = wait_graded(stack, "student1", subs[-1]["id"])
    assert (row["state"], row["auto_score"]) == ("graded", 5.0), row

    # A grader opens formgrader from the grading service's page and releases the feedback there.
    log_in(page, stack, "grader1")
    page.goto(f"{stack.hub_url}/services/grading/")
    page.get_by_role("link", name=COURSE).click()
    page.wait_for_url(re.compile(r"/formgrader/"))
    page.get_by_role("link", name="Manage Assignments").first.wait_for()
    page.goto(f"{stack.hub_url}/services/grading/formgrader/{COURSE}/formgrader/manage_submissions/{PS}")
    student_row = page.locator("tr", has_text="student1")
    student_row.wait_for()
    # Rendered as formgrader means it: its styles applied (Bootstrap's navigation pills) and its table scripted.
    assert page.locator(".nav-pills").evaluate("e => getComputedStyle(e).listStyleType") == "none"
    page.get_by_label("Search:").wait_for()
    page.screenshot(path=str(ARTIFACTS / "formgrader-submissions.png"))
    for cell, done in ((".generate-feedback", "Successfully generated feedback"),
                       (".release-feedback", "Successfully released feedback")):  # fmt: skip
        student_row.locator(f"{cell} a").click()
        dialog = page.locator(".modal-dialog", has_text=done)
        dialog.wait_for()
        dialog.get_by_role("button").first.click()
        dialog.wait_for(state="hidden")

    # The student fetches the feedback from the assignment list and reads it.
    log_in(page, stack, "student1")
    panel = assignment_list(page, stack, "student1")
    submitted = panel.locator("#submitted_assignments_list .list_item", has_text=PS)
    submitted.get_by_role("button", name="Fetch Feedback").first.click()
    deadline = time.monotonic() + 60
    while not (found := list((home / PS / "feedback").glob(f"*/{PS}.html"))):
        assert time.monotonic() < deadline, "no feedback fetched"
        time.sleep(0.5)
    html = found[0].read_text()
    assert "5.0" in html  # the score, as nbgrader's feedback shows it
    assert not [h for h in HIDDEN if h in html]
