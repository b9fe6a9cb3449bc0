"""The portal's community and dashboards in headless Chromium: a student asks in the forum, a classmate answers,
the answer is marked, the classmate earns a badge and sees it on their dashboard, the instructor reads the course's
analytics. Every key page passes axe-core's WCAG 2.1 A and AA checks, and the forum works from the keyboard."""

from __future__ import annotations

import time

import pytest
import requests

from studio_portal.analytics import cohort
from tests.conftest import ROOT, new_account
from tests.e2e.test_lesson_in_browser import ARTIFACTS, page  # noqa: F401 -- the browser fixture

pytestmark = pytest.mark.e2e

AXE = ROOT / ".venv" / "lib" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe(tab) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now (run through DevTools: the page's CSP allows
    no injected script, and needs not)."""
    if not tab.evaluate("() => typeof window.axe !== 'undefined'"):
        tab.evaluate(AXE.read_text() + "\n;0")
    return tab.evaluate(
        """async (tags) => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""",
        WCAG_AA,
    )


def log_in(tab, stack, username, password):
    tab.context.clear_cookies()  # whoever was logged in before
    tab.goto(f"{stack.portal_url}/accounts/login/")
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(f"{stack.portal_url}/")


def send_cohort(stack, n: int) -> None:
    """A generated cohort of ``n`` students (accounts made in the portal) and their last four weeks of learning
    events and grades, sent to the portal's APIs with the hub services' token."""
    made = cohort.generate(n, seed=3, start=time.time() - cohort.WEEKS * 7 * cohort.DAY)
    stack.manage(
        "shell",
        "-c",
        (
            "from django.contrib.auth import get_user_model\n"
            "from studio_portal.catalog.models import CoursePage\n"
            "from studio_portal.courses.services import enrollment_create\n"
            "course = CoursePage.objects.get(slug='intro-python')\n"
            f"for name in {made.students!r}:\n"
            "    enrollment_create(user=get_user_model().objects.get_or_create(username=name)[0], course=course)\n"
        ),
    )

    def bearer(purpose: str) -> dict:
        return {"Authorization": f"Bearer {(stack.hub_dir / f'{purpose}_token').read_text().strip()}"}

    for start in range(0, len(made.events), 2000):
        resp = requests.put(
            f"{stack.portal_url}/api/events/",
            json={"events": made.events[start : start + 2000]},
            headers=bearer("events"),
            timeout=120,
        )
        assert resp.status_code == 200 and not resp.json()["skipped"], resp.text[:300]
    resp = requests.put(
        f"{stack.portal_url}/api/grades/", json={"grades": made.grades}, headers=bearer("grades"), timeout=120
    )
    assert resp.status_code == 200, resp.text[:300]


def checked(tab, name: str, checked_pages: dict):
    problems = axe(tab)
    checked_pages[name] = problems
    return problems


def test_ask_answer_badge_and_dashboards(stack, page):  # noqa: F811
    assert AXE.exists(), "axe-core is installed by scripts/setup.sh test"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(30_000)
    asker, helper = new_account(stack, "asker", course="intro-python"), new_account(stack, "helper", "intro-python")
    results: dict[str, list] = {}

    # The asker finds the forum from the catalog and asks, with a code block.
    log_in(page, stack, "asker", asker)
    checked(page, "catalog", results)
    page.get_by_role("link", name="Introduction to Python").click()
    page.get_by_role("link", name="Functions").click()
    checked(page, "lesson", results)
    page.go_back()
    page.get_by_role("link", name="Forum").click()
    page.get_by_label("Title").fill("Why does my function give None?")
    page.get_by_label("Your question or message").fill("I wrote:\n\n```python\ndef double(x):\n    print(x * 2)\n```")
    page.get_by_role("button", name="Post thread").click()
    page.get_by_role("heading", name="Why does my function give None?").wait_for()
    thread_url = page.url

    # The helper answers using the keyboard only: Tab to the reply box, type, Tab to the button, Enter.
    log_in(page, stack, "helper", helper)
    page.goto(thread_url)
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "reply-body":
            break
    else:
        raise AssertionError("the reply box cannot be reached with Tab")
    page.keyboard.type("@asker use `return x * 2`: print shows the value, return hands it back.")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Post reply"
    page.keyboard.press("Enter")
    page.locator("article.post").nth(1).get_by_text("print shows the value").wait_for()
    assert page.locator("strong.mention", has_text="@asker").count() == 1

    # The asker is told, reads the thread (a forum thread page checked by axe) and marks the answer.
    log_in(page, stack, "asker", asker)
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("link", name="helper mentioned you in “Why does my function give None?”").click()
    checked(page, "forum thread", results)
    page.get_by_role("button", name="Mark as answer").click()
    page.locator("article.post.answer").get_by_text("print shows the value").wait_for()

    # The helper earned "Helped a peer": told, and shown on their dashboard.
    log_in(page, stack, "helper", helper)
    page.get_by_role("link", name="Notifications").click()
    page.get_by_text("You earned the badge “Helped a peer” in Introduction to Python").wait_for()
    page.get_by_role("link", name="My progress").click()
    page.get_by_text("Helped a peer").wait_for()
    checked(page, "student dashboard", results)
    page.screenshot(path=str(ARTIFACTS / "e2e-student-dashboard.png"), full_page=True)

    # A cohort's four weeks of work arrive through the portal's APIs, as the hub's services send them.
    send_cohort(stack, 40)

    # The instructor reads the course's analytics.
    log_in(page, stack, "instructor1", stack.passwords["instructor1"])
    page.goto(f"{stack.portal_url}/courses/intro-python/analytics/")
    page.get_by_role("heading", name="How Introduction to Python is going").wait_for()
    assert page.locator("ul.reasons li").count() > 0  # the cohort's struggling students, each with reasons
    checked(page, "instructor dashboard", results)
    page.screenshot(path=str(ARTIFACTS / "e2e-instructor-dashboard.png"), full_page=True)
    for name, url in [
        ("forum", "/courses/intro-python/forum/"),
        ("study groups", "/courses/intro-python/groups/"),
        ("leaderboard", "/courses/intro-python/leaderboard/"),
        ("code review", "/courses/intro-python/reviews/"),
        ("search", "/search/?q=function"),
    ]:
        page.goto(stack.portal_url + url)
        checked(page, name, results)

    failing = {name: problems for name, problems in results.items() if problems}
    assert not failing, failing
    assert set(results) >= {"catalog", "lesson", "forum thread", "student dashboard", "instructor dashboard"}


def test_skip_link_comes_first_and_focus_is_visible(stack, page):  # noqa: F811
    page.goto(f"{stack.portal_url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#main"


def test_the_checker_finds_a_real_violation(stack, page):  # noqa: F811
    """The harness itself: an image without a text alternative is reported (so an empty list means something)."""
    page.goto(f"{stack.portal_url}/")
    page.evaluate("() => document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/x.png\">')")
    assert "image-alt" in {v["id"] for v in axe(page)}
