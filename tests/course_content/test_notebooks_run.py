"""Every lesson notebook of every course runs top to bottom without errors, in a real kernel."""

from __future__ import annotations

import tomllib

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import COURSE_CONTENT

LESSONS = [
    (course.parent.name, lesson["notebook"])
    for course in sorted(COURSE_CONTENT.glob("*/course.toml"))
    for lesson in tomllib.loads(course.read_text())["lessons"]
]


def test_demo_course_has_at_least_three_lessons():
    assert len([1 for course, _ in LESSONS if course == "intro-python"]) >= 3


@pytest.mark.parametrize(("course", "notebook"), LESSONS)
def test_lesson_runs_without_errors(course, notebook, tmp_path):
    nb = nbformat.read(COURSE_CONTENT / course / notebook, as_version=4)
    nbformat.validate(nb)
    assert any(c.cell_type == "markdown" for c in nb.cells) and any(c.cell_type == "code" for c in nb.cells)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
