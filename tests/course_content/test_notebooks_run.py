"""Every lesson notebook of every course runs top to bottom without errors, in a real kernel; each practises what it
teaches with an exercise that checks itself, and learners get it without the solution."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize(("course", "notebook"), LESSONS)
def test_each_lesson_checks_its_practice_and_learners_get_it_without_the_solution(course, notebook, tmp_path):
    from studio_hub.content import for_learners
    from studio_hub.hints.exercises import exercises_in

    path = COURSE_CONTENT / course / notebook
    exercises = exercises_in(path, course, path.stem)
    assert exercises, f"{notebook} has no practice exercise (an nbgrader answer cell)"
    for exercise in exercises:
        assert exercise.visible_tests and len(exercise.hints) >= 2 and exercise.task
    learners, cleared = for_learners(json.loads(path.read_text()))
    assert cleared == len(exercises)
    # No line of a solution reaches learners, but for the lines the lesson shows elsewhere (a worked example's
    # ``try:``).
    source = json.loads(path.read_text())
    ids = {e.grade_id for e in exercises}
    for cell in source["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") in ids:
            cell["source"] = ""
    elsewhere, text = json.dumps(source), json.dumps(learners)
    for exercise in exercises:
        for line in exercise.solution.splitlines():
            if line.strip() and line not in exercise.starter and line.strip() not in elsewhere:
                assert line.strip() not in text, f"{notebook}: the solution line {line!r} reaches learners"
    assert "hints" not in text  # the ladder is the hints service's, a rung at a time
    # Run as a learner gets it: the answer says it is not done yet (at once, or when the check calls it), and the
    # check below it fails.
    nb = nbformat.reads(json.dumps(learners), as_version=4)
    NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    for exercise in exercises:
        i = next(
            k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == exercise.grade_id
        )
        assert [o.ename for o in nb.cells[i].outputs if o.output_type == "error"] in ([], ["NotImplementedError"])
        check = nb.cells[i + 1]
        assert check.metadata["nbgrader"]["grade"]
        assert [o.ename for o in check.outputs if o.output_type == "error"] in (["NotImplementedError"], ["NameError"])
