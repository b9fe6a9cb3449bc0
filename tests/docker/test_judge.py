"""Test cells judged outside the student's interpreter (issue 16; the worker's judge mode, not yet the default):
each test cell runs in a judge process of its own uid in the same gVisor sandbox, and what it touches of the
student's work crosses as plain data or as proxies (``studio_sandbox.crossing``). One-cell cheats that fool a test
run in the student's interpreter fail here; honest work passes."""

from __future__ import annotations

import json

import pytest

from tests.docker.test_grading_sandbox import errors, text

pytestmark = pytest.mark.docker


def judged(pool, *cells: str, grade: tuple[int, ...], timeout: float = 5, setup: tuple[int, ...] = ()) -> dict:
    job = {
        "id": "t",
        "timeout": timeout,
        "job_timeout": 60,
        "judge": True,
        "limits": {"memory_mib": 256, "processes": 8},
        "cells": [{"source": src, "grade": i in grade, "setup": i in setup} for i, src in enumerate(cells)],
    }
    return pool.run(job, timeout=120)


def verdicts(result: dict, grade: tuple[int, ...]) -> list[bool]:
    """Each test cell: passed (no error output)."""
    return [not errors(result["cells"][i]) for i in grade]


HONEST = [
    "def to_f(c):\n    return c * 9 / 5 + 32",
    "def add_one(xs):\n    xs.append(1)",
    "class Stack:\n    def __init__(self):\n        self.items = []\n"
    "    def push(self, x):\n        self.items.append(x)\n"
    "    def __len__(self):\n        return len(self.items)",
    "def check(x):\n    if x < 0:\n        raise ValueError('negative')\n    print('checked', x)\n    return x",
    "import math\ndef hyp(a, b):\n    return math.sqrt(a * a + b * b)",
]
TESTS = [
    "assert to_f(0) == 32 and to_f(100) == 212 and abs(to_f(37) - 98.6) < 1e-9",
    "xs = [0]\nadd_one(xs)\nassert xs == [0, 1]",
    "s = Stack()\ns.push(1)\ns.push(2)\nassert len(s) == 2 and s.items == [1, 2]",
    "try:\n    check(-1)\n    raise AssertionError('no error')\n"
    "except ValueError as e:\n    assert str(e) == 'negative'\n"
    "assert check(3) == 3",
    "assert math.isclose(hyp(3, 4), 5.0) and isinstance(hyp(1, 1), float)",
    "import contextlib, io\nbuffer = io.StringIO()\nwith contextlib.redirect_stdout(buffer):\n"
    "    assert check(4) == 4\nassert buffer.getvalue() == 'checked 4\\n'",
]


def test_honest_work_passes_every_test_and_what_it_printed_is_the_tests_to_read(pool):
    grade = tuple(range(len(HONEST), len(HONEST) + len(TESTS)))
    r = judged(pool, *HONEST, *TESTS, grade=grade)
    assert r["status"] == "ok", r
    assert verdicts(r, grade) == [True] * len(TESTS), [r["cells"][i]["outputs"] for i in grade]
    # Printed by the student's code during the test: the last test captures it and reads it; the cell does not show
    # it (feedback shows only the trusted side's words), a note says how much there was.
    assert "printed 10 characters" in text(r["cells"][len(HONEST) + 3]) and "checked" not in text(r["cells"][-2])


# Each cheat: the student's cell, and a test it would pass in the student's own interpreter without solving it.
CHEATS = {
    "always-equal": (
        "class Any:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
        "def to_f(c):\n    return Any()",
        "assert to_f(0) == 32",
    ),
    "int-that-lies": (
        "class Lie(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
        "def to_f(c):\n    return Lie(0)",
        "assert to_f(0) == 32",
    ),
    "str-that-lies": (
        "class S(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n"
        "def greet(n):\n    return S('')",
        "assert greet('Ann') == 'Hello, Ann!'",
    ),
    "patched-builtins": (
        "import builtins\nbuiltins.abs = lambda x: 0\ndef to_f(c):\n    return 0",
        "assert abs(to_f(37) - 98.6) < 1e-9",
    ),
    "swallowed-failures": (
        "ip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        "ip.showtraceback = lambda *a, **k: None\ndef to_f(c):\n    return 0",
        "assert to_f(0) == 32",
    ),
    "assert-off": (
        "import builtins\nbuiltins.AssertionError = type('AE', (Exception,), {})\ndef to_f(c):\n    return 0",
        "assert to_f(0) == 32",
    ),
    "len-that-lies": (
        "class L(list):\n    def __len__(self):\n        return 2\ndef items():\n    return L()",
        "assert len(items()) == 2",
    ),
    "truthy-object": (
        "class T:\n    def __bool__(self):\n        return True\ndef is_even(n):\n    return T()",
        "assert is_even(3) is True or is_even(3) == True",
    ),
    "exits-during-test": ("import os\ndef to_f(c):\n    os._exit(0)", "assert to_f(0) == 32"),
    "loops-during-test": ("def to_f(c):\n    while True:\n        pass", "assert to_f(0) == 32"),
    "raises-system-exit": ("def to_f(c):\n    raise SystemExit(0)", "assert to_f(0) == 32"),
    # A module of the test's shadowed by a file in the working folder (where the judge works too).
    "shadows-a-module": (
        "open('math.py', 'w').write('def isclose(*a, **k):\\n    return True\\n')\ndef hyp(a, b):\n    return 0",
        "import math\nassert math.isclose(hyp(3, 4), 5.0)",
    ),
    "kills-every-process": ("import os, signal\ndef to_f(c):\n    os.kill(-1, signal.SIGKILL)", "assert to_f(0) == 32"),
    "nests-too-deep": (
        "def to_f(c):\n    x = 32\n    for _ in range(10000):\n        x = [x]\n    return x",
        "assert to_f(0) == 32",
    ),
    "answers-too-much": ("def to_f(c):\n    return 'x' * (40 * 2**20)", "assert to_f(0) == 32"),
    "claims-a-class": (
        "class F:\n    __class__ = property(lambda self: int)\n"
        "    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
        "def to_f(c):\n    return F()",
        "assert to_f(0) == 32",
    ),
    "floods-the-output": (
        "def to_f(c):\n    for _ in range(200):\n        print('x' * 100_000)\n    return 0",
        "assert to_f(0) == 32",
    ),
    "forges-the-judges-answers": (  # a child holding the process's end of the judge's socket answers first
        "import json, os, socket\n"
        "def to_f(c):\n    return 0\n"
        "if os.fork() == 0:\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            s = socket.socket(fileno=os.dup(fd))\n"
        "            for rid in range(1, 40):\n"
        "                s.sendall(json.dumps({'rid': rid, 'value': 32}).encode() + b'\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    os._exit(0)\n",
        "assert to_f(0) == 32 and to_f(100) == 212",
    ),
}


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_one_cell_cheats_fail_their_test(pool, cheat):
    student, test = CHEATS[cheat]
    r = judged(pool, student, test + "\n# HIDDEN-SOURCE-3", "assert True", grade=(1, 2), timeout=3)
    assert not verdicts(r, (1,))[0], (cheat, r["cells"][1]["outputs"])
    # Nothing of the test's source in anything but the test's own error (its failing line, written by the judge).
    shown = [o for cell in r["cells"] for o in cell["outputs"] if o["output_type"] != "error"]
    assert "HIDDEN-SOURCE" not in json.dumps([shown, r["cells"][0]]), cheat
    if r["status"] == "ok":  # the student's process lives on: the next test runs, and passes
        assert verdicts(r, (2,)) == [True], (cheat, r["cells"][2])


def test_the_tests_source_never_reaches_the_students_process(pool):
    """Student code, running during the test (called by it), looks for the test's source in its own process:
    frames, every object the garbage collector knows, its own memory's strings. Nothing."""
    student = (
        "import gc, inspect, sys\n"
        "def to_f(c):\n"
        "    needle = 'HIDDEN-' + 'MARKER-7'\n"
        "    found = [f.filename for f in inspect.stack() if needle in (''.join(f.code_context or []))]\n"
        "    found += ['gc' for o in gc.get_objects() if isinstance(o, str) and needle in o and o is not needle]\n"
        "    FOUND.extend(found)\n"
        "    return c * 9 / 5 + 32\n"
        "FOUND = []\n"
    )
    r = judged(pool, student, "assert to_f(0) == 32  # HIDDEN-MARKER-7", "print('found', len(FOUND))", grade=(1,))
    assert verdicts(r, (1,)) == [True] and text(r["cells"][2]) == "found 0\n", r["cells"]


def test_a_rebound_import_of_the_instructors_setup_is_not_the_tests(pool):
    """The instructor's read-only setup cell imports math; the student rebinds ``math`` to a class whose isclose
    says yes. The test's ``math`` is the judge's own import of the setup cell's."""
    setup = "import math"
    student = "class math:\n    isclose = staticmethod(lambda *a, **k: True)\ndef hyp(a, b):\n    return 0"
    r = judged(pool, setup, student, "assert math.isclose(hyp(3, 4), 5.0)", grade=(2,), setup=(0,))
    assert verdicts(r, (2,)) == [False], r["cells"][2]
    honest = "def hyp(a, b):\n    return math.sqrt(a * a + b * b)"
    r = judged(pool, setup, honest, "assert math.isclose(hyp(3, 4), 5.0)", grade=(2,), setup=(0,))
    assert verdicts(r, (2,)) == [True], r["cells"][2]


FEEDBACK_CHEATS = {
    "its-exception-speaks": "def to_f(c):\n    raise ValueError('CANARY: all tests passed, 10/10')",
    "its-exception-class-speaks": "class CANARY_all_tests_passed(Exception):\n    pass\n"
    "def to_f(c):\n    raise CANARY_all_tests_passed('CANARY')",
    "it-prints": "def to_f(c):\n    print('CANARY: all tests passed, 10/10')\n    return 0",
    "python-quotes-it": "def to_f(c):\n    return 'CANARY: all tests passed'",  # the test's int() quotes it
    "its-repr-speaks": "class R:\n    def __repr__(self):\n        return 'CANARY'\ndef to_f(c):\n    return R()",
}


@pytest.mark.parametrize("cheat", sorted(FEEDBACK_CHEATS))
def test_a_failed_tests_output_carries_no_text_of_the_students(pool, cheat):
    """Item 2: what a failed test shows (formgrader, feedback) is the trusted side's; the test's own message is."""
    test = "assert int(to_f(0)) == 32, 'to_f(0) should be 32'"
    r = judged(pool, FEEDBACK_CHEATS[cheat], test, grade=(1,))
    (cell,) = [r["cells"][1]]
    assert errors(cell), cell
    assert "CANARY" not in json.dumps(cell["outputs"]), (cheat, cell["outputs"])
    shown = [o for o in cell["outputs"] if o["output_type"] == "error"][0]
    assert shown["traceback"][1].strip().startswith("Cell In[") and "int(to_f(0))" in shown["traceback"][1]


def test_the_tests_own_message_is_shown(pool):
    r = judged(pool, "def to_f(c):\n    return 0", "assert to_f(0) == 32, 'to_f(0) should be 32'", grade=(1,))
    shown = [o for o in r["cells"][1]["outputs"] if o["output_type"] == "error"][0]
    assert (shown["ename"], shown["evalue"]) == ("AssertionError", "to_f(0) should be 32")


def test_the_process_tree_holds_no_test_source_for_the_students_code(pool):
    """During the test, the student's code searches every process it can see (command lines, environments, memory,
    open files), every file under /tmp and the judge's home, and tries to trace or stop the judge; a later cell of
    the student's prints what it found. Nothing, and the judge goes on to judge the next test."""
    student = (
        "import ctypes, os, signal, glob\n"
        "found = []\n"
        "def to_f(c):\n"
        "    needle = b'HIDDEN-' + b'MARKER-9'\n"
        "    for pid in [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
        "        for part in ('cmdline', 'environ', 'maps', 'stack'):\n"
        "            try:\n"
        "                if needle in open(f'/proc/{pid}/{part}', 'rb').read():\n"
        "                    found.append(f'{pid}/{part}')\n"
        "            except OSError:\n"
        "                pass\n"
        "        try:\n"
        "            with open(f'/proc/{pid}/mem', 'rb') as mem:\n"
        "                found.append(f'{pid}/mem opened')\n"
        "        except OSError:\n"
        "            pass\n"
        "        for fd in glob.glob(f'/proc/{pid}/fd/*'):\n"
        "            try:\n"
        "                if needle in open(fd, 'rb').read(1 << 20):\n"
        "                    found.append(fd)\n"
        "            except OSError:\n"
        "                pass\n"
        "        libc = ctypes.CDLL(None, use_errno=True)\n"
        "        if libc.ptrace(16, int(pid), 0, 0) == 0:\n"  # PTRACE_ATTACH
        "            found.append(f'{pid} traced')\n"
        "        try:\n"
        "            os.kill(int(pid), signal.SIGSTOP)\n"
        "            found.append(f'{pid} stopped')\n"
        "        except OSError:\n"
        "            pass\n"
        "    for path in glob.glob('/tmp/**', recursive=True):\n"
        "        try:\n"
        "            if needle in open(path, 'rb').read(1 << 20):\n"
        "                found.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return c * 9 / 5 + 32\n"
    )
    r = judged(
        pool, student, "assert to_f(0) == 32  # HIDDEN-MARKER-9", "print('found', found)", "assert True", grade=(1, 3)
    )
    assert verdicts(r, (1, 3)) == [True, True], r["cells"]
    assert text(r["cells"][2]) == "found []\n", r["cells"][2]
    assert "MARKER-9" not in json.dumps([r["cells"][0], r["cells"][2]])
