"""End to end in headless Debian Chromium (Playwright): portal login → catalog → lesson → JupyterLab → run a cell."""

from __future__ import annotations

import re
import shutil
import tempfile
import time

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network and no desktop (see ../shared/MACHINE.md); the browser comes from apt, never a download.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="studio-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 860},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def test_student_opens_a_lesson_and_runs_a_cell(stack, page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_default_timeout(90_000)
    page.goto(f"{stack.portal_url}/accounts/login/")
    page.get_by_label("Username").fill("student2")
    page.get_by_label("Password").fill(stack.passwords["student2"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.portal_url}/")

    page.get_by_role("link", name="Introduction to Python").click()
    page.get_by_role("link", name="Functions").click()
    t0 = time.monotonic()
    page.get_by_role("link", name="Open in JupyterLab").click()
    page.wait_for_url(re.compile(r"/user/student2/lab/tree/intro-python/lessons/02-functions\.ipynb"))

    # JupyterLab has the lesson open: its first heading is rendered in the notebook panel.
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    notebook.get_by_role("heading", name="Functions").first.wait_for()
    ready = time.monotonic() - t0
    try:
        # Wait for this notebook's kernel to be idle, then run the worked example and see its output. A key press
        # that lands while JupyterLab is still settling can be lost, so it is repeated until the cell runs.
        notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
        cell = notebook.locator(".jp-CodeCell").first
        output = cell.locator(".jp-OutputArea-output")
        for _ in range(4):
            cell.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
            try:
                output.wait_for(timeout=20_000)
                break
            except PlaywrightTimeout:
                continue
        assert output.inner_text().split() == ["12", "25.0"]
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "e2e-failure.png"))
        raise
    assert page.get_by_text("official Jupyter news").count() == 0  # announcements are disabled for learners
    print(f"\nbrowser: click 'Open in JupyterLab' → notebook shown: {ready:.1f} s")
    page.screenshot(path=str(ARTIFACTS / "e2e-jupyterlab-lesson.png"))
