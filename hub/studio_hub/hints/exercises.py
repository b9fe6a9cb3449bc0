"""Exercises as the course source defines them: nbgrader answer cells, their task text, visible tests and hints.

An exercise is an nbgrader answer cell (``solution: true``, code) of an assignment's source notebook,
``<content>/<course>/source/<assignment>/<notebook>.ipynb``, named by its ``grade_id``. Around it: the task (the
markdown cells just above), the tests (the grade cells just below, hidden tests removed) and the instructor's
hint ladder (``metadata.studio.hints``, in order).

A lesson's practice exercises are the same cells in a lesson notebook (one ``course.toml`` lists); they are found
under the lesson notebook's name (``02-functions``) where an assignment's are under the assignment's.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# nbgrader's delimiters (ClearSolutions.begin_solution_delimeter, ClearHiddenTests.begin_test_delimeter...), found
# as nbgrader finds them: anywhere in a line, whatever comes before (``# BEGIN HIDDEN TESTS``, ``x = 1  ### BEGIN
# SOLUTION``). A narrower match would show the model, and the guard's idea of what a student may see, tests that
# nbgrader hides.
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Exercise:
    course: str
    assignment: str
    notebook: str
    grade_id: str
    task: str  # the markdown above the answer: what the student is asked
    starter: str  # the answer cell as students get it (solution replaced by a placeholder)
    solution: str  # the answer cell with the solution in it, markers removed; never leaves the service
    visible_tests: str  # the tests below the answer that students see
    hints: tuple[str, ...] = field(default=())  # the instructor's ladder, least specific first

    @property
    def key(self) -> str:
        return f"{self.course}/{self.assignment}/{self.grade_id}"


def cell_text(cell: dict) -> str:
    """A cell's source as one string (nbformat keeps it as a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _regions(source: str, begin: str, end: str, replace) -> str:
    """``source`` with each region from a line containing ``begin`` to one containing ``end`` (both included)
    replaced by ``replace(indent)`` lines, as nbgrader's ClearSolutions and ClearHiddenTests do; a region that is
    never closed runs to the end, as there."""
    kept, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            kept.extend(replace(line[: len(line) - len(line.lstrip())]))
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


# nbgrader's ClearSolutions.code_stub for Python
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def starter_of(source: str, stub: tuple[str, ...] = CODE_STUB) -> str:
    """nbgrader's ClearSolutions: each solution block becomes the stub, at the block's indent."""
    return _regions(source, BEGIN_SOLUTION, END_SOLUTION, lambda indent: [indent + line for line in stub])


def solution_of(source: str) -> str:
    """The answer cell with its solution, the delimiter lines removed."""
    return "\n".join(line for line in source.split("\n") if BEGIN_SOLUTION not in line and END_SOLUTION not in line)


def without_hidden_tests(source: str) -> str:
    """nbgrader's ClearHiddenTests: what students see of a test cell."""
    return _regions(source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])


def without_ladders(nb: dict) -> int:
    """Remove each cell's hint ladder (``metadata.studio.hints``) from a notebook that learners get; how many. The
    ladder is the hints service's to give, one rung at a time, after a try or some time: in a learner's copy, the
    cell metadata JupyterLab shows would give every rung at once."""
    removed = 0
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        studio = cell.get("metadata", {}).get("studio") if isinstance(cell, dict) else None
        if isinstance(studio, dict) and "hints" in studio:
            del studio["hints"]
            if not studio:
                del cell["metadata"]["studio"]
            removed += 1
    return removed


def released(data: bytes) -> bytes:
    """A released file as learners get it: a notebook without its hint ladders; anything else as it is."""
    try:
        nb = json.loads(data)
    except ValueError:
        return data
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or not without_ladders(nb):
        return data
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()


def exercises_in(path: Path, course: str, assignment: str) -> list[Exercise]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb.get("cells", [])
    found = []
    for i, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("solution") or not meta.get("grade_id"):
            continue
        task = []
        for above in reversed(cells[:i]):
            if above.get("cell_type") != "markdown":
                break
            task.insert(0, cell_text(above))
        tests = []
        for below in cells[i + 1 :]:
            below_meta = below.get("metadata", {}).get("nbgrader", {})
            if below.get("cell_type") != "code" or not below_meta.get("grade") or below_meta.get("solution"):
                break
            tests.append(without_hidden_tests(cell_text(below)).strip())
        hints = cell.get("metadata", {}).get("studio", {}).get("hints", [])
        source = cell_text(cell)
        found.append(
            Exercise(
                course=course,
                assignment=assignment,
                notebook=path.stem,
                grade_id=meta["grade_id"],
                task="\n\n".join(task).strip(),
                starter=starter_of(source),
                solution=solution_of(source),
                visible_tests="\n".join(t for t in tests if t),
                hints=tuple(str(h) for h in hints if str(h).strip()),
            )
        )
    return found


class ExerciseIndex:
    """Every course's exercises under ``roots``: each ``<root>/<course>/source/<assignment>/``, and the lessons
    ``<root>/<course>/course.toml`` lists (for an assignment or a lesson, the first root that has it), read again
    when a notebook changes."""

    def __init__(self, *roots: Path):
        self.roots = [Path(r) for r in roots]
        self._cache: dict[Path, tuple[float, list[Exercise]]] = {}
        self._lessons: dict[Path, tuple[float, dict[str, Path]]] = {}

    def lessons(self, root: Path, course: str) -> dict[str, Path]:
        """The lesson notebooks of ``course`` in ``root``, by name (file name without ``.ipynb``)."""
        meta = root / course / "course.toml"
        try:
            mtime = meta.stat().st_mtime
        except OSError:
            return {}
        cached = self._lessons.get(meta)
        if cached is None or cached[0] != mtime:
            found = {}
            try:
                listed = tomllib.loads(meta.read_text(encoding="utf-8")).get("lessons", [])
            except (OSError, ValueError):
                listed = []  # a course.toml being written, or broken: no lessons from it until it is whole
            for lesson in listed if isinstance(listed, list) else []:
                notebook = lesson.get("notebook") if isinstance(lesson, dict) else None
                if not isinstance(notebook, str) or ".." in notebook.split("/") or notebook.startswith("/"):
                    continue
                path = root / course / notebook
                if path.suffix == ".ipynb" and SAFE_ID.match(path.stem) and path.is_file():
                    found.setdefault(path.stem, path)
            cached = self._lessons[meta] = (mtime, found)
        return cached[1]

    def _notebooks(self, course: str, assignment: str) -> list[Path]:
        for root in self.roots:
            if (folder := root / course / "source" / assignment).is_dir():
                return sorted(folder.glob("*.ipynb"))
            if lesson := self.lessons(root, course).get(assignment):
                return [lesson]
        return []

    def find(self, course: str, assignment: str, grade_id: str, notebook: str | None = None) -> Exercise | None:
        if not all(SAFE_ID.match(x) for x in (course, assignment, grade_id, *([notebook] if notebook else []))):
            return None
        for path in self._notebooks(course, assignment):
            if notebook and path.stem != notebook:
                continue
            for exercise in self._read(path, course, assignment):
                if exercise.grade_id == grade_id:
                    return exercise
        return None

    def courses_with(self, assignment: str) -> list[str]:
        """The courses that have an assignment (or a lesson) of this name (a student's notebook does not say its
        course)."""
        if not SAFE_ID.match(assignment):
            return []
        return sorted(
            {
                p.name
                for r in self.roots
                if r.is_dir()
                for p in r.iterdir()
                if SAFE_ID.match(p.name)
                and ((p / "source" / assignment).is_dir() or assignment in self.lessons(r, p.name))
            }
        )

    def _read(self, path: Path, course: str, assignment: str) -> list[Exercise]:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return []
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                found = exercises_in(path, course, assignment)
            except (OSError, ValueError, AttributeError, TypeError):
                found = []  # a notebook being written, or broken: no exercises from it until it is whole
            cached = self._cache[path] = (mtime, found)
        return cached[1]
