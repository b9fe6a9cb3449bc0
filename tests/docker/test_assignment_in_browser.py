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
from urllib.parse import quote

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
    assignment_loop_in_browser(page, stack, notebooks["right"])


def portal_status(browser, s, student: str) -> str:
    """The status the course page in the portal shows ``student`` (logged in) for ps01."""
    browser.goto(f"{s.portal_url}/{COURSE}/")
    return browser.locator(f'tr[data-assignment="{PS}"]').get_attribute("data-status")


def assignment_loop_in_browser(page, stack, answer: bytes, student: str = "student1", from_portal: bool = False):  # noqa: F811
    """``student`` gets ps01 (from JupyterLab's assignment list, or the portal's "Open in JupyterLab"), submits the
    ``answer`` (worth 5 points) from the assignment list; it is graded; grader1 releases feedback in formgrader;
    the student fetches and reads it. The portal's course page follows each step."""
    page.set_default_timeout(90_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_in(page, stack, student)
    if from_portal:
        assert portal_status(page, stack, student) == "not-fetched"
        page.locator(f'tr[data-assignment="{PS}"]').get_by_role("link", name="Open in JupyterLab").wait_for()
        href = page.locator(f'tr[data-assignment="{PS}"] a').get_attribute("href")
        page.goto(href)  # the link opens a tab of its own (target=_blank): the same address here
        page.wait_for_url(re.compile(rf"/user/{student}/lab/tree/{PS}/{PS}.ipynb"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "assignment-opened-from-portal.png"))
    panel = assignment_list(page, stack, student)
    if not from_portal:  # fetched from JupyterLab's assignment list
        released_row = panel.locator("#released_assignments_list .list_item", has_text=PS)
        released_row.get_by_role("button", name="Fetch").click()
    fetched_row = panel.locator("#fetched_assignments_list .list_item", has_text=PS)
    fetched_row.get_by_role("button", name="Submit").wait_for()

    # They answer (written into the notebook they fetched), then submit from the list.
    home = Path("/home") / f"{stack.learner_prefix}{student}"
    work = home / PS / f"{PS}.ipynb"
    assert work.is_file()
    work.write_bytes(answer)
    os.chown(work, home.stat().st_uid, home.stat().st_gid)
    fetched_row.get_by_role("button", name="Submit").click()
    panel.locator("#submitted_assignments_list .list_item", has_text=PS).wait_for()
    page.screenshot(path=str(ARTIFACTS / "assignment-list-submitted.png"))

    # The grading service grades it in a sandbox, as it arrives.
    from tests.docker.test_grading_service import call

    subs = call(
        stack, "grader1", "GET", "api/submissions", service="EXCHANGE", params={"course": COURSE, "student": student}
    ).json()["submissions"]
    row = wait_graded(stack, student, subs[-1]["id"])
    assert (row["state"], row["auto_score"]) == ("graded", 5.0), row
    deadline = time.monotonic() + 60
    while (status := portal_status(page, stack, student)) != "graded":
        assert time.monotonic() < deadline, f"the portal shows {status!r}"
        time.sleep(1)
    page.screenshot(path=str(ARTIFACTS / "portal-course-assignments.png"), full_page=True)
    from tests.e2e.test_portal_in_browser import axe

    assert axe(page) == [], "the course page with its assignments fails WCAG 2.1 A/AA checks"

    # A grader opens formgrader from the grading service's page and releases the feedback there.
    log_in(page, stack, "grader1")
    page.goto(stack.service_url("grading"))
    page.get_by_role("link", name=COURSE).click()
    page.wait_for_url(re.compile(r"/formgrader/"))
    page.get_by_role("link", name="Manage Assignments").first.wait_for()
    page.goto(
        f"{stack.service_origin('grading')}/services/grading/formgrader/{COURSE}/formgrader/manage_submissions/{PS}"
    )
    student_row = page.locator("tr", has_text=student)
    student_row.wait_for()
    # Rendered as formgrader means it: its styles applied (Bootstrap's navigation pills) and its table scripted.
    assert page.locator(".nav-pills").evaluate("e => getComputedStyle(e).listStyleType") == "none"
    page.get_by_label("Search:").wait_for()
    page.screenshot(path=str(ARTIFACTS / "formgrader-submissions.png"))
    for cell, done in (
        (".generate-feedback", "Successfully generated feedback"),
        (".release-feedback", "Successfully released feedback"),
    ):
        student_row.locator(f"{cell} a").click()
        dialog = page.locator(".modal-dialog", has_text=done)
        dialog.wait_for()
        dialog.get_by_role("button").first.click()
        dialog.wait_for(state="hidden")

    # The student fetches the feedback from the assignment list and reads it; the portal says it is there.
    log_in(page, stack, student)
    deadline = time.monotonic() + 60
    while (status := portal_status(page, stack, student)) != "feedback":
        assert time.monotonic() < deadline, f"the portal shows {status!r}"
        time.sleep(1)
    panel = assignment_list(page, stack, student)
    submitted = panel.locator("#submitted_assignments_list .list_item", has_text=PS)
    submitted.get_by_role("button", name="Fetch Feedback").first.click()
    deadline = time.monotonic() + 60
    while not (found := list((home / PS / "feedback").glob(f"*/{PS}.html"))):
        assert time.monotonic() < deadline, "no feedback fetched"
        time.sleep(0.5)
    html = found[0].read_text()
    assert "5.0" in html  # the score, as nbgrader's feedback shows it
    assert not [h for h in HIDDEN if h in html]


def canary_notebook(base: bytes) -> bytes:
    """The submission with script in every place the issue names: Markdown (raw HTML, a javascript: link, an SVG
    attachment), outputs its code makes when graded (HTML, SVG, JavaScript, Markdown), and widget state."""
    import base64

    import nbformat

    def mark(where: str) -> str:
        return f"(window.__pwned = (window.__pwned || []).concat('{where}'))"

    nb = nbformat.reads(base.decode(), as_version=4)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{mark("svg-attr")}"><script>{mark("svg-script")}</script>'
    svg += "</svg>"
    markdown = nbformat.v4.new_markdown_cell(
        f'<img src="x" onerror="{mark("md-img")}"> <script>{mark("md-script")}</script>\n\n'
        f"[click](javascript:{mark('md-link')}) ![a](attachment:p.svg)"
    )
    markdown.attachments = {"p.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()}}
    html = f'<img src=x onerror="{mark("out-html")}"><b>kept</b>'
    md = f'<img src=x onerror="{mark("out-md")}">'
    code = nbformat.v4.new_code_cell(
        "from IPython.display import HTML, SVG, Javascript, Markdown, display\n"
        f"display(HTML({html!r}))\n"
        f"display(SVG({svg!r}))\n"
        f"display(Javascript({mark('out-js')!r}))\n"
        f"display(Markdown({md!r}))\n"
    )
    nb.cells[1:1] = [markdown, code]
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"x": f"</script><script>{mark('widget-state')}</script>"},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    return nbformat.writes(nb).encode()


def test_script_in_a_submission_runs_neither_in_formgrader_nor_in_feedback(stack, released, notebooks, page):  # noqa: F811
    """Attack: a submission carries script in its Markdown, its outputs, an attachment and widget state. A grader
    opens it in formgrader's submission view, the student opens their feedback: nothing of it runs, and
    formgrader's own scripts still do."""
    import base64
    import json

    from tests.docker.test_grading_service import call

    page.set_default_timeout(90_000)
    nb = canary_notebook(notebooks["wrong"])
    body = {"files": {f"{PS}.ipynb": base64.b64encode(nb).decode()}}
    resp = call(stack, "student2", "POST", f"api/submissions/{COURSE}/{PS}", service="EXCHANGE", json=body)
    assert resp.status_code == 201, resp.text
    row = wait_graded(stack, "student2", resp.json()["id"])
    assert row["state"] == "graded", row
    autograded = json.loads((stack.grading_dir / COURSE / "autograded" / "student2" / PS / f"{PS}.ipynb").read_text())
    made = {mime for c in autograded["cells"] for o in c.get("outputs", []) for mime in o.get("data", {})}
    assert {"text/html", "image/svg+xml", "application/javascript", "text/markdown"} <= made, made

    log_in(page, stack, "grader1")
    base = f"{stack.service_origin('grading')}/services/grading/formgrader/{COURSE}/formgrader"
    page.goto(f"{base}/manage_assignments")
    notebooks_api = page.request.get(f"{base}/api/submitted_notebooks/{PS}/{PS}").json()
    (mine,) = [n for n in notebooks_api if n["student"] == "student2"]
    page.goto(f"{base}/submissions/{mine['id']}/")
    page.locator(".output_html b", has_text="kept").wait_for()  # the harmless part of the output is there
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__pwned") is None
    # Formgrader's own scripts ran (its variables set, its grading widgets wired).
    assert page.evaluate("typeof submission_id === 'string' && typeof $ === 'function'")
    page.screenshot(path=str(ARTIFACTS / "formgrader-canary.png"))

    # Feedback, generated and released there, opened by the student as a page.
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    for action in ("generate_feedback", "release_feedback"):
        done = page.request.post(f"{base}/api/assignment/{PS}/student2/{action}", headers={"X-CSRFToken": xsrf})
        assert done.ok and done.json()["success"], (action, done.text()[-1500:])
    from tests.integration.test_exchange import nbgrader

    rc, out = nbgrader(stack, "student2", "fetch_feedback", PS, "--course", COURSE)
    assert rc == 0, out
    path = out.split("Fetched feedback: ")[-1].splitlines()[0].strip()
    home = Path("/home") / f"{stack.learner_prefix}student2"
    relative = quote(str(Path(path).relative_to(home)))  # the folder is the timestamp: spaces
    log_in(page, stack, "student2")
    page.goto(f"{stack.user_url('student2')}files/{relative}")
    page.get_by_text("kept").first.wait_for()
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__pwned") is None


def test_a_flagged_submission_needs_review_in_formgrader_and_the_portal(stack, released, notebooks, page):  # noqa: F811
    """Issue 16, item 4: a submission that replaced a built-in is graded (its tests run in the judge) and flagged.
    The grader reads why at the top of formgrader's submission view, the portal lists it as "needs review" with the
    reason for the team and as not final for the student; once the grader clears the flag there, it counts."""
    import base64

    import nbformat

    from tests.docker.test_grading_service import call

    page.set_default_timeout(90_000)
    nb = nbformat.reads(notebooks["right"], as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-answer")
    answer.source = "import builtins\nbuiltins.abs = lambda x: 0\n" + answer.source
    body = {"files": {f"{PS}.ipynb": base64.b64encode(nbformat.writes(nb).encode()).decode()}}
    resp = call(stack, "student2", "POST", f"api/submissions/{COURSE}/{PS}", service="EXCHANGE", json=body)
    assert resp.status_code == 201, resp.text
    row = wait_graded(stack, "student2", resp.json()["id"])
    assert (row["state"], row["auto_score"], row["flagged"]) == ("graded", 5.0, True), row
    reason = "built-in `abs` was replaced"
    grades = f"{stack.portal_url}/courses/{COURSE}/grades/"

    log_in(page, stack, "student2")
    page.goto(grades)
    mine = page.locator("tr", has_text=PS)
    assert "Needs review" in mine.inner_text() and "(not final)" in mine.inner_text()
    assert reason not in page.content()  # the reasons are the team's

    log_in(page, stack, "grader1")
    page.goto(grades)
    theirs = page.locator("tr", has_text="student2")
    assert "Needs review" in theirs.inner_text() and reason in theirs.inner_text(), theirs.inner_text()
    base = f"{stack.service_origin('grading')}/services/grading/formgrader/{COURSE}/formgrader"
    page.goto(f"{base}/manage_assignments")
    submitted = page.request.get(f"{base}/api/submitted_notebooks/{PS}/{PS}").json()
    (sub,) = [n for n in submitted if n["student"] == "student2"]
    page.goto(f"{base}/submissions/{sub['id']}/")
    banner = page.locator("#studio-needs-review")
    banner.get_by_text(reason).wait_for()
    # Formgrader's icon font loads (a CORS-mode request, which JupyterHub's xsrf rules refused: empty boxes).
    fonts = page.evaluate("""async () => { await document.fonts.ready;
        return [...document.fonts].filter(f => f.family.includes('Glyphicons')).map(f => f.status); }""")
    assert "loaded" in fonts, fonts
    page.screenshot(path=str(ARTIFACTS / "formgrader-needs-review.png"))
    banner.get_by_role("button", name="Reviewed: clear the flag").click()
    banner.get_by_text("the flag is cleared").wait_for()
    page.reload()  # the gradebook keeps it: the banner says so when the page is opened again (and reloaded, the
    # page's scripts run: formgrader's pages are not answered "not modified" under a new nonce)
    assert page.evaluate("typeof submission_id === 'string' && typeof base_url === 'string'")
    page.locator("#studio-needs-review").get_by_text("the flag is cleared").wait_for()

    deadline = time.monotonic() + 60  # the service looks for changed gradebooks every 3 s here
    while True:
        page.goto(grades)
        text = page.locator("tr", has_text="student2").inner_text()
        if "Needs review" not in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(1)
    assert "Graded" in text and "(not final)" not in text and reason not in text, text
