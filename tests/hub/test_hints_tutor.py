"""The tutor on real novice mistakes, across the course's exercises: each hint names the actual problem and shows
nothing of the solution.

Every program runs for real in an IPython shell as in a learner's kernel: the answer cell, then the exercise's
visible tests, so the error, its traceback (colours and all) and what the failing assertion's left side gave
are what the learner's server would send.
"""

from __future__ import annotations

import ast

import pytest
from IPython.core.interactiveshell import InteractiveShell

from studio_hub.hints import tutor
from studio_hub.hints.exercises import ExerciseIndex
from studio_hub.hints.guard import Guard
from tests.conftest import COURSE_CONTENT

INDEX = ExerciseIndex(COURSE_CONTENT)


def run_attempt(exercise, code: str, *, error: tuple[str, str] | None = None) -> tutor.Attempt:
    """The answer cell and then the visible tests, in a fresh shell; what a learner's server would report."""
    shell = InteractiveShell()
    shown: list[list[str]] = []
    shell._showtraceback = lambda etype, evalue, stb: shown.append(stb)
    shell.InteractiveTB.set_mode("Context")  # ipykernel's default, colours included
    shell.run_cell("pass", store_history=True)
    answer = shell.run_cell(code, store_history=True)
    answer_count = shell.execution_count - 1
    failed = answer.error_before_exec or answer.error_in_exec
    test_source = ""
    if failed is None and not error:
        test = shell.run_cell(exercise.visible_tests, store_history=True)
        failed = test.error_before_exec or test.error_in_exec
        test_source = exercise.visible_tests if failed else ""
    attempt = tutor.Attempt(code=code, answer_count=answer_count, test_source=test_source)
    if error:  # what the kernel says of a run the learner had to interrupt
        attempt.ename, attempt.evalue = error
        attempt.traceback = [f"Cell In[{answer_count + 1}], line 1", f"Cell In[{answer_count}], line 3"]
    elif failed is not None:
        attempt.ename, attempt.evalue = type(failed).__name__, str(failed)
        attempt.traceback = shown[-1] if shown else []
        line = tutor.failing_assertion(attempt) if attempt.ename == "AssertionError" else ""
        if line:  # as the learner's server asks the kernel: the failing assertion's left side
            left = ast.parse(line).body[0].test
            if isinstance(left, ast.Compare):
                try:
                    attempt.got = repr(shell.ev(ast.unparse(left.left)))
                except Exception:  # noqa: BLE001
                    attempt.got = None
    shell.clear_instance()
    return attempt


def ex(assignment: str, grade_id: str):
    found = INDEX.find("intro-python", assignment, grade_id)
    assert found is not None, (assignment, grade_id)
    return found


P1, P2, P3, P4 = "ps01-values-and-names", "ps02-functions", "ps03-conditionals", "ps04-loops"
P5, P6, P7, P8 = "ps05-lists-and-dicts", "ps06-strings", "ps07-files-and-errors", "ps08-classes"

# (exercise, the student's answer cell, the first finding's kind, words the hint (rung 2) must contain)
CASES = [
    (
        (P1, "ex1-answer"),
        "def celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n",
        "print-not-return",
        ["prints", "return", "line 2"],
    ),
    (
        (P1, "ex1-answer"),
        "def celsius_to_fahrenheit(c):\n    f = c * 9 / 5 + 32\n",
        "no-return",
        ["never returns", "None"],
    ),
    (
        (P1, "ex1-answer"),
        "def celsius_to_fahrenheit(c):\n    return 37 * 9 / 5 + 32\n",
        "unused-parameter",
        ["never uses its parameter `c`"],
    ),
    (
        (P1, "ex1-answer"),
        "def celsius_to_farenheit(c):\n    return c * 9 / 5 + 32\n",
        "missing-function",
        ["does not define `celsius_to_fahrenheit`", "rename it"],
    ),
    ((P1, "ex1-answer"), "def celsius_to_fahrenheit(c)\n    return c * 9 / 5 + 32\n", "syntax", ["line 1", "colon"]),
    (
        (P1, "ex1-answer"),
        "def celsius_to_fahrenheit(c):\n    return c * 9 / 5 + '32'\n",
        "error",
        ["TypeError", "`float` and a `str`", "line 2"],
    ),
    (
        (P1, "ex2-answer"),
        "def seconds_to_hms(total):\n    return total // 3600, total // 60, total % 60\n",
        "assertion",
        ["seconds_to_hms(3661)", "expects `(1, 1, 1)`", "gave `(1, 61, 1)`"],
    ),
    (
        (P1, "ex2-answer"),
        "def seconds_to_hms(total):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n",
        "placeholder",
        ["NotImplementedError", "Delete that line"],
    ),
    (
        (P2, "ex1-answer"),
        "def area_of_circle(r):\n    return math.pi * r**2\n",
        "error",
        ["NameError", "`math`", "line 2"],
    ),
    (
        (P2, "ex1-answer"),
        "import math\n\ndef area_of_circle(r):\n    return math.pi * r ^ 2\n",
        "error",
        ["TypeError", "line 4"],
    ),
    ((P2, "ex2-answer"), "def apply_twice(f, x):\n    return f(x)\n", "assertion", ["expects `7`", "gave `4`"]),
    (
        (P3, "ex1-answer"),
        "def grade_letter(score):\n    if score > 90:\n        return 'A'\n    elif score > 80:\n"
        "        return 'B'\n    elif score > 70:\n        return 'C'\n    elif score > 60:\n"
        "        return 'D'\n    return 'F'\n",
        None,
        ["passes the visible tests", "edge cases"],
    ),
    (
        (P3, "ex1-answer"),
        "def grade_letter(score):\n    if score = 90:\n        return 'A'\n",
        "syntax",
        ["line 2", "`==`"],
    ),
    (
        (P3, "ex1-answer"),
        "def grade_letter(score):\n    return 'F'\n    if score >= 90:\n        return 'A'\n",
        "unreachable",
        ["Line 3 can never run", "`return` on line 2"],
    ),
    (
        (P3, "ex2-answer"),
        "def is_leap_year(year):\n    if year % 4 == 0:\n        return 'yes'\n    return 'no'\n",
        "assertion",
        ["expects `True`", "gave `'yes'`", "type"],
    ),
    (
        (P4, "ex1-answer"),
        "def factorial(n):\n    result = 1\n    for k in range(2, n):\n        result *= k\n    return result\n",
        "off-by-one",
        ["`range(2, n)`", "stops before `n`"],
    ),
    (
        (P4, "ex1-answer"),
        "def factorial(n):\n    result = 1\n    while n > 1:\n        result *= n\n    return result\n",
        "error",
        ["never ends", "condition"],
    ),
    (
        (P4, "ex2-answer"),
        "def fizzbuzz(n):\n    out = []\n    for i in range(1, n + 1):\n        if i % 3 == 0:\n"
        "            out.append('Fizz')\n        elif i % 5 == 0:\n            out.append('Buzz')\n"
        "        else:\n            out.append(i)\n    return out\n",
        "assertion",
        ["fizzbuzz(5)", "gave `[1, 2, 'Fizz', 4, 'Buzz']`"],
    ),
    (
        (P5, "ex1-answer"),
        "def word_counts(words):\n    counts = {}\n    for word in words:\n        counts[word] += 1\n"
        "    return counts\n",
        "error",
        ["KeyError", "'a'", "line 4"],
    ),
    (
        (P5, "ex2-answer"),
        "def second_largest(numbers):\n    for n in numbers:\n        if numbers.count(n) > 1:\n"
        "            numbers.remove(n)\n    numbers.sort()\n    return numbers[-2]\n",
        "mutating-while-iterating",
        ["changes `numbers` while the loop", "Line 4"],
    ),
    (
        (P5, "ex2-answer"),
        "def second_largest(numbers):\n    list = sorted(set(numbers))\n    return list[-2]\n",
        "shadowed-builtin",
        ["`list`", "built-in"],
    ),
    (
        (P5, "ex2-answer"),
        "def second_largest(numbers):\n    distinct = sorted(set(numbers))\n    return distinct[len(distinct)]\n",
        "error",
        ["IndexError", "does not exist", "line 3"],
    ),
    (
        (P6, "ex1-answer"),
        "def is_palindrome(text):\n    return text == text[::-1]\n",
        "assertion",
        ['is_palindrome("Racecar")', "gave `False`"],
    ),
    (
        (P6, "ex2-answer"),
        "def caesar(text, shift):\n    out = ''\n    for ch in text:\n"
        "        out = out + ord(ch) + shift\n    return out\n",
        "error",
        ["can only concatenate", "str(...)", "line 4"],
    ),
    (
        (P7, "ex1-answer"),
        "def safe_divide(a, b):\n    return a / b\n    if b == 0:\n        return None\n",
        "unreachable",
        ["Line 3 can never run"],
    ),
    (
        (P8, "ex1-answer"),
        "class BankAccount:\n    def __init__(self, owner, balance=0):\n        owner = owner\n"
        "        balance = balance\n\n    def deposit(self, amount):\n"
        "        self.balance += amount\n\n    def withdraw(self, amount):\n"
        "        self.balance -= amount\n",
        "error",
        ["AttributeError", "`.balance`", "line 7"],
    ),
    (
        (P8, "ex2-answer"),
        "import math\n\nclass Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n\n"
        "    def distance_to(other):\n        return math.hypot(other.x, other.y)\n\n"
        "    def __repr__(self):\n        return f'Point({self.x}, {self.y})'\n",
        "error",
        ["takes 1 positional argument but 2 were given", "`self`"],
    ),
]
INTERRUPTED = {16: ("KeyboardInterrupt", "")}  # an endless loop: the learner interrupts the kernel


def test_the_table_is_real_and_large_enough():
    assert len(CASES) >= 20
    assert len({(e, g) for (e, g), *_ in CASES}) >= 14, "across the course's exercises"


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{e[0][:4]}-{e[1]}-{k}" for e, _, k, _ in CASES])
def test_tutor_names_the_actual_problem_and_shows_no_solution(i):
    (assignment, grade_id), code, kind, words = CASES[i]
    exercise = ex(assignment, grade_id)
    attempt = run_attempt(exercise, code, error=INTERRUPTED.get(i))
    found = tutor.findings(attempt, exercise.solution)
    assert (found[0].kind if found else None) == kind, [f.kind for f in found]
    first, second = tutor.hint(attempt, exercise.solution, 1), tutor.hint(attempt, exercise.solution, 2)
    assert first and second.startswith(first) and len(second) > len(first)
    for word in words:
        assert word in second, f"{word!r} not in: {second}"
    assert len(second.split()) <= 160, "short: a nudge, not an essay"
    # Nothing of the solution: no line of it the student has not written, and the guard lets it through.
    own = {x.strip() for x in code.splitlines()} | {x.strip() for x in exercise.starter.splitlines()}
    for line in exercise.solution.splitlines():
        if len(line.strip()) > 12 and line.strip() not in own:
            assert line.strip() not in second, line
    seen = [code, exercise.task, exercise.visible_tests, exercise.starter]
    verdict = Guard().check(second, solution=exercise.solution, starter=exercise.starter, seen=seen)
    assert verdict.ok, (verdict, second)
