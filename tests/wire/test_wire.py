"""The wire formats every part checks the same way (studio_wire): learning events and cell frames in tracebacks."""

from __future__ import annotations

import pytest
from studio_wire.events import FROM_LEARNER, KINDS, TO_PORTAL, problem
from studio_wire.traceback import frames

RUN = {"kind": "execute", "assignment": "ps01", "exercise": "ex1-answer", "ok": False, "ename": "NameError"}
FORWARDED = {"id": "1700000000000-0", "kind": "execute", "student": "student1", "course": "intro-python", "time": 1.5}


def test_an_event_of_each_kind_is_one():
    for kind in KINDS:
        assert problem(FROM_LEARNER, {"kind": kind}) is None
        assert problem(TO_PORTAL, dict(FORWARDED, kind=kind)) is None
    assert problem(FROM_LEARNER, dict(RUN, code="x = 1", code_hash="ab" * 16, rung=2, path="ps01/ps01.ipynb")) is None


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ("garbage", "is not of type 'object'"),
        ({}, "'kind' is a required property"),
        ({"kind": "shell"}, "kind: 'shell' is not one of"),
        ({"kind": "graded"}, "is not one of"),  # the portal's own kind: nobody reports it
        (dict(RUN, exercise="x" * 101), "exercise: "),
        (dict(RUN, exercise=""), "exercise: "),
        (dict(RUN, course=["intro-python"]), "course: "),
        (dict(RUN, ok="yes"), "ok: "),
        (dict(RUN, rung=True), "rung: "),  # a boolean is not a number here, as in JSON
        (dict(RUN, code_hash="not hex"), "code_hash: "),
        (dict(RUN, code=7), "code: "),
    ],
)
def test_what_a_learner_sends_that_is_not_an_event_is_refused_with_the_reason(event, says):
    reason = problem(FROM_LEARNER, event)
    assert reason and says in reason and reason.startswith("a learning event from a learner's server")


@pytest.mark.parametrize(
    "change",
    [{"id": ""}, {"student": None}, {"time": "yesterday"}, {"time": True}, {"kind": "graded"}, {"course": "c" * 151}],
)
def test_what_the_portal_is_sent_must_name_its_queue_id_student_course_and_time(change):
    assert problem(TO_PORTAL, dict(FORWARDED, **change))
    missing = dict(FORWARDED)
    missing.pop(next(iter(change)))
    assert problem(TO_PORTAL, missing)


def test_frames_are_found_as_ipykernel_and_a_bare_ipython_name_them_coloured_or_not():
    trace = (
        "\x1b[0;31mAssertionError\x1b[0m Traceback (most recent call last)\n"
        "Cell \x1b[0;32mIn[7]\x1b[0m, line 3\n"
        "File <ipython-input-4-ab12cd>:12, in f(x)\n"
        "Cell In [9], line 1\n"
        "  File /usr/lib/python3.11/json/__init__.py:346, in loads\n"
    )
    assert frames(trace) == [(7, 3), (4, 12), (9, 1)]
    assert frames("no frames here") == []


def test_the_http_client_takes_no_proxy_from_the_environment_and_always_has_a_timeout(monkeypatch):
    """Calls between our parts go where the operator pointed them, whatever HTTP(S)_PROXY a container inherits."""
    import asyncio
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from studio_wire import http

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/slow":
                time.sleep(2)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    try:
        with http.client(5) as c:
            assert c.get(url + "/").json() == {"ok": True}
            with pytest.raises(http.Error):
                c.get(url + "/slow", timeout=0.3)

        async def call():
            async with http.async_client(5) as c:
                return (await c.get(url + "/")).json()

        assert asyncio.run(call()) == {"ok": True}
    finally:
        server.shutdown()


GOOD_RESULT = {
    "id": "s1",
    "status": "ok",
    "reason": "",
    "clean": True,
    "seconds": 0.4,
    "cpu_seconds": 0.2,
    "flags": [],
    "cells": [
        {
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": "hi\n"},
                {"output_type": "execute_result", "data": {"text/plain": "21"}, "metadata": {}, "execution_count": 1},
                {"output_type": "display_data", "data": {"application/json": {"a": 1}}, "metadata": {}},
            ],
            "execution_count": 1,
            "seconds": 0.01,
        },
        {
            "outputs": [{"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": ["..."]}],
            "execution_count": 2,
        },
    ],
}


def test_what_a_sandbox_answers_is_checked_before_nbgrader_sees_it():
    """The outputs come from a process the student's code ran in: an answer that is not one of ours is refused
    (the preprocessor then grades the notebook as crashed, and flags it)."""
    import copy

    from studio_wire.grading import RESULT, problem

    assert problem(RESULT, GOOD_RESULT) is None

    def changed(path: list, value):
        result = copy.deepcopy(GOOD_RESULT)
        target = result
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return problem(RESULT, result)

    assert changed(["status"], "passed")
    assert changed(["cells"], {"0": {}})
    assert changed(["flags"], [{"html": "<b>"}])
    assert changed(["cells", 1, "outputs", 0, "ename"], ["AssertionError"])
    assert changed(["cells", 1, "outputs", 0, "traceback"], "one string")
    assert changed(["cells", 0, "outputs", 0, "name"], "stdin")
    assert changed(["cells", 0, "outputs", 1, "data"], {"text/plain": 21})
    assert changed(["cells", 0, "outputs", 2, "output_type"], "grade")
    assert changed(["cells", 0, "execution_count"], "1")


def test_the_jobs_the_grader_builds_are_grading_jobs_and_malformed_ones_are_refused_with_the_reason():
    import nbformat
    from studio_grader.preprocessor import SandboxedExecute
    from studio_wire.grading import EXPANSION, JOB, problem

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("def f(): return 1", metadata={"nbgrader": {"solution": True, "grade_id": "a"}}),
        nbformat.v4.new_code_cell(
            "assert f() == 1", metadata={"nbgrader": {"grade": True, "points": 1, "grade_id": "t", "locked": True}}
        ),
    ]
    job = SandboxedExecute().job(nb.cells, "sam", {"a": 0.5, "t": 0.7}, {"t"})
    assert problem(JOB, job) is None, problem(JOB, job)
    assert job["cells"][1] == {
        "source": "assert f() == 1",
        "grade": True,
        "setup": False,
        "timeout": 0.7,
        "in_process": True,
        "grade_id": "t",
    }
    assert "'cells' is a required property" in problem(JOB, {"timeout": 3})
    assert "cells/0" in problem(JOB, {"cells": [{"source": 3}]})
    assert "cells/0" in problem(JOB, {"cells": [{"source": "1", "run_as": "root"}]})  # no field of its own
    assert "timeout" in problem(JOB, {"cells": [], "timeout": -1})
    assert "limits" in problem(JOB, {"cells": [], "limits": {"memory_mib": "all"}})
    assert problem(EXPANSION, {"notebook": "{}", "autotests": None}) is None
    assert problem(EXPANSION, {"notebook": {"cells": []}})


def test_exchange_bodies_are_checked_against_their_schemas():
    from studio_wire.exchange import FEEDBACK, RELEASE, SOURCE, SUBMISSION, SUBMITTED, problem

    files = {"files": {"ps1.ipynb": "e30="}}
    for schema in (RELEASE, SUBMISSION, FEEDBACK, SOURCE):
        assert problem(schema, files) is None
        assert "'files' is a required property" in problem(schema, {})
        assert "files/ps1.ipynb" in problem(schema, {"files": {"ps1.ipynb": 1}})
    assert problem(RELEASE, {**files, "duedate": "2030-01-01T00:00:00+00:00", "force": True}) is None
    assert problem(RELEASE, {**files, "force": "yes"})
    assert problem(SUBMISSION, {**files, "force": True})  # a learner's submission replaces nothing
    notice = {"course_id": "c", "assignment_id": "a", "student_id": "s", "id": "1"}
    assert problem(SUBMITTED, notice) is None
    assert problem(SUBMITTED, {**notice, "id": 1})
    assert problem(SUBMITTED, {k: v for k, v in notice.items() if k != "student_id"})
