"""nbgrader's student extensions behind studio_ext.nbgrader_student, in a real jupyter_server with real nbgrader."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"studio_ext.nbgrader_student": True}}}


async def test_version_check_answers_like_nbgrader_and_the_assignment_list_loads_on_first_use(jp_fetch, jp_serverapp):
    from importlib.metadata import version

    ok = json.loads((await jp_fetch("nbgrader_version", params={"version": version("nbgrader")})).body)
    assert ok == {"success": True}
    wrong = json.loads((await jp_fetch("nbgrader_version", params={"version": "0.0.1"})).body)
    assert wrong["success"] is False and "does not match" in wrong["message"]
    assert "assignment_list_manager" not in jp_serverapp.web_app.settings  # nbgrader not set up yet

    listing = json.loads((await jp_fetch("assignments", params={"course_id": "intro-python"})).body)
    assert "success" in listing  # nbgrader's own handler answered
    manager = jp_serverapp.web_app.settings["assignment_list_manager"]
    assert type(manager).__module__ == "nbgrader.server_extensions.assignment_list.handlers"
    assert manager.root_dir == jp_serverapp.root_dir


def test_a_server_with_it_does_not_import_nbgrader_until_asked():
    code = (
        "import sys\nfrom jupyter_server.serverapp import ServerApp\n"
        "app = ServerApp(jpserver_extensions={'studio_ext.nbgrader_student': True}, open_browser=False)\n"
        "app.initialize(argv=['--port=0', '--ServerApp.token=x', '--ServerApp.root_dir=/tmp'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'nbgrader'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


async def test_a_validation_from_jupyterlab_is_a_learning_event(jp_fetch, jp_serverapp, jp_root_dir):
    """With studio_ext's hints too: nbgrader's Validate button (its POST) is reported, the notebook's path with it."""
    from studio_ext import hints

    hints.setup(jp_serverapp)
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (jp_root_dir / "ps01-values-and-names").mkdir()
    (jp_root_dir / "ps01-values-and-names" / "ps01.ipynb").write_text(json.dumps(notebook))
    resp = await jp_fetch(
        "assignments", "validate", method="POST", body="", params={"path": "ps01-values-and-names/ps01.ipynb"}
    )
    assert json.loads(resp.body)["success"] is True
    (event,) = [e for e in jp_serverapp.web_app.settings["studio_hints"].outbox.peek() if e["kind"] == "validate"]
    assert (event["assignment"], event["notebook"], event["ok"]) == ("ps01-values-and-names", "ps01", True)
    # A submission is one too, failed or not (here: no exchange to submit to).
    resp = await jp_fetch(
        "assignments",
        "submit",
        method="POST",
        body="",
        params={"assignment_id": "ps01-values-and-names", "course_id": "intro-python"},
    )
    assert json.loads(resp.body)["success"] is False
    (event,) = [e for e in jp_serverapp.web_app.settings["studio_hints"].outbox.peek() if e["kind"] == "submit"]
    assert (event["assignment"], event["course"], event["ok"]) == ("ps01-values-and-names", "intro-python", False)
