"""Honest work keeps its score under the judge (issue 16, item 3): every assignment of our course (the instructor's
solution, and the blank copy a student fetches) and nbgrader's own documentation course (``ps1``, its
``bitdiddle`` and ``hacker`` submissions) get exactly stock nbgrader's scores, stock run side by side here (a local
kernel) and ours with test cells judged outside the student's interpreter (a gVisor sandbox)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbgrader
import pytest

from tests.course_content.test_assignments import ASSIGNMENTS
from tests.grading_cases import STOCK_PREPROCESSORS, STOCK_SANITIZE
from tests.grading_cases import nbgrader as run_nbgrader

pytestmark = pytest.mark.docker
NBGRADER_DOCS = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"


def _course(root: Path, assignment: str, source: Path, submissions: dict[str, Path], config: list[str]) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(source, root / "source" / assignment)
    (root / "nbgrader_config.py").write_text("\n".join(["c = get_config()", *config]) + "\n")
    run_nbgrader(root, "generate_assignment", assignment, "--force")
    for student, folder in submissions.items():
        shutil.copytree(folder or root / "release" / assignment, root / "submitted" / student / assignment)
    run_nbgrader(root, "autograde", assignment, "--force", check=False)
    return root


def _scores(root: Path, assignment: str, students: list[str]) -> dict[str, float | None]:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students:
            try:
                out[student] = gb.find_submission(assignment, student).score
            except MissingEntry:
                out[student] = None
    return out


CASES = [
    pytest.param(
        course.name,
        assignment,
        course / "source" / assignment,
        {"solution": course / "source" / assignment, "blank": None},
        id=f"{course.name}/{assignment}",
    )
    for course, assignment in ASSIGNMENTS
] + [
    pytest.param(
        "nbgrader-docs",
        "ps1",
        NBGRADER_DOCS / "source" / "ps1",
        {s: NBGRADER_DOCS / "submitted" / s / "ps1" for s in ("bitdiddle", "hacker")},
        id="nbgrader/ps1",
    )
]


@pytest.mark.parametrize(("course", "assignment", "source", "submissions"), CASES)
def test_honest_work_gets_stock_nbgraders_scores_under_the_judge(
    tmp_path, learner_image, course, assignment, source, submissions
):
    stock_config = [
        f"c.CourseDirectory.course_id = {course!r}",
        f"c.Autograde.sanitize_preprocessors = {STOCK_SANITIZE!r}",
        f"c.Autograde.autograde_preprocessors = {STOCK_PREPROCESSORS!r}",
        "c.Execute.timeout = 30",
    ]
    judge_config = [
        f"c.CourseDirectory.course_id = {course!r}",
        f"c.SandboxedExecute.image = {learner_image!r}",
        "c.SandboxedExecute.timeout = 30",
        "c.SandboxedExecute.judge = True",
    ]
    students = sorted(submissions)
    stock = _scores(_course(tmp_path / "stock", assignment, source, submissions, stock_config), assignment, students)
    ours = _scores(_course(tmp_path / "judge", assignment, source, submissions, judge_config), assignment, students)
    assert None not in stock.values(), stock
    assert ours == stock
    # Item 4: no false alarm on honest work (nbgrader's own ps1 submissions were made by an older nbgrader).
    assert _flagged(tmp_path / "judge") == set(), "honest work flagged for review"


def _flagged(root: Path) -> set[str]:
    from nbgrader.api import Gradebook, SubmittedNotebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {f"{nb.student.id}/{nb.name}" for nb in gb.db.query(SubmittedNotebook) if nb.flagged}
