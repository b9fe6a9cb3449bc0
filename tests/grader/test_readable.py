"""Files that are not notebooks: said plainly ("not a notebook we can read: ..."), to the course team and the
student, never as nbgrader's traceback (issue 16, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbgrader
import pytest
from studio_grader.courses import CourseSpace
from studio_grader.readable import NOT_READABLE, why_unreadable

from tests.conftest import COURSE_CONTENT

PS = "ps01-values-and-names"
NBGRADER_DOCS = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"
V4_AS_3 = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "cells": []}).encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (os.urandom(64) + b"\xff\xfe", "it is not text"),
        (b'{"cells": [', "it is not valid JSON (Expecting value at line 1, column 12)"),
        (b"[1, 2]", "its JSON is not a notebook"),
        (b'{"cells": []}', "it does not say which notebook format it is"),
        (V4_AS_3, "it says it is nbformat 3 but is not one"),
        (b'{"nbformat": 5, "cells": []}', "it says it is nbformat 5"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "it has no list of cells"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": 7}]}', "nbformat cannot"),
    ],
)
def test_what_is_not_a_notebook_is_said_plainly(data, why):
    assert why_unreadable(data).startswith(why), why_unreadable(data)


def test_honest_notebooks_are_readable():
    """Our course's notebooks, nbgrader's documentation course's submissions (made by an older nbgrader), and a
    real nbformat 3 notebook (nbgrader reads it converted)."""
    import nbformat

    paths = [*COURSE_CONTENT.rglob("*.ipynb"), *(NBGRADER_DOCS / "submitted").rglob("*.ipynb")]
    assert len(paths) > 8
    assert {str(p): why_unreadable(p.read_bytes()) for p in paths} == dict.fromkeys(map(str, paths))
    v3 = nbformat.convert(nbformat.read(paths[0], as_version=4), 3)
    assert why_unreadable(json.dumps(v3).encode()) is None


@pytest.mark.parametrize("data", [b"", b"\x00\x01 not json", V4_AS_3])
def test_the_grading_service_says_it_to_the_student_and_grades_nothing(tmp_path, data, monkeypatch):
    from studio_grader import jobs

    monkeypatch.chdir(tmp_path)  # the job works in the course folder; the working folder is put back after
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # nbgrader's alembic
    space = CourseSpace(tmp_path, "intro-python", content_dir=COURSE_CONTENT)
    space.prepare()
    assert space.source_dir(PS) is not None
    space.put_submission(PS, "s1", {f"{PS}.ipynb": data}, "2026-12-03 10:00:00.000000 UTC")
    out = jobs.grade(space, PS, "s1", None)
    assert out["state"] == "failed", out
    assert out["reason"].startswith(f"{PS}.ipynb: {NOT_READABLE}: "), out["reason"]
    assert "Traceback" not in out["reason"] and not (space.folder / "autograded" / "s1").exists()


def test_the_batch_reports_unreadable_submissions_and_fails(tmp_path):
    """``studio-autograde`` grades nothing it cannot read, lists each with its reason, and exits non-zero."""
    space = CourseSpace(tmp_path, "intro-python", content_dir=COURSE_CONTENT)
    space.prepare()
    space.source_dir(PS)
    for student, data in (("empty", b""), ("random", os.urandom(200)), ("old", V4_AS_3)):
        space.put_submission(PS, student, {f"{PS}.ipynb": data}, "2026-12-03 10:00:00.000000 UTC")
    run = subprocess.run(
        [sys.executable, "-m", "studio_grader.autograde", PS],
        cwd=space.folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert f"graded 0 of 3 submissions of {PS}" in run.stderr and "0 flagged, 3 unreadable, 0 failed" in run.stderr
    for student, why in (("empty", "the file is empty"), ("random", "it is not"), ("old", "not one")):
        assert f"UNREADABLE {student}/{PS}.ipynb: {NOT_READABLE}: " in run.stderr and why in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
