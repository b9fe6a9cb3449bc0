"""Who may do what in the exchange, as a table: role × action × course."""

from __future__ import annotations

import pytest

from studio_hub.exchange.policy import Action, courses_of, may

ROLES = {
    "student": ["students-intro"],
    "grader": ["graders-intro"],
    "instructor": ["instructors-intro"],
    "student elsewhere": ["students-other"],
    "nobody": [],
    "look-alike group": ["students-intro-advanced", "intro-students"],
}
A = Action
# role → the actions allowed in course "intro"; in any other course, nothing.
ALLOWED = {
    "student": {A.LIST_RELEASED, A.FETCH, A.SUBMIT, A.OWN_SUBMISSIONS},
    "grader": {A.LIST_RELEASED, A.FETCH, A.RELEASE, A.COLLECT, A.RELEASE_FEEDBACK},
    "instructor": {A.LIST_RELEASED, A.FETCH, A.RELEASE, A.COLLECT, A.RELEASE_FEEDBACK},
    "student elsewhere": set(),
    "nobody": set(),
    "look-alike group": set(),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("course", ["intro", "other-course"])
def test_policy_table(role, action, course):
    expected = action in ALLOWED[role] if course == "intro" else False
    assert may(ROLES[role], action, course) is expected


def test_courses_of():
    assert courses_of(["students-intro", "graders-ds-101", "portal-staff", "students"]) == {"intro", "ds-101"}
