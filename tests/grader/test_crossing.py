"""The wire between a submission's process and the judge's (studio_sandbox.crossing): a real second process holds
the student's objects; this one judges, and nothing of the student's runs here."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time

import pytest
from studio_sandbox import crossing
from studio_sandbox.crossing import CrossingError, Judge, Proxy

STUDENT = textwrap.dedent("""
    class AlwaysEqual:
        def __eq__(self, other):
            return True
        __hash__ = object.__hash__
        def __bool__(self):
            return True

    class Liar(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__

    class Strange(ValueError):
        pass

    class Stack:
        def __init__(self, *items):
            self.items = list(items)
        def push(self, x):
            self.items.append(x)
        def __len__(self):
            return len(self.items)
        def __iter__(self):
            return iter(self.items)

    def celsius_to_fahrenheit(c):
        return AlwaysEqual()

    def liar():
        return Liar(0)

    def values():
        return [None, True, 3, 2.5, 1 + 2j, "s", b"b", (1, 2), {1, 2}, frozenset({3}), {"k": [1]}, {(1, 2): "t"}]

    def add_one(xs, d=None):
        xs.append(1)
        if d is not None:
            d["seen"] = True
        return None

    def fail(message):
        raise Strange(message)

    def noisy(x):
        print("the student printed", x)
        return x * 2

    def exits():
        raise SystemExit(0)

    def loops():
        while True:
            pass

    def same(x):
        return x

    TABLE = {"a": 1}

    def apply_twice(f, x):
        return f(f(x))

    def squares(n):
        return [i * i for i in range(1, n + 1)]

    def sum_of_squares(n):
        return sum(squares(n))

    import math
    import types
    from math import isclose

    def fake_isclose(a, b):
        return True
    fake_isclose.__module__, fake_isclose.__qualname__ = "math", "isclose"
    homemade = types.ModuleType("studentmod")
""")


@pytest.fixture
def judge():
    """The student's code run in a child process (the holder); the judge's end here."""
    mine, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the student's process
        mine.close()
        try:
            namespace: dict = {}
            exec(STUDENT, namespace)
            crossing.serve(theirs, crossing.Holder(namespace), time.monotonic() + 60, per_request=2)
        finally:
            os._exit(0)
    theirs.close()
    yield Judge(mine, timeout=10)
    mine.close()
    os.waitpid(pid, 0)


def test_plain_data_crosses_as_the_judges_own_objects(judge):
    got = judge.get("values")()
    assert got == [None, True, 3, 2.5, 1 + 2j, "s", b"b", (1, 2), {1, 2}, frozenset({3}), {"k": [1]}, {(1, 2): "t"}]
    assert [type(x) for x in got] == [
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        tuple,
        set,
        frozenset,
        dict,
        dict,
    ]
    assert judge.get("TABLE") == {"a": 1} and type(judge.get("TABLE")) is dict


def test_an_object_that_equals_everything_decides_nothing_here(judge):
    """The one-cell cheat on ``assert celsius_to_fahrenheit(0) == 32``: a proxy, equal to nothing but itself."""
    result = judge.get("celsius_to_fahrenheit")(0)
    assert isinstance(result, Proxy)
    assert not (result == 32) and not (32 == result) and result != 32 and 32 != result  # noqa: SIM201, SIM202, SIM300
    assert result in [result] and result not in [32, "32", None]
    # A subclass of int crosses as its value: its own __eq__ stays behind.
    lie = judge.get("liar")()
    assert type(lie) is int and lie == 0 and lie != 32


def test_arguments_changed_in_place_come_back(judge):
    xs, seen = [0], {}
    assert judge.get("add_one")(xs, d=seen) is None
    assert xs == [0, 1] and seen == {"seen": True}


def test_the_students_exception_becomes_the_judges_own(judge):
    with pytest.raises(ValueError) as raised:
        judge.get("fail")("bad input")
    assert type(raised.value) is ValueError and raised.value.args == ("bad input",)
    assert raised.value.student_type == "Strange"
    with pytest.raises(NameError):
        judge.get("nowhere")
    # SystemExit is nothing the judge stops for: an ordinary exception here.
    with pytest.raises(Exception) as exited:
        judge.get("exits")()
    assert type(exited.value) is Exception and exited.value.student_type == "SystemExit"


def test_a_call_that_never_ends_is_stopped_and_the_holder_answers_on(judge):
    with pytest.raises(TimeoutError) as raised:
        judge.get("loops")()
    assert raised.value.student_type == "CellTimeoutError" and "time limit" in str(raised.value)
    assert judge.get("TABLE") == {"a": 1}


def test_what_the_student_prints_during_a_call_is_printed_here(judge, capsys):
    assert judge.get("noisy")(21) == 42
    assert capsys.readouterr().out == "the student printed 21\n"


def test_the_students_classes_as_proxies(judge):
    Stack = judge.get("Stack")
    stack = Stack(1, 2)
    stack.push(3)
    assert stack.items == [1, 2, 3] and len(stack) == 3 and list(stack) == [1, 2, 3]
    assert isinstance(stack, Stack) and not isinstance(3, Stack)
    stack.items = [9]
    assert stack.items == [9]
    assert judge.get("same")(stack) is not stack  # the same object of the student's, a new proxy here
    assert repr(stack).startswith("<Stack object at ")  # the student's own repr(), as text
    assert type(stack) is Proxy
    with pytest.raises(AttributeError):
        stack.__dict__  # noqa: B018 -- the judge's protocols never reach the student's object
    with pytest.raises(TypeError, match="plain data only"):
        judge.get("same")(object())


class _Replies:
    """A hostile holder: answers every request with the next of ``replies``."""

    def __init__(self, replies: list):
        self.mine, self.theirs = socket.socketpair()
        for rid, reply in enumerate(replies, 1):  # each answers the request of its number
            self.theirs.sendall(json.dumps({"rid": rid, **reply}).encode() + b"\n")

    def judge(self) -> Judge:
        judge = Judge(self.mine, timeout=2)
        judge.holder = self  # its end stays open as long as the judge's
        return judge


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],  # untagged
        {"$": "code", "v": "import os"},
        {"$": "ref", "id": "1", "kind": "object"},
        {"$": "ref", "id": 1, "kind": "module"},
        {"$": "ndarray", "dtype": "|O", "shape": [1], "v": ""},
    ],
)
def test_what_a_hostile_holder_sends_is_refused(value):
    with pytest.raises((CrossingError, ModuleNotFoundError)) as refused:
        _Replies([{"value": value}]).judge().get("x")
    assert "no answer" not in str(refused.value)


def test_a_late_answer_to_an_earlier_request_is_not_taken_for_the_next():
    holder = _Replies([{"value": "late"}])
    holder.theirs.sendall(json.dumps({"rid": 2, "value": "on time"}).encode() + b"\n")
    judge = holder.judge()
    judge.asked = 1  # request 1 was given up on
    assert judge.get("x") == "on time"


def test_a_hostile_holder_chooses_no_exception_class_of_its_own():
    judge = _Replies(
        [{"raised": {"type": "KeyboardInterrupt", "args": ["x"]}}, {"raised": {"type": "os.system", "args": []}}]
    ).judge()
    for _ in range(2):
        with pytest.raises(Exception) as raised:
            judge.get("x")
        assert type(raised.value) is Exception


def test_a_silent_holder_is_an_error_not_a_pass():
    holder = _Replies([])
    holder.theirs.close()
    with pytest.raises(CrossingError, match="no answer"):
        holder.judge().get("x")


def test_library_modules_and_functions_are_the_judges_own(judge):
    """``import math`` in the notebook: the test's ``math`` is the judge's import, never the student's object, even
    when the student's function claims to be ``math.isclose``; a module only the student has stays a proxy."""
    import math

    assert judge.get("math") is math and judge.get("isclose") is math.isclose
    assert judge.get("fake_isclose") is math.isclose
    assert isinstance(judge.get("homemade"), Proxy)


def test_the_names_a_test_asks_of_the_students_process():
    """What a test cell reads and does not define first: no built-ins, each once, in order; nothing for a cell
    that does not parse (running it reports that)."""
    from studio_sandbox.worker import free_names

    shell = type("Shell", (), {"transform_cell": staticmethod(lambda source: source)})()
    source = "import math\nxs = [0]\nassert to_f(0) == 32 and len(stack) == 2\nadd_one(xs)\nassert math.pi > 3"
    assert free_names(shell, source) == ["to_f", "stack", "add_one", "xs"]
    assert free_names(shell, "def t():\n    return helper(x)\nt()") == ["helper", "x"]
    # nbgrader's documentation course: the name is read, deleted, and assigned back
    assert free_names(shell, "orig = squares\ndel squares\nsquares = orig") == ["squares", "orig"]
    assert free_names(shell, "assert (") == []


def test_a_tests_functions_given_to_the_students_code_run_here(judge):
    """``apply_twice(lambda n: n + 3, 1)``: the lambda is the test's; the student's code calls it back here, with
    plain data, and gets plain data."""
    assert judge.get("apply_twice")(lambda n: n + 3, 1) == 7
    assert judge.get("apply_twice")(str.upper, "a") == "A"
    with pytest.raises(ZeroDivisionError):
        judge.get("apply_twice")(lambda n: 1 / 0, 1)


def test_a_test_rebinds_the_notebooks_names_there_too(judge):
    """nbgrader's documentation course: ``del squares``, then ``sum_of_squares(1)`` must raise NameError."""
    squares = judge.get("squares")
    judge.del_name("squares")
    with pytest.raises(NameError):
        judge.get("sum_of_squares")(1)
    judge.set_name("squares", squares)
    assert judge.get("sum_of_squares")(3) == 14


def test_a_test_cells_rebinding_of_the_notebooks_names_is_forwarded():
    import ast

    from studio_sandbox.worker import _Forward

    forward = _Forward()
    forward.names = {"squares"}
    source = (
        "orig = squares\ndel squares\ntry:\n    pass\nfinally:\n    squares = orig\ndef mock():\n    squares = None\n"
    )
    code = ast.unparse(forward.visit(ast.parse(source)))
    assert "del squares\n__studio_del__('squares')" in code
    assert "squares = orig\n    __studio_set__('squares', squares)" in code
    assert code.count("__studio_") == 2  # not inside another scope, not for other names
