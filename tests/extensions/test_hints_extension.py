"""The hints extension in a real jupyter_server (jupyter_server's pytest plugin) with a real kernel, talking to the
real hints service code on this machine.

The service runs here with the course source; only who a token belongs to is answered locally (the hub's part:
tests/integration/test_hints.py runs it all behind the real hub). The student's notebook is ps01 as nbgrader
releases it, their answer and the visible tests run for real in their kernel.
"""

from __future__ import annotations

import asyncio
import json
import time

import nbformat
import pytest
from jupyterhub.services.auth import HubAuth
from tornado.httpclient import HTTPClientError
from tornado.httpserver import HTTPServer

from studio_hub.hints import app as hints_service
from tests.conftest import COURSE_CONTENT
from tests.grading_cases import ASSIGNMENT, make_course, released

pytest_plugins = ["pytest_jupyter.jupyter_server"]
WRONG = "def seconds_to_hms(total):\n    return total // 3600, total // 60, total % 60\n"


class LocalAuth(HubAuth):
    """The hub's answer to "whose token is this?", for one student of intro-python."""

    async def user_for_token(self, token, sync=True, **kwargs):
        if token == "student-token":
            return {"kind": "user", "name": "student1", "groups": ["students-intro-python"], "scopes": ["access"]}
        return None

    def check_scopes(self, required, model):
        return {"access"}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> dict:
    course = make_course(tmp_path_factory.mktemp("course"), image="studio-learner:latest")
    return json.loads(nbformat.writes(released(course)))


@pytest.fixture
def service_app():
    app = hints_service.HintsService()
    app.initialize(["--source-dir", str(COURSE_CONTENT), "--HintsService.unlock_seconds=0"])
    return app


def free_port() -> int:
    from embedded import free_port

    return free_port()


@pytest.fixture
def service_url(service_app, jp_asyncio_loop):
    port = free_port()
    server = HTTPServer(served(service_app, LocalAuth()))
    server.listen(port, "127.0.0.1")
    yield f"http://127.0.0.1:{port}/services/hints/"
    server.stop()


@pytest.fixture(scope="module")
def learner_content(tmp_path_factory):
    """The courses as learners' servers get them (lessons' practice answers cleared)."""
    from studio_hub.content import publish

    dest = tmp_path_factory.mktemp("content") / "content"
    publish([COURSE_CONTENT / "intro-python"], dest)
    return dest


@pytest.fixture
def jp_server_config(service_url, learner_content, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "student-token")
    return {
        "ServerApp": {"jpserver_extensions": {"studio_ext": True}},
        "Hints": {"service_url": service_url, "flush_interval": 0.2},
        "Lessons": {"hub_api_url": "", "content_dir": str(learner_content)},
    }


def cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


async def run(kernel, code: str) -> tuple[int, list[dict]]:
    """Execute in the kernel as JupyterLab does; (execution count, outputs as the notebook keeps them)."""
    client = kernel.client()
    client.start_channels()
    try:
        msg_id = client.execute(code)
        outputs, count = [], None
        while True:
            msg = await client.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_input":
                count = content["execution_count"]
            elif kind == "error":
                outputs.append({"output_type": "error", **content})
            elif kind == "status" and content["execution_state"] == "idle":
                return count, outputs
    finally:
        client.stop_channels()


async def worked(jp_fetch, jp_serverapp, release: dict, code: str) -> tuple[str, dict]:
    """A kernel where the student ran their answer and the visible tests; the notebook as they see it."""
    resp = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(resp.body)["id"]
    kernel = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    nb = json.loads(json.dumps(release))
    answer, tests = cell(nb, "ex2-answer"), cell(nb, "ex2-tests")
    answer["source"] = code
    answer["execution_count"], answer["outputs"] = await run(kernel, code)
    tests["execution_count"], tests["outputs"] = await run(kernel, "".join(tests["source"]))
    return kernel_id, nb


async def ask(jp_fetch, **body):
    body = {"path": f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb", **body}
    return await jp_fetch("studio", "hints", "hint", method="POST", body=json.dumps(body), raise_error=False)


async def test_a_hint_knows_what_the_failing_test_got_from_the_learners_kernel(
    jp_fetch, jp_serverapp, release, service_app
):
    kernel_id, nb = await worked(jp_fetch, jp_serverapp, release, WRONG)
    resp = await ask(jp_fetch, cell_id=cell(nb, "ex2-answer")["id"], notebook=nb, kernel_id=kernel_id)
    assert resp.code == 200, resp.body
    answer = json.loads(resp.body)
    assert answer["rung"] == 1 and answer["provider"] == "tutor"
    assert answer["hint"] == "The visible test `assert seconds_to_hms(3661) == (1, 1, 1)` fails."
    more = await ask(jp_fetch, cell_id=cell(nb, "ex2-answer")["id"], notebook=nb, kernel_id=kernel_id, more=True)
    assert "Your code gave `(1, 61, 1)`." in json.loads(more.body)["hint"], "asked of the learner's own kernel"
    assert "total % 3600" not in json.loads(more.body)["hint"]


async def test_the_saved_notebook_is_read_when_the_front_end_sends_none(jp_fetch, jp_root_dir, release):
    nb = json.loads(json.dumps(release))
    cell(nb, "ex1-answer")["source"] = "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n"
    (jp_root_dir / ASSIGNMENT).mkdir()
    (jp_root_dir / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb))
    resp = await ask(jp_fetch, cell_id=cell(nb, "ex1-answer")["id"])
    assert resp.code == 200 and "prints its result" in json.loads(resp.body)["hint"]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"cell_id": "x"}, 404),  # no such cell
        ({"path": "notes.txt", "cell_id": "x"}, 400),
        ({"path": None}, 400),
    ],
)
async def test_bad_requests_get_a_plain_answer(jp_fetch, release, body, status):
    resp = await ask(jp_fetch, notebook=release, **body)
    assert resp.code == status


async def test_only_answer_cells_get_hints(jp_fetch, release):
    task = cell(release, "ex1-task")
    resp = await ask(jp_fetch, notebook=release, cell_id=task["id"])
    assert resp.code == 400 and b"answer cells" in resp.body


async def test_service_down_is_a_clear_503(jp_fetch, jp_serverapp, release):
    jp_serverapp.web_app.settings["studio_hints"].service_url = f"http://127.0.0.1:{free_port()}/services/hints/"
    resp = await ask(jp_fetch, notebook=release, cell_id=cell(release, "ex1-answer")["id"])
    assert resp.code == 503 and b"not answering" in resp.body


async def test_events_are_sent_in_the_background_without_code_unless_kept(jp_fetch, jp_serverapp, service_app):
    events = [
        {
            "kind": "execute",
            "path": f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
            "exercise": "ex1-answer",
            "ok": False,
            "ename": "NameError",
            "code": "x = secret",
        },
        {"kind": "not-a-kind"},
    ]
    resp = await jp_fetch("studio", "hints", "events", method="POST", body=json.dumps({"events": events}))
    assert resp.code == 202 and json.loads(resp.body) == {"buffered": 1, "rejected": 1}
    for _ in range(50):
        queued = [e for _, e in await service_app.state.read_events() if e["kind"] == "execute"]
        if queued:
            break
        await asyncio.sleep(0.1)
    (event,) = queued
    assert event["student"] == "student1" and event["course"] == "intro-python" and event["ename"] == "NameError"
    assert len(event["code_hash"]) == 32 and "code" not in event, "intro-python does not keep students' code"
    status = json.loads((await jp_fetch("studio", "hints", "status")).body)
    assert status["sent"] == 1 and status["dropped"] == 0


async def queued_events(service_app, kind: str, want: int = 1) -> list[dict]:
    for _ in range(50):
        queued = [e for _, e in await service_app.state.read_events() if e["kind"] == kind]
        if len(queued) >= want:
            return queued
        await asyncio.sleep(0.1)
    return queued


async def test_a_lessons_practice_gets_hints_and_its_checks_are_events(jp_fetch, jp_root_dir, service_app):
    """A lesson opened as learners open it: its practice exercise gets the Hint (from the lesson's source, which
    the service holds), and running its visible tests is a check of that exercise, with the result."""
    lesson = "intro-python/lessons/02-functions.ipynb"
    opened = await jp_fetch("studio", "lessons", *lesson.split("/"), follow_redirects=False, raise_error=False)
    assert opened.code == 302
    nb = json.loads((jp_root_dir / lesson).read_text())
    answer = cell(nb, "celsius-to-fahrenheit")
    assert "NotImplementedError" in "".join(answer["source"]) and "9 / 5" not in "".join(answer["source"])
    answer["source"] = "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n"
    resp = await ask(jp_fetch, path=lesson, cell_id=answer["id"], notebook=nb)
    assert resp.code == 200, resp.body
    hint = json.loads(resp.body)
    assert hint["of"] >= 2 and "return" in hint["hint"]

    events = [
        {"kind": "check", "path": lesson, "exercise": "celsius-to-fahrenheit", "ok": False, "ename": "AssertionError"},
        # its new version beside a learner's changed copy is the same lesson
        {
            "kind": "check",
            "path": "intro-python/lessons/02-functions.updated.ipynb",
            "exercise": "celsius-to-fahrenheit",
            "ok": True,
        },
    ]
    resp = await jp_fetch("studio", "hints", "events", method="POST", body=json.dumps({"events": events}))
    assert json.loads(resp.body) == {"buffered": 2, "rejected": 0}
    checks = await queued_events(service_app, "check", want=2)
    assert [(e["course"], e["assignment"], e["exercise"], e["ok"]) for e in checks] == [
        ("intro-python", "02-functions", "celsius-to-fahrenheit", False),
        ("intro-python", "02-functions", "celsius-to-fahrenheit", True),
    ]


async def test_events_never_wait_for_a_dead_service_and_the_buffer_is_bounded(
    jp_fetch,
    jp_serverapp,
):
    hints = jp_serverapp.web_app.settings["studio_hints"]
    hints.service_url = f"http://127.0.0.1:{free_port()}/services/hints/"
    hints.outbox.max_kept = 50
    t0 = time.monotonic()
    for _ in range(3):
        events = [{"kind": "execute", "ok": True}] * 40
        resp = await jp_fetch("studio", "hints", "events", method="POST", body=json.dumps({"events": events}))
        assert resp.code == 202
    assert time.monotonic() - t0 < 2
    await asyncio.sleep(0.5)  # a send or two fails meanwhile
    status = json.loads((await jp_fetch("studio", "hints", "status")).body)
    assert status["buffered"] == 50 and status["dropped"] == 70 and status["failed_sends"] >= 1


async def test_no_token_no_hint(jp_fetch, release):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("studio", "hints", "hint", method="POST", body="{}", headers={"Authorization": ""})
    assert e.value.code in (401, 403)


def served(app, hub_auth):
    """The service's tornado application, with ``hub_auth`` answering who a token is."""
    app.hub_auth, app.prefix = hub_auth, "/services/hints/"
    return app.make_app()
