"""Test cells judged outside the student's interpreter (issue 16; the worker's judge mode, not yet the default):
each test cell runs in a judge process of its own uid in the same gVisor sandbox, and what it touches of the
student's work crosses as plain data or as proxies (``studio_grader.crossing``). One-cell cheats that fool a test
run in the student's interpreter fail here; honest work passes."""

from __future__ import annotations

import pytest

from tests.docker.test_grading_sandbox import errors, text

pytestmark = pytest.mark.docker


def judged(pool, *cells: str, grade: tuple[int, ...], timeout: float = 5) -> dict:
    job = {"id": "t", "timeout": timeout, "job_timeout": 60, "judge": True,
           "limits": {"memory_mib": 256, "processes": 8},
           "cells": [{"source": src, "grade": i in grade} for i, src in enumerate(cells)]}  # fmt: skip
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
]


def test_honest_work_passes_every_test_and_what_it_printed_is_kept(pool):
    grade = tuple(range(len(HONEST), len(HONEST) + len(TESTS)))
    r = judged(pool, *HONEST, *TESTS, grade=grade)
    assert r["status"] == "ok", r
    assert verdicts(r, grade) == [True] * len(TESTS), [r["cells"][i]["outputs"] for i in grade]
    assert text(r["cells"][len(HONEST) + 3]) == "checked 3\n"  # printed by the student's code, during the test


# Each cheat: the student's cell, and a test it would pass in the student's own interpreter without solving it.
CHEATS = {
    "always-equal": ("class Any:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
                     "def to_f(c):\n    return Any()", "assert to_f(0) == 32"),
    "int-that-lies": ("class Lie(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
                      "def to_f(c):\n    return Lie(0)", "assert to_f(0) == 32"),
    "str-that-lies": ("class S(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n"
                      "def greet(n):\n    return S('')", "assert greet('Ann') == 'Hello, Ann!'"),
    "patched-builtins": ("import builtins\nbuiltins.abs = lambda x: 0\ndef to_f(c):\n    return 0",
                         "assert abs(to_f(37) - 98.6) < 1e-9"),
    "swallowed-failures": ("ip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                           "ip.showtraceback = lambda *a, **k: None\ndef to_f(c):\n    return 0",
                           "assert to_f(0) == 32"),
    "assert-off": ("import builtins\nbuiltins.AssertionError = type('AE', (Exception,), {})\n"
                   "def to_f(c):\n    return 0", "assert to_f(0) == 32"),
    "len-that-lies": ("class L(list):\n    def __len__(self):\n        return 2\ndef items():\n    return L()",
                      "assert len(items()) == 2"),
    "truthy-object": ("class T:\n    def __bool__(self):\n        return True\ndef is_even(n):\n    return T()",
                      "assert is_even(3) is True or is_even(3) == True"),
    "exits-during-test": ("import os\ndef to_f(c):\n    os._exit(0)", "assert to_f(0) == 32"),
    "loops-during-test": ("def to_f(c):\n    while True:\n        pass", "assert to_f(0) == 32"),
    "raises-system-exit": ("def to_f(c):\n    raise SystemExit(0)", "assert to_f(0) == 32"),
}  # fmt: skip


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_one_cell_cheats_fail_their_test(pool, cheat):
    student, test = CHEATS[cheat]
    r = judged(pool, student, test, "assert True", grade=(1, 2), timeout=3)
    assert not verdicts(r, (1,))[0], (cheat, r["cells"][1]["outputs"])
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
        "    print('found', len(found))\n"
        "    return c * 9 / 5 + 32\n"
    )
    r = judged(pool, student, "assert to_f(0) == 32  # HIDDEN-MARKER-7", grade=(1,))
    assert verdicts(r, (1,)) == [True] and text(r["cells"][1]) == "found 0\n", r["cells"][1]
