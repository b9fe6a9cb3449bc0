"""Every course's assignments, in nbgrader's source format: nbgrader releases each cleanly (no solution, no hidden
test left in the student's copy), the instructor's solutions pass all their tests, hidden ones included, and a blank
student copy fails every graded test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import COURSE_CONTENT

ASSIGNMENTS = [
    (course.parent, lesson["assignment"])
    for course in sorted(COURSE_CONTENT.glob("*/course.toml"))
    for lesson in tomllib.loads(course.read_text())["lessons"]
    if "assignment" in lesson
]
NBGRADER = [sys.executable, "-m", "nbgrader"]
# nbgrader runs `alembic` (its gradebook's migrations) from PATH: the virtualenv's bin, as for a grader who has it on
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_intro_python_practises_each_of_its_eight_lessons_with_an_assignment():
    lessons = tomllib.loads((COURSE_CONTENT / "intro-python" / "course.toml").read_text())["lessons"]
    assert len(lessons) >= 8 and all(lesson.get("assignment") for lesson in lessons)
    assert len({a for c, a in ASSIGNMENTS if c.name == "intro-python"}) == len(lessons)


def run(nb, path: Path, allow_errors: bool = False):
    NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=allow_errors, resources={"metadata": {"path": str(path)}}
    ).execute()
    return nb


def graded_code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize(("course", "assignment"), ASSIGNMENTS, ids=[a for _, a in ASSIGNMENTS])
def test_assignment_releases_cleanly_solutions_pass_and_a_blank_copy_fails(course, assignment, tmp_path):
    source = course / "source" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nbformat.validate(nb)
    cells = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    ids = [m["grade_id"] for m in cells if m]
    assert len(ids) == len(set(ids)), f"duplicated grade ids in {source}"
    answers = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) >= 2 and all(c.metadata["studio"]["hints"] for c in answers)  # ordered hints, each answer
    tests = graded_code_cells(nb)
    assert len(tests) >= 2 and all("### BEGIN HIDDEN TESTS" in c.source for c in tests)
    manual = [m for c, m in zip(nb.cells, cells, strict=True) if c.cell_type == "markdown" and m.get("grade")]
    assert len(manual) == 1 and manual[0]["solution"]  # one answer a grader marks by hand

    # nbgrader's own command makes the student's copy.
    shutil.copytree(course / "source" / assignment, tmp_path / "source" / assignment)
    done = subprocess.run(
        [*NBGRADER, "generate_assignment", assignment, f"--CourseDirectory.root={tmp_path}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    released = tmp_path / "release" / assignment / f"{assignment}.ipynb"
    student = nbformat.read(released, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    assert "BEGIN SOLUTION" not in json.dumps(student) and "HIDDEN TESTS" not in json.dumps(student)
    for test_cell in tests:  # not one hidden line reaches the student
        hidden = test_cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        assert not [line for line in hidden.strip().splitlines() if line.strip() and line.strip() in text]

    # The instructor's solutions pass every test, hidden ones included; the blank copy fails every graded test.
    solved = run(nbformat.read(source, as_version=4), tmp_path)
    errors = [o for c in solved.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    blank = run(student, tmp_path, allow_errors=True)
    for cell in graded_code_cells(blank):
        assert [o for o in cell.outputs if o.output_type == "error"], cell.source
