"""The ``tutor`` provider's reasoning: what is actually wrong with this student's code, in a novice's words.

Grounded in the attempt, never generic: the exception the student got (explained, at their line), the visible
assertion that failed (what it expected, and what their code gave when the extension could tell), and mistakes
static analysis finds in their code (print instead of return, a parameter never used, a range one short, a list
changed while looped over, a built-in's name reused, code after ``return``). The solution is read only to know
which functions must return a value and which ranges reach their end; nothing of it is quoted.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from studio_wire.traceback import ANSI, frames

SHADOWABLE = {
    "list",
    "dict",
    "str",
    "int",
    "float",
    "set",
    "tuple",
    "sum",
    "max",
    "min",
    "len",
    "sorted",
    "input",
    "print",
    "type",
    "id",
    "range",
    "map",
    "filter",
    "any",
    "all",
    "abs",
    "round",
    "open",
    "iter",
    "next",
    "bool",
    "chr",
    "ord",
    "zip",
    "enumerate",
    "reversed",
    "pow",
    "format",
    "object",
    "bytes",
    "hash",
    "divmod",
    "slice",
}
MUTATORS = {"append", "remove", "pop", "insert", "clear", "extend", "popitem", "update", "discard", "add"}
TERMINAL = (ast.Return, ast.Raise, ast.Break, ast.Continue)


@dataclass
class Attempt:
    """What the learner's server sent about this try: the answer cell and how its latest run went."""

    code: str
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    answer_count: int | None = None  # the answer cell's execution count: its frames in the traceback
    test_source: str = ""  # the visible test cell that failed, as the student has it
    got: str | None = None  # what the failing assertion's left side was, if the learner's server could tell


@dataclass
class Finding:
    kind: str
    title: str  # rung 1: names the problem
    detail: str  # rung 2: where, and what to look at
    line: int | None = None


@dataclass
class Analysis:
    findings: list[Finding]
    tree: ast.Module | None


def _plain(lines: list[str]) -> list[str]:
    return [ANSI.sub("", x) for line in lines for x in str(line).splitlines()]


def _functions(tree: ast.AST | None) -> dict[str, ast.FunctionDef]:
    """Every function, methods as ``Class.method``."""
    found: dict[str, ast.FunctionDef] = {}
    if tree is None:
        return found
    for node in tree.body if isinstance(tree, ast.Module) else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{item.name}"] = item
    return found


def _classes(tree: ast.AST | None) -> set[str]:
    return {n.name for n in (tree.body if isinstance(tree, ast.Module) else []) if isinstance(n, ast.ClassDef)}


def _walk_own(func: ast.AST):
    """The nodes of a function's body, not those of functions or classes defined inside it."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _returns_value(func: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None and not _is_none(n.value) for n in _walk_own(func))


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _placeholder(func: ast.AST) -> bool:
    body = [n for n in func.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    return not body or all(isinstance(n, ast.Pass) or _raises_not_implemented(n) for n in body)


def _raises_not_implemented(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _name(node: ast.AST) -> str:
    return ast.unparse(node) if node is not None else ""


def _call_name(name: str) -> str:
    return name.split(".")[-1]


# --- static analysis --------------------------------------------------------------------------------------------


def analyse(code: str, solution: str) -> Analysis:
    """What the checks find in ``code``, the solution at hand: FUNCTION_CHECKS on each function the student wrote
    (beside the solution's of that name), CODE_CHECKS on the whole cell."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return Analysis([_syntax_finding(e, code)], None)
    try:
        reference = ast.parse(solution)
    except SyntaxError:
        reference = None
    mine, theirs = _functions(tree), _functions(reference)
    findings: list[Finding] = []
    findings += _missing_definitions(tree, reference, mine, theirs)
    for name, func in mine.items():
        if _placeholder(func):  # nothing written yet: nothing else to say about it
            findings += _placeholder_findings(name, func)
            continue
        for check in FUNCTION_CHECKS:
            findings += check(name, func, theirs.get(name))
    for check in CODE_CHECKS:
        findings += check(tree)
    return Analysis(findings, tree)


def _placeholder_findings(name: str, func: ast.AST) -> list[Finding]:
    if not any(_raises_not_implemented(n) for n in func.body):
        return []
    finding = Finding(
        "placeholder",
        f"`{_call_name(name)}` still holds the placeholder `raise NotImplementedError()`.",
        f"Line {func.body[-1].lineno} raises `NotImplementedError` on purpose: it marks where your "
        "answer goes. Delete that line and write the body of the function in its place.",
        func.body[-1].lineno,
    )
    return [finding]


def _syntax_finding(e: SyntaxError, code: str) -> Finding:
    line = e.lineno or 1
    text = (code.splitlines()[line - 1] if 0 < line <= len(code.splitlines()) else "").strip()
    message = (e.msg or "invalid syntax").rstrip(".")
    why = "Python could not read your code, so none of it ran."
    tips = []
    if isinstance(e, IndentationError) or "indent" in message:
        tips.append("the lines inside a `def`, `if`, `for` or `while` must be indented the same amount (4 spaces)")
    if re.match(r"(def|if|elif|else|for|while|try|except|with|class)\b", text) and not text.rstrip().endswith(":"):
        tips.append(f"a line starting with `{text.split()[0]}` must end with a colon `:`")
    if re.search(r"\bif\b[^=!<>]*[^=!<>]=[^=]", text):
        tips.append("`=` gives a name to a value; to compare, use `==`")
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        tips.append("every opening bracket needs its closing one")
    detail = f'On line {line} (`{text}`) Python says "{message}".'
    if tips:
        detail += " Check that " + "; and ".join(tips) + "."
    return Finding("syntax", f"{why} The problem is on line {line}: {message}.", detail, line)


def _missing_definitions(tree, reference, mine, theirs) -> list[Finding]:
    out = []
    for name in [n for n in theirs if "." not in n and n not in mine]:
        others = [n for n in mine if "." not in n]
        detail = f"The tests call `{name}(...)`, so your code must define a function with exactly that name."
        if others:
            detail += f" You defined `{others[0]}`: rename it to `{name}`."
        out.append(Finding("missing-function", f"Your code does not define `{name}`.", detail))
    for name in sorted(_classes(reference) - _classes(tree)):
        detail = f"The tests create `{name}(...)` objects: define `class {name}:` with its methods."
        out.append(Finding("missing-class", f"Your code does not define the class `{name}`.", detail))
    return out


def _return_findings(name: str, func: ast.AST, reference: ast.AST | None) -> list[Finding]:
    if reference is None or not _returns_value(reference) or _returns_value(func):
        return []
    short = _call_name(name)
    prints = [n for n in _walk_own(func) if isinstance(n, ast.Call) and _name(n.func) == "print"]
    if prints:
        line = prints[0].lineno
        return [
            Finding(
                "print-not-return",
                f"`{short}` prints its result instead of returning it.",
                f"`print` on line {line} shows a value on the screen, but the function still gives back `None`, and "
                f"`None` is what the tests compare. Use `return` to hand the value back to whoever called `{short}`.",
                line,
            )
        ]
    return [
        Finding(
            "no-return",
            f"`{short}` never returns a value, so calling it gives `None`.",
            f"Your `{short}` computes something but has no `return` statement with a value. A function hands its "
            "result back with `return <value>`; without it, the caller gets `None`.",
            func.lineno,
        )
    ]


def _unused_parameters(name: str, func: ast.AST, reference: ast.AST | None) -> list[Finding]:
    params = [a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]]
    used = {n.id for n in _walk_own(func) if isinstance(n, ast.Name)}
    needed = None
    if reference is not None:
        needed = {n.id for n in _walk_own(reference) if isinstance(n, ast.Name)}
    out = []
    for param in params:
        if param in ("self", "cls") or param.startswith("_") or param in used:
            continue
        if needed is not None and param not in needed and param in [a.arg for a in reference.args.args]:
            continue  # the reference ignores it too
        short = _call_name(name)
        out.append(
            Finding(
                "unused-parameter",
                f"`{short}` never uses its parameter `{param}`.",
                f"Whatever value `{param}` is given, your `{short}` computes the same thing, so it cannot be right "
                f"for every input. Where in the body should `{param}` appear? (A name you set yourself inside the "
                f"function, instead of `{param}`, hides the value the caller passed.)",
                func.lineno,
            )
        )
    return out


def _range_calls(func: ast.AST) -> list[ast.Call]:
    return [n for n in _walk_own(func) if isinstance(n, ast.Call) and _name(n.func) == "range"]


def _plus_one(node: ast.AST) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _name(node.right) == "1"


def _ranges(name: str, func: ast.AST, reference: ast.AST | None) -> list[Finding]:
    out = []
    reference_stops = [c.args[-1 if len(c.args) > 1 else 0] for c in _range_calls(reference)] if reference else []
    for call in _range_calls(func):
        if not call.args:
            continue
        stop = call.args[1] if len(call.args) > 1 else call.args[0]
        start = call.args[0] if len(call.args) > 1 else None
        text = _name(call)
        if (
            isinstance(stop, ast.BinOp)
            and isinstance(stop.op, ast.Sub)
            and _name(stop.right) == "1"
            and _name(stop.left).startswith("len(")
        ):
            out.append(
                Finding(
                    "off-by-one",
                    f"`{text}` on line {call.lineno} stops one item early.",
                    "`range` already leaves out its end: `range(len(x))` gives 0 … len(x) - 1, every index of `x`. "
                    "With `- 1` as well, the last item is never reached.",
                    call.lineno,
                )
            )
        elif (
            start is not None
            and _name(start) == "1"
            and _name(stop).startswith("len(")
            and not any(
                reference is not None and _name(c.args[0]) == "1" for c in _range_calls(reference) if len(c.args) > 1
            )
        ):
            out.append(
                Finding(
                    "off-by-one",
                    f"`{text}` on line {call.lineno} skips the first item.",
                    "Indexes start at 0: the first item of a list `x` is `x[0]`, and a range starting at 1 never "
                    "visits it.",
                    call.lineno,
                )
            )
        elif not _plus_one(stop) and any(_plus_one(s) and _name(s.left) == _name(stop) for s in reference_stops):
            out.append(
                Finding(
                    "off-by-one",
                    f"`{text}` on line {call.lineno} stops before `{_name(stop)}`.",
                    f"The end of a range is left out: it counts up to `{_name(stop)} - 1`, so `{_name(stop)}` itself "
                    "is never used. Check with a small value by hand: which numbers does your loop visit?",
                    call.lineno,
                )
            )
    return out


def _mutating_while_iterating(tree: ast.AST) -> list[Finding]:
    out = []
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.For) or not isinstance(loop.iter, ast.Name):
            continue
        seq = loop.iter.id
        for node in (n for stmt in loop.body for n in ast.walk(stmt)):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            changed = (called and node.func.attr in MUTATORS and _name(node.func.value) == seq) or (
                isinstance(node, ast.Delete) and any(_name(t).startswith(f"{seq}[") for t in node.targets)
            )
            if changed:
                out.append(
                    Finding(
                        "mutating-while-iterating",
                        f"Line {node.lineno} changes `{seq}` while the loop goes through it.",
                        f"The `for` loop on line {loop.lineno} walks through `{seq}` position by position; adding or "
                        "removing items under it makes it skip items or never end. Build a new list as you go and "
                        f"leave `{seq}` unchanged (or loop over a copy, `{seq}[:]`).",
                        node.lineno,
                    )
                )
                break
    return out


def _shadowed_builtins(tree: ast.AST) -> list[Finding]:
    out, seen = [], set()
    for node in ast.walk(tree):
        names: list[tuple[str, int]] = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append((node.id, node.lineno))
        elif isinstance(node, ast.arg):
            names.append((node.arg, node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append((node.name, node.lineno))
        for name, line in names:
            if name in SHADOWABLE and hasattr(builtins, name) and name not in seen:
                seen.add(name)
                out.append(
                    Finding(
                        "shadowed-builtin",
                        f"The name `{name}` (line {line}) hides Python's built-in `{name}()`.",
                        f"After `{name}` names one of your values, `{name}(...)` no longer means Python's own "
                        f'function: calling it fails with "object is not callable", here and in later cells. Pick '
                        f"another name, such as `my_{name}` or `total`, and restart the kernel to get the built-in "
                        "back.",
                        line,
                    )
                )
    return out


def _unreachable(tree: ast.AST) -> list[Finding]:
    out = []
    for node in ast.walk(tree):
        for attr in ("body", "orelse", "finalbody"):
            block = getattr(node, attr, None)
            if not isinstance(block, list):
                continue
            for i, stmt in enumerate(block[:-1]):
                if isinstance(stmt, TERMINAL):
                    after = block[i + 1]
                    word = type(stmt).__name__.lower()
                    out.append(
                        Finding(
                            "unreachable",
                            f"Line {after.lineno} can never run: it comes after `{word}` on line {stmt.lineno}.",
                            f"`{word}` leaves the {'function' if word in ('return', 'raise') else 'loop'} at once, so "
                            f"what follows it in the same block is skipped. Should line {after.lineno} come before it, "
                            "or be indented differently?",
                            after.lineno,
                        )
                    )
                    break
    return out


# The checks, in the order their findings are listed (as nbgrader lists its preprocessors): each takes a function
# of the student's (its name, its node, the solution's function of that name or None), or the whole cell's tree,
# and returns its findings. A new check is a function added here.
FUNCTION_CHECKS: list[Callable[[str, ast.AST, ast.AST | None], list[Finding]]] = [
    _return_findings,
    _unused_parameters,
    _ranges,
]
CODE_CHECKS: list[Callable[[ast.AST], list[Finding]]] = [_mutating_while_iterating, _shadowed_builtins, _unreachable]


# --- the exception and the failing test -------------------------------------------------------------------------

ERRORS: dict[str, tuple[str, str]] = {
    # ename: (what it means, what to check)
    "NameError": (
        "Python met a name it does not know.",
        "Check its spelling (upper and lower case count), that it is defined before it is used, and that "
        "the cell defining it has been run since the kernel started.",
    ),
    "TypeError": (
        "An operation got a value of the wrong type.",
        "Look at the types of the values on that line: `type(x)` tells. Text and numbers do not mix "
        "without converting (`int(...)`, `str(...)`).",
    ),
    "ValueError": (
        "A function got a value of the right type but an unusable content.",
        "Print the value just before that line to see what it really is.",
    ),
    "IndexError": (
        "Your code asked for a position that does not exist.",
        "Positions go from 0 to `len(x) - 1`; `x[len(x)]` is one past the end. Which index did your "
        "code use when it failed?",
    ),
    "KeyError": (
        "Your code looked up a key that is not in the dictionary.",
        "Reading `d[key]` needs the key to be there already. Check with `key in d` first, or use "
        "`d.get(key, default)`.",
    ),
    "ZeroDivisionError": (
        "Your code divided by zero.",
        "Which value can be 0 there? Decide what should happen in that case and check for it before "
        "dividing (or catch the error with `try`/`except`).",
    ),
    "AttributeError": (
        "Your code used a method or attribute the value does not have.",
        "Check the value's type, and the spelling. A common cause: a method such as `list.sort()` "
        "or `list.append()` changes the list and returns `None`, so its result has no attributes.",
    ),
    "RecursionError": (
        "Your function calls itself without ever stopping.",
        "A recursive function needs a case that returns without calling itself, and each call must "
        "get closer to that case.",
    ),
    "UnboundLocalError": (
        "A name is used in the function before it gets a value there.",
        "Assigning to a name anywhere in a function makes it local to that function: give it a "
        "value before the line that reads it.",
    ),
    "FileNotFoundError": (
        "The file your code opens does not exist at that path.",
        "Print the path you open and compare it with the real file's name and folder.",
    ),
    "RuntimeError": (
        "Python stopped your code with a runtime error.",
        "Read the message below the traceback: it says what went wrong.",
    ),
    "StopIteration": (
        "`next()` was called on an iterator that has nothing left.",
        "Loop with `for` instead, or give `next` a default: `next(it, None)`.",
    ),
    "TimeoutError": (
        "Your code ran too long and was stopped: most likely a loop that never ends.",
        "A `while` loop ends only when its condition turns false: does something inside the loop "
        "change the values in that condition?",
    ),
    "CellTimeoutError": (
        "Your code ran too long and was stopped: most likely a loop that never ends.",
        "A `while` loop ends only when its condition turns false: does something inside the loop "
        "change the values in that condition?",
    ),
    "KeyboardInterrupt": (
        "Your code was interrupted while it ran, perhaps a loop that never ends.",
        "A `while` loop ends only when its condition turns false: does something inside the loop "
        "change the values in that condition?",
    ),
}
SPECIFIC: list[tuple[str, str, str]] = [
    # (ename, message pattern, what it means here)
    (
        "TypeError",
        r"unsupported operand type\(s\) for .*: '(\w+)' and '(\w+)'",
        "Python cannot combine a `{0}` and a `{1}` with that operator. Convert one of them first.",
    ),
    (
        "TypeError",
        r"can only concatenate str \(not \"(\w+)\"\) to str",
        "`+` on text joins text only; the other value is a `{0}`. Convert it with `str(...)`, or use an f-string.",
    ),
    (
        "TypeError",
        r"'NoneType' object is not (subscriptable|iterable)",
        "A value your code used is `None`: often the result of a function that has no `return`, or of a method "
        "like `.sort()` that changes its list and returns `None`.",
    ),
    (
        "TypeError",
        r"'(\w+)' object is not callable",
        "A `{0}` value was called like a function with `(...)`. Did a variable take the name of a function?",
    ),
    (
        "TypeError",
        r"(\w+)\(\) takes (\d+) positional arguments? but (\d+) (?:was|were) given",
        "`{0}` was called with {2} arguments but is defined with {1}. Compare the `def` line with the call (methods "
        "count `self` too).",
    ),
    (
        "TypeError",
        r"(\w+)\(\) missing (\d+) required positional arguments?: (.*)",
        "`{0}` was called without {2}: every parameter of the `def` line needs a value.",
    ),
    (
        "TypeError",
        r"'(\w+)' object is not subscriptable",
        "`[...]` was used on a `{0}`, which has no items to look up.",
    ),
    (
        "ValueError",
        r"invalid literal for int\(\) with base 10: (.*)",
        "`int()` got the text {0}, which is not a whole number.",
    ),
    (
        "AttributeError",
        r"'NoneType' object has no attribute '(\w+)'",
        "The value before `.{0}` is `None`: often the result of a function with no `return`, or of a method that "
        "changes its object and returns `None`.",
    ),
    (
        "AttributeError",
        r"'(\w+)' object has no attribute '(\w+)'",
        "A `{0}` has no `.{1}`. Check the spelling, and that the value is of the type you expect.",
    ),
    ("NameError", r"name '(\w+)' is not defined", "`{0}` is used before anything gave it a value."),
    ("KeyError", r"(.+)", "The key {0} is not in the dictionary at that moment."),
]


def error_lines(attempt: Attempt) -> tuple[int | None, int | None]:
    """(line in the answer cell, line in the test cell) where the traceback passed, from its frames."""
    answer_line = test_line = None
    for count, number in frames("\n".join(str(line) for line in attempt.traceback)):
        if attempt.answer_count is not None and count == attempt.answer_count:
            answer_line = number
        elif test_line is None and attempt.test_source:
            test_line = number
    return answer_line, test_line


def explain_error(attempt: Attempt) -> Finding | None:
    ename = attempt.ename
    if not ename or ename in ("AssertionError", "NotImplementedError"):
        return None
    what, check = ERRORS.get(ename, (f"Python stopped with a `{ename}`.", "Read its message: it says what was wrong."))
    for name, pattern, meaning in SPECIFIC:
        m = re.search(pattern, attempt.evalue or "") if name == ename else None
        if m:
            what = meaning.format(*m.groups())
            break
    answer_line, _ = error_lines(attempt)
    where = ""
    lines = attempt.code.splitlines()
    if answer_line and 0 < answer_line <= len(lines):
        where = f" It happened on line {answer_line} of your answer: `{lines[answer_line - 1].strip()}`."
    message = f" ({ename}: {attempt.evalue.strip()[:160]})" if attempt.evalue.strip() else f" ({ename})"
    return Finding("error", f"{ERRORS.get(ename, (what,))[0]}{message}", f"{what}{where} {check}", answer_line)


def failing_assertion(attempt: Attempt) -> str:
    _, test_line = error_lines(attempt)
    lines = attempt.test_source.splitlines()
    if test_line and 0 < test_line <= len(lines) and lines[test_line - 1].strip().startswith("assert"):
        return lines[test_line - 1].strip()
    for line in _plain(attempt.traceback):
        m = re.search(r"(?:-+>\s*\d*\s*|^\s*)(assert\b.*)$", line)
        if m:
            return m.group(1).strip()
    return ""


def explain_assertion(attempt: Attempt) -> Finding | None:
    if attempt.ename != "AssertionError":
        return None
    line = failing_assertion(attempt)
    if not line:
        title = "A visible test failed: your answer gives a different result from the one expected."
        return Finding("assertion", title, "Run the test cell and look at which `assert` line is marked.")
    try:
        test = ast.parse(line).body[0].test
    except (SyntaxError, IndexError, AttributeError):
        test = None
    got = f" Your code gave `{attempt.got[:120]}`." if attempt.got else ""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
        left, right = _name(test.left), _name(test.comparators[0])
        detail = f"The test computes `{left}` and expects `{right}`.{got}"
        if attempt.got == "None":
            detail += " `None` is what a function gives when it has no `return`."
        elif attempt.got and _name(test.comparators[0]).startswith(("'", '"')) != attempt.got.startswith(("'", '"')):
            detail += " Look at the type as well as the value: text and numbers never compare equal."
        else:
            detail += " Work that one example out by hand, then follow your code line by line with it."
        return Finding("assertion", f"The visible test `{line}` fails.", detail)
    if isinstance(test, ast.Compare) and isinstance(test.left, ast.Call) and _name(test.left.func) == "abs":
        return Finding(
            "assertion",
            f"The visible test `{line}` fails.",
            f"It checks that `{_name(test.left.args[0]) if test.left.args else '...'}` is very close to "
            f"zero: your result is not the expected number.{got}",
        )
    return Finding("assertion", f"The visible test `{line}` fails.", f"That condition is false for your code.{got}")


# --- the hint -------------------------------------------------------------------------------------------------

ROOT_CAUSES = ("syntax", "placeholder", "missing-function", "missing-class", "print-not-return", "no-return")
# Code after a return is nearly always why a test fails (the check meant to run never does): before the test.
BEFORE_TESTS = ("off-by-one", "mutating-while-iterating", "unused-parameter", "unreachable")
LAST = ("shadowed-builtin",)


def findings(attempt: Attempt, solution: str) -> list[Finding]:
    """Every finding, the most useful first."""
    static = analyse(attempt.code, solution).findings
    error = explain_error(attempt)
    assertion = explain_assertion(attempt)
    ordered = [f for f in static if f.kind in ROOT_CAUSES]
    if error is not None and "not callable" in attempt.evalue:
        ordered += [f for f in static if f.kind == "shadowed-builtin"]  # the cause of this error
    ordered += [f for f in static if f.kind in BEFORE_TESTS]
    ordered += [f for f in (error, assertion) if f is not None]
    ordered += [f for f in static if f.kind in LAST and f not in ordered]
    return ordered


def hint(attempt: Attempt, solution: str, rung: int) -> str:
    """Rung 1 names the most useful problem; rung 2 says where and what to look at, and the next problem."""
    found = findings(attempt, solution)
    if not found:
        text = (
            "Your answer runs without an error and passes the visible tests you ran. The graded tests try more cases."
        )
        if rung <= 1:
            return text
        return (
            f"{text} Think of edge cases (0, negative numbers, an empty list or text, the largest values, the "
            "exact boundaries the task names), call your function on each in a new cell, and compare with what "
            "the task asks for."
        )
    first = found[0]
    if rung <= 1:
        return first.title
    text = f"{first.title} {first.detail}"
    if len(found) > 1 and found[1].kind != first.kind:
        text += f"\n\nAlso: {found[1].title}"
    return text
