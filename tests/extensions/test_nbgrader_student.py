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
    code = ("import sys\nfrom jupyter_server.serverapp import ServerApp\n"
            "app = ServerApp(jpserver_extensions={'studio_ext.nbgrader_student': True}, open_browser=False)\n"
            "app.initialize(argv=['--port=0', '--ServerApp.token=x', '--ServerApp.root_dir=/tmp'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'nbgrader'))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
