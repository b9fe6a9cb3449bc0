"""AUTOTEST directives of a course's source expanded in a grading sandbox (gVisor), never on the grading service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from studio_grader.courses import CourseSpace, Sandboxes

from tests.grader.test_courses import autotest_source, generate, plant_code

pytestmark = pytest.mark.docker

# nbgrader's own example autotests.yml (its user guide's), whose setup also leaves the canary where it runs.
NBGRADER_AUTOTESTS = """python3:
    setup: |-
        from hashlib import sha1
        {plant}
    hash: 'sha1({{{{snippet}}}}.encode("utf-8")+b"{{{{salt}}}}").hexdigest()'
    dispatch: "type({{{{snippet}}}})"
    normalize: "str({{{{snippet}}}})"
    check: 'assert {{{{snippet}}}} == "{{{{value}}}}", "{{{{message}}}}"'
    success: "print('Success!')"
    templates:
        default:
            - test: "type({{{{snippet}}}})"
              fail: "type of {{{{snippet}}}} is not correct"
            - test: "{{{{snippet}}}}"
              fail: "value of {{{{snippet}}}} is not correct"
"""


def test_autotest_directives_are_expanded_in_a_grading_sandbox(learner_image, tmp_path):
    """A course's source with AUTOTEST directives generates (its tests instantiated from the values the solution
    computes), while the code that needed running, the solution's and autotests.yml's, ran in the sandbox only."""
    canary = tmp_path / "canary"
    space = CourseSpace(tmp_path / "grading", "c1", sandboxes=Sandboxes(image=learner_image))
    space.prepare()
    autotest_source(space, canary, NBGRADER_AUTOTESTS.format(plant=plant_code(canary).strip()))
    runs = generate(space, "a1")
    assert "GENERATED" in runs["a1"].stdout, runs["a1"]
    released = json.loads(Path(space.folder, "release", "a1", "a1.ipynb").read_text())
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in released["cells"]}
    test = cells["t"]
    assert "AUTOTEST" not in test and "assert" in test and "class 'int'" in test, test  # f(1) is the int 1
    assert not canary.exists(), canary.read_text()  # ran in the sandbox (its own /tmp), not here
