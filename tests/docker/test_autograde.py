"""nbgrader autograde with student code only in gVisor: nbgrader's own command and the parallel one, on the real
course's ps01, with right, wrong, raising, looping and every bad or hostile kind of submission in one batch.

Each submission is either graded as its code deserves or flagged with a plain reason; the batch never stops.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.grading_cases import (
    ASSIGNMENT,
    ENV,
    autograded_text,
    flagged,
    make_course,
    nbgrader,
    scores,
    strip_ansi,
    submission,
    submit,
)

pytestmark = pytest.mark.docker

# kind → total auto score it deserves (ex1 is worth 2, ex2 3); None: not gradable, reported as a failure.
EXPECTED = {
    "right": 5.0,
    "wrong": 0.0,
    "raising": 0.0,
    "looping": 3.0,
    "half": 2.0,
    "invalid-json": None,  # nbgrader cannot read it: reported, the batch goes on
    "nbformat3": 5.0,  # read as the v4 it converts to
    "missing-cell-ids": 5.0,  # nbformat fills them in
    "duplicated-grade-cells": 5.0,  # nbgrader drops the copy of the test (DeduplicateIds)
    "edited-tests": 0.0,  # the tests are put back from the instructor's copy: the unanswered exercises fail them
    "deleted-tests": 0.0,  # likewise: the deleted test cells are restored
    "forged-metadata": 0.0,  # the answer cell's forged points and checksum are ignored; neither exercise is answered
    "huge-output": 5.0,  # printed output cut, answers right
    "sys-exit": 3.0,  # ex1 raised SystemExit: its tests fail; ex2 right
    "os-exit": 0.0,  # the program ended itself: nothing after ran, every test fails
    "kernel-crash": 0.0,  # likewise
    "patch-builtins": 3.0,  # the tests' abs() is the judge's own: ex1's hidden test catches the wrong answer
    "always-equal": 3.0,  # its object equals nothing in the judge: ex1's tests fail; ex2 right
    "read-hidden-tests": 5.0,  # finds nothing, answers right
    "spy-on-tests": 5.0,  # answers right; its hook is flagged and the tests' source never reaches feedback
}
FLAGGED = {
    "os-exit",
    "kernel-crash",
    "patch-builtins",
    "spy-on-tests",
    "duplicated-grade-cells",
    "forged-metadata",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, learner_image):
    """One batch of every kind, graded by the parallel command (two sandboxes), as a grader would run it."""
    course = make_course(tmp_path_factory.mktemp("course"), image=learner_image, timeout=3)
    for kind in EXPECTED:
        submit(course, kind, submission(course, kind))
    done = subprocess.run(
        [sys.executable, "-m", "studio_grader.autograde", ASSIGNMENT, "--workers", "2"],
        cwd=course,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return course, done


def test_every_submission_is_graded_as_it_deserves_and_the_batch_goes_on(graded):
    course, done = graded
    got = scores(course)
    wrong = {kind: (got.get(kind), want) for kind, want in EXPECTED.items() if got.get(kind) != want}
    assert not wrong, f"(got, expected): {wrong}\n{done.stderr[-6000:]}"
    assert done.returncode == 1, "a submission that could not be graded makes the command fail at the end"
    reported = f"UNREADABLE invalid-json/{ASSIGNMENT}.ipynb: not a notebook we can read: it is not valid JSON"
    assert reported in done.stderr
    assert "Traceback" not in done.stderr.split("UNREADABLE invalid-json")[1].split("\n")[0]
    assert f"graded {len(EXPECTED) - 1} of {len(EXPECTED)} submissions" in done.stderr
    assert "1 unreadable, 0 failed" in done.stderr


def test_tampering_timeouts_and_crashes_are_flagged_with_reasons(graded):
    course, done = graded
    assert flagged(course) >= FLAGGED, done.stderr[-4000:]
    assert not flagged(course) & {"right", "wrong", "raising", "half"}
    err = done.stderr
    assert "flagged patch-builtins" in err and "built-in `abs` was replaced" in err
    # A class with its own == decides nothing in the judge: honest work (a Point with ==) is not flagged for it.
    assert "flagged always-equal" not in err and "own ==" not in err
    assert "flagged os-exit" in err and "exit code" in err


def test_the_progress_line_counts_done_failed_and_flagged(graded):
    _, done = graded
    last = [line for line in done.stderr.splitlines() if line.startswith("[")][-1]
    total = len(EXPECTED)
    # Over the submissions given to nbgrader: the unreadable one was reported before, never given to it.
    assert f"{total - 1}/{total - 1}" in last and "failed 0" in last and "/s" in last


def test_hidden_tests_are_nowhere_a_submission_could_see_them(graded):
    course, _ = graded
    text = strip_ansi(autograded_text(course, "read-hidden-tests"))
    assert "FOUND-ON-DISK []" in text and "FOUND-IN-MEMORY 0" in text


def feedback_html(course, student: str) -> str:
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--student", student)
    return (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


def test_feedback_names_the_failed_test_without_showing_hidden_ones(graded):
    course, _ = graded
    hidden = ["celsius_to_fahrenheit(-40)", "98.6", "seconds_to_hms(86399)"]
    caught = feedback_html(course, "patch-builtins")  # fails ex1 on a hidden test only
    assert "a hidden test failed" in caught and "hidden tests ran here" in caught
    assert not [h for h in hidden if h in caught]
    spied = feedback_html(course, "spy-on-tests")  # its hook would have printed each test's source
    assert "SPIED: assert" not in spied and not [h for h in hidden if h in spied]
    wrong = feedback_html(course, "wrong")  # a visible test fails: the feedback shows which
    assert "failed: assert celsius_to_fahrenheit(0) == 32" in wrong and not [h for h in hidden if h in wrong]


def test_nbgrader_autograde_itself_runs_in_the_sandbox(tmp_path, learner_image):
    course = make_course(tmp_path / "course", image=learner_image, timeout=3)
    submit(course, "right", submission(course, "right"))
    probe = submission(course, "right")
    probe.cells[2].source += "\nimport os\nprint('UID', os.getuid(), 'KERNEL', os.uname().release)"
    submit(course, "probe", probe)
    done = nbgrader(course, "autograde", ASSIGNMENT)
    assert scores(course) == {"probe": 5.0, "right": 5.0}, done.stderr[-3000:]
    text = autograded_text(course, "probe")
    uid = int(text.split("UID ")[1].split()[0])
    assert uid >= 200_000 and "KERNEL 4.4.0" in text, "executed under a job uid, in gVisor's kernel"


def test_a_loop_stops_at_a_limit_calibrated_from_the_instructors_solution(tmp_path, learner_image):
    """The course allows 10 s a cell. Calibrated (the default), each answer and test cell may take the solution's own
    seconds in the sandbox times 20, at least 0.5 s: a looping answer is stopped within about a second, where the
    fixed limit burns all 10. The right answer keeps its points either way, and the measure is kept per version of
    the source."""
    import json
    import time

    course = make_course(tmp_path / "course", image=learner_image, timeout=10)
    for kind in ("looping", "right"):
        submit(course, kind, submission(course, kind))
    t0 = time.monotonic()
    nbgrader(course, "autograde", ASSIGNMENT)
    calibrated = time.monotonic() - t0
    assert scores(course) == {"looping": 3.0, "right": 5.0}
    kept = json.loads((course / f".timing-{ASSIGNMENT}.json").read_text())[ASSIGNMENT]
    assert {"ex1-answer", "ex1-tests", "ex2-tests"} <= set(kept["seconds"]), kept
    assert all(0 < s < 2 for s in kept["seconds"].values()), kept

    with (course / "nbgrader_config.py").open("a") as config:
        config.write("c.SandboxedExecute.calibrate = False\n")
    t0 = time.monotonic()
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    fixed = time.monotonic() - t0
    assert scores(course) == {"looping": 3.0, "right": 5.0}
    assert fixed - calibrated > 5, (fixed, calibrated)  # the loop's 10 s, less a calibrated second


def test_a_test_cell_the_course_runs_in_process_is_its_choice_alone_and_shown(tmp_path, learner_image):
    """Where a test needs what the judge cannot carry, the source notebook opts its cell into in-process mode
    (``"studio": {"in_process": true}``): it runs in the student's interpreter, as stock nbgrader runs every cell, so an
    object of the student's decides its ``==`` there, and formgrader names the cell on every submission. A submission
    cannot opt a cell in, nor plant what formgrader shows: only the source notebook counts."""
    import nbformat

    course = make_course(tmp_path / "course", image=learner_image, timeout=3)
    source = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex1-tests":
            cell.metadata["studio"] = {"in_process": True}
    nbformat.write(nb, source)

    fool = (
        "class Fool:\n    def __eq__(self, other):\n        return True\n"
        "    def __sub__(self, other):\n        return 0\n"
    )

    def answered(ex2_fooled: bool) -> nbformat.NotebookNode:
        nb = submission(course, "right")
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id == "ex1-answer":
                cell.source = fool + "def celsius_to_fahrenheit(c):\n    return Fool()"
            if grade_id == "ex2-answer" and ex2_fooled:
                cell.source = "def seconds_to_hms(total):\n    return Fool()"
            if grade_id == "ex2-tests" and ex2_fooled:
                cell.metadata["studio"] = {"in_process": True}  # the submission's own claim
        return nb

    submit(course, "fooled", answered(ex2_fooled=False))
    forged = answered(ex2_fooled=True)
    forged.metadata["studio"] = {"in_process": ["nothing"], "needs_review": ["Reviewed by the TA: all fine"]}
    submit(course, "forged", forged)
    nbgrader(course, "autograde", ASSIGNMENT)

    # fooled: ex1's tests (2 points) ran in-process, where its object equals anything; ex2 is right (3).
    # forged: the same for ex1; its ex2 answer is the same object, and ex2's tests stayed in the judge (0 of 3).
    assert scores(course) == {"fooled": 5.0, "forged": 2.0}
    for student in ("fooled", "forged"):
        meta = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        studio = meta.metadata["studio"]
        assert studio["in_process"] == ["ex1-tests"], studio
        assert "Reviewed by the TA" not in json.dumps(studio), studio
