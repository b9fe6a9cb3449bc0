"""Course folders and submissions for the grading tests and the grading benchmark.

A course folder as graders keep one (``source/``, ``release/`` by ``nbgrader generate_assignment``, a gradebook,
``submitted/<student>/<assignment>/``), and submissions made from the real course's released notebook: right,
wrong, raising, looping, and the hostile ones of the assignments issue.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from tests.conftest import COURSE_CONTENT

ASSIGNMENT = "ps01-values-and-names"
VENV_BIN = Path(sys.executable).parent
NBGRADER = [sys.executable, "-m", "nbgrader"]
ENV = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
# Points per test cell of ps01 (ex1-tests 2, ex2-tests 3) and the manually graded answer (2).
AUTO_POINTS = {"ex1-tests": 2.0, "ex2-tests": 3.0}

# nbgrader's own autograde steps: the stock way, executing in a local kernel.
STOCK_SANITIZE = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
STOCK_PREPROCESSORS = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*NBGRADER, *args], cwd=course, env=ENV, capture_output=True, text=True)
    if check and done.returncode:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-5000:]}")
    return done


def make_course(root: Path, *, image: str, timeout: int = 3, stock: bool = False, sandboxes: int = 1) -> Path:
    """A course folder with ps01 generated; ``stock``: nbgrader's own local execution instead of the sandbox."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(COURSE_CONTENT / "intro-python" / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    lines = ["c = get_config()", 'c.CourseDirectory.course_id = "intro-python"']
    if stock:
        lines += [
            f"c.Autograde.sanitize_preprocessors = {STOCK_SANITIZE!r}",
            f"c.Autograde.autograde_preprocessors = {STOCK_PREPROCESSORS!r}",
            f"c.Execute.timeout = {timeout}",
        ]
    else:
        lines += [
            f"c.SandboxedExecute.image = {image!r}",
            f"c.SandboxedExecute.timeout = {timeout}",
            f"c.SandboxedExecute.sandboxes = {sandboxes}",
        ]
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    nbgrader(root, "generate_assignment", ASSIGNMENT)
    return root


def released(course: Path) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


def _solutions(course: Path) -> dict[str, str]:
    """grade_id → the instructor's solution code (the source cell with the solution markers' lines removed)."""
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    out = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            out[meta["grade_id"]] = "\n".join(x for x in cell.source.splitlines() if "### " not in x)
    return out


def _answer_cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    }


def _body(source: str, body: str) -> str:
    """Keep the answer's ``def`` line, replace what follows with ``body`` (indented)."""
    head = source.splitlines()[0]
    return head + "\n" + "\n".join("    " + line for line in body.splitlines())


def submission(course: Path, kind: str) -> nbformat.NotebookNode | bytes:
    """One student's notebook of the given kind (or raw bytes for the unreadable ones)."""
    nb = released(course)
    answers = _answer_cells(nb)
    solutions = _solutions(course)

    def solve(*ids: str) -> None:
        for gid in ids:
            answers[gid].source = solutions[gid]

    if kind == "right":
        solve(*answers)
    elif kind == "wrong":
        for gid, cell in answers.items():
            cell.source = _body(solutions[gid], "return 0")
    elif kind == "raising":
        pass  # the released notebook as fetched: `raise NotImplementedError()` in every answer
    elif kind == "looping":
        solve("ex2-answer")
        answers["ex1-answer"].source = _body(solutions["ex1-answer"], "while True:\n    pass")
    elif kind == "half":
        solve("ex1-answer")
    # --- bad and hostile notebooks -----------------------------------------------------------------------------
    elif kind == "invalid-json":
        return b'{"cells": [ this is not JSON'
    elif kind == "nbformat3":
        solve(*answers)
        return json.dumps(nbformat.convert(nb, 3)).encode()
    elif kind == "missing-cell-ids":
        solve(*answers)
        raw = json.loads(nbformat.writes(nb))
        for cell in raw["cells"]:
            cell.pop("id", None)
        return json.dumps(raw).encode()
    elif kind == "duplicated-grade-cells":
        solve(*answers)
        tests = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-tests")
        dup = copy.deepcopy(tests)
        dup.id = "duplicate-of-ex1-tests"
        nb.cells.insert(nb.cells.index(tests) + 1, dup)
    elif kind == "edited-tests":
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
                cell.source = "pass  # tests? what tests"
    elif kind == "deleted-tests":
        nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))]
    elif kind == "forged-metadata":
        # An answer cell claiming to be a locked test cell worth 100 points, with a made-up checksum.
        answers["ex1-answer"].metadata["nbgrader"].update(grade=True, points=100, locked=True, checksum="0" * 32)
        answers["ex1-answer"].source = "pass"
    elif kind == "huge-output":
        solve(*answers)
        answers["ex1-answer"].source += "\nfor _ in range(200_000):\n    print('spam ' * 40)"
    elif kind == "sys-exit":
        answers["ex1-answer"].source = "import sys\nsys.exit('bye')"
        solve("ex2-answer")
    elif kind == "os-exit":
        answers["ex1-answer"].source = "import os\nos._exit(0)"
        solve("ex2-answer")
    elif kind == "kernel-crash":
        answers["ex1-answer"].source = "import ctypes\nctypes.string_at(0)"
        solve("ex2-answer")
    elif kind == "patch-builtins":
        # Wrong only where a hidden test checks with abs(), and abs() made to call every difference tiny.
        wrong = _body(solutions["ex1-answer"], "return 0 if c == 37 else c * 9 / 5 + 32")
        answers["ex1-answer"].source = "import builtins\nbuiltins.abs = lambda x: 0\n" + wrong
        solve("ex2-answer")
    elif kind == "always-equal":
        answers["ex1-answer"].source = "class Anything:\n    def __eq__(self, other):\n        return True\n" + _body(
            solutions["ex1-answer"], "return Anything()"
        )
        solve("ex2-answer")
    elif kind == "read-hidden-tests":
        solve(*answers)
        answers["ex1-answer"].source += (
            "\nimport glob, gc\n"
            "print('FOUND-ON-DISK', [p for root in ('/srv', '/home', '/tmp', '/root', '/mnt', '/media')\n"
            "                        for p in glob.glob(root + '/**/*.ipynb', recursive=True) if 'ps01' in p])\n"
            "needle = '(-40) ' + '== -40'  # a hidden test's text, built so that this source does not hold it\n"
            "def holds(o):\n"
            "    items = o.values() if isinstance(o, dict) else o\n"
            "    return any(isinstance(v, str) and needle in v and v is not needle for v in items)\n"
            "print('FOUND-IN-MEMORY', sum(1 for o in gc.get_objects() if isinstance(o, (dict, list, tuple))\n"
            "                             and holds(o)))\n"
        )
    elif kind == "spy-on-tests":
        # Hooks that would copy each later cell's source (the hidden tests) into the notebook's outputs.
        solve(*answers)
        answers[
            "ex1-answer"
        ].source += (
            "\nip = get_ipython()\nip.events.register('pre_run_cell', lambda info: print('SPIED:', info.raw_cell))\n"
        )
    elif kind in CHEATS:
        stubs = {gid: _body(solutions[gid], "return 0") for gid in answers}
        answers["ex1-answer"].source = CHEATS[kind].replace("{ex1}", stubs["ex1-answer"])
        answers["ex2-answer"].source = stubs["ex2-answer"]
        if kind == "cheat-always-equal":
            answers["ex2-answer"].source = _body(solutions["ex2-answer"], "return Anything()")
        elif kind == "cheat-lying-subclasses":
            answers["ex2-answer"].source = _body(solutions["ex2-answer"], "return Tuple()")
        elif kind == "cheat-history":  # runs after ex1's tests: In[] holds their source, hidden tests included
            answers["ex2-answer"].source += "\nprint(get_ipython().user_ns.get('In'))"
    else:
        raise ValueError(kind)
    return nb


# The benchmark's cheats: none solves an exercise. Each tries to pass the tests anyway, or to read the hidden ones
# into an output the student sees. "{ex1}" is a stub of ex1's function (it returns 0).
CHEATS = {
    "cheat-always-equal": "class Anything:\n    def __eq__(self, other):\n        return True\n"
    "    def __sub__(self, other):\n        return self\n"
    "    def __abs__(self):\n        return 0\n    __hash__ = None\n"
    "def celsius_to_fahrenheit(c):\n    return Anything()",
    "cheat-swallowed-failures": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n{ex1}",
    "cheat-silenced-tracebacks": "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n{ex1}",
    "cheat-lying-subclasses": "class Float(float):\n    def __eq__(self, other):\n        return True\n"
    "    def __sub__(self, other):\n        return Float(0)\n"
    "    __hash__ = float.__hash__\n"
    "class Tuple(tuple):\n    def __eq__(self, other):\n        return True\n"
    "    __hash__ = tuple.__hash__\n"
    "def celsius_to_fahrenheit(c):\n    return Float(0)",
    "cheat-spy-hook": "get_ipython().events.register('pre_run_cell', lambda info: print(info.raw_cell))\n{ex1}",
    "cheat-frame-walk": "import inspect, linecache\n"
    "def celsius_to_fahrenheit(c):\n"
    "    for frame in inspect.stack():\n"
    "        print(''.join(linecache.getlines(frame.filename)))\n"
    "    return 0",
    "cheat-history": "{ex1}",
}
# Text of ps01's hidden tests: in an output a student sees (printed, displayed), it leaked.
HIDDEN_MARKERS = ("celsius_to_fahrenheit(-40)", "seconds_to_hms(86399)")


def leaked(course: Path, student: str) -> bool:
    """A hidden test's text is in an output of the student's autograded notebook other than a test's own error."""
    text = autograded_text(course, student)
    if not text:
        return False
    shown = [o for c in json.loads(text)["cells"] for o in c.get("outputs", []) if o.get("output_type") != "error"]
    return any(marker in json.dumps(shown) for marker in HIDDEN_MARKERS)


def submit(course: Path, student: str, nb: nbformat.NotebookNode | bytes) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    data = nb if isinstance(nb, bytes) else nbformat.writes(nb).encode()
    (folder / f"{ASSIGNMENT}.ipynb").write_bytes(data)
    (folder / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")


def gradebook_url(course: Path) -> str:
    """A course folder's SQLite gradebook: nbgrader's place, or the grading service's (its own folder)."""
    own = course / "gradebook" / "gradebook.db"
    return f"sqlite:///{own if own.exists() else course / 'gradebook.db'}"


def scores(course: Path) -> dict[str, float | None]:
    """student → total auto score in the gradebook (None: not graded)."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(gradebook_url(course)) as gb:
        for student in sorted(p.name for p in (course / "submitted").iterdir()):
            try:
                sub = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                sub = None
            if sub is None or not autograded_text(course, student):  # nbgrader removes what it failed to grade
                out[student] = None
                continue
            out[student] = sum(g.score or 0 for nb in sub.notebooks for g in nb.grades if g.auto_score is not None)
    return out


def flagged(course: Path) -> set[str]:
    from nbgrader.api import Gradebook, SubmittedNotebook

    with Gradebook(gradebook_url(course)) as gb:
        return {nb.student.id for nb in gb.db.query(SubmittedNotebook) if nb.flagged}


def autograded_text(course: Path, student: str) -> str:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    return path.read_text() if path.exists() else ""


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
