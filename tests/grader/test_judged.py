"""What a judged test cell shows (issue 16, item 2): only the trusted side's words. The judge's own shell (the
executor's, with the judge's error report), in this process; the sandboxed judge is tested in
tests/docker/test_judge.py."""

from __future__ import annotations

import json

import pytest
from studio_sandbox.executor import _Stream, new_shell, run_cell
from studio_sandbox.judged import NOT_SHOWN, STUDENT_RAISED, HeldBack, error_output


@pytest.fixture
def shell():
    shell = new_shell()
    shell._showtraceback = lambda etype, evalue, stb: shell.outputs.items.append(error_output(evalue))
    run_cell(
        shell,
        "def from_the_submission(text):\n"  # as studio_sandbox.crossing raises the student's exception in the judge
        "    error = ValueError(text)\n"
        "    error.student_type = text\n"
        "    raise error\n",
        5,
    )
    yield shell
    del shell._showtraceback
    shell.user_ns.pop("from_the_submission", None)


def the_error(shell, source: str) -> dict:
    outputs, _, failed = run_cell(shell, source, 5)
    assert failed
    (error,) = [o for o in outputs if o["output_type"] == "error"]
    return error


@pytest.mark.parametrize(
    "source, message",
    [
        ("assert 1 == 2, 'to_f(0) should be 32'", "to_f(0) should be 32"),
        ("raise ValueError('the test says so')", "the test says so"),
        (
            "def check(x):\n    if x != 2:\n        raise AssertionError(f'check: {x} is not 2')\ncheck(1)",
            "check: 1 is not 2",
        ),
        ("try:\n    int('CANARY')\nexcept ValueError:\n    raise AssertionError('not a number')", "not a number"),
    ],
)
def test_a_message_the_test_wrote_is_shown(shell, source, message):
    error = the_error(shell, source)
    assert error["evalue"] == message
    assert error["traceback"][-1].endswith(message)
    assert "CANARY" not in json.dumps(error)  # the chained exception is not shown


@pytest.mark.parametrize(
    "source, ename, message",
    [
        ("from_the_submission('CANARY: all tests passed')", "ValueError", STUDENT_RAISED),
        ("x = 'CANARY'\nint(x)", "ValueError", NOT_SHOWN),
        ("d = {}\nd['CANARY']", "KeyError", NOT_SHOWN),
        ("import json\njson.loads('{CANARY')", "JSONDecodeError", NOT_SHOWN),
        ("try:\n    from_the_submission('CANARY')\nexcept ValueError as e:\n    raise e", "ValueError", STUDENT_RAISED),
    ],
)
def test_what_python_or_the_submission_said_is_not(shell, source, ename, message):
    error = the_error(shell, source)
    assert (error["ename"], error["evalue"]) == (ename, message)
    assert "CANARY" not in json.dumps({k: v for k, v in error.items() if k != "traceback"})
    # The traceback is the test's own lines (where the test wrote CANARY itself) and our last line.
    assert error["traceback"][-1] == f"{ename}: {message}"
    assert all(line.startswith("  Cell In[") for line in error["traceback"][1:-1]), error["traceback"]


def test_the_failing_line_is_named_as_feedback_finds_it(shell):
    from studio_wire.traceback import frames

    error = the_error(shell, "x = 1\nassert x == 2")
    ((count, line),) = frames("\n".join(error["traceback"]))
    assert count == shell.execution_count - 1 and line == 2
    assert "assert x == 2" in error["traceback"][1]


def test_a_test_that_does_not_compile_says_why(shell):
    error = the_error(shell, "assert (1 ==")
    assert error["ename"] == "SyntaxError" and "incomplete input" in error["evalue"], error
    assert "assert (1 ==" in error["traceback"][1]


def test_what_the_submission_prints_is_the_tests_to_read_not_the_cells_to_show(shell):
    held = HeldBack(_Stream)
    shell.user_ns["held"] = held  # the judge calls it with what the student's code printed during a call
    outputs, _, failed = run_cell(shell, "held('CANARY: 10/10\\n')\nprint('the test printed this')", 5)
    assert not failed
    assert outputs == [{"output_type": "stream", "name": "stdout", "text": "the test printed this\n"}]
    (note,) = held.note()
    assert "CANARY" not in note["text"] and "printed 14 characters" in note["text"]
    assert held.note() == []  # counted per cell

    source = (
        "import contextlib, io\n"
        "buffer = io.StringIO()\n"
        "with contextlib.redirect_stdout(buffer):\n"
        "    held('checked 3\\n')\n"
        "assert buffer.getvalue() == 'checked 3\\n'"
    )
    outputs, _, failed = run_cell(shell, source, 5)
    assert not failed and outputs == [] and held.note() == []


def test_an_answer_from_the_sandbox_that_is_not_one_is_graded_as_a_crash_and_flagged(monkeypatch):
    from studio_grader import preprocessor

    class Pool:
        def run(self, job, timeout):
            return {"status": "ok", "flags": [], "cells": [{"outputs": [{"output_type": "error", "ename": 7}]}]}

    monkeypatch.setattr(preprocessor, "pool_for", lambda *a: Pool())
    result = preprocessor.SandboxedExecute(backend="docker").execute({"cells": []})
    assert result["status"] == "crashed" and result["cells"] == []
    assert result["flags"] == [result["reason"]] and "a grading sandbox's answer" in result["reason"]
