"""Who may do what in the exchange: a user's roles in a course come from their hub groups, which mirror the portal.

``students-<course>``, ``graders-<course>`` and ``instructors-<course>`` (see the portal's ``courses.models``).
Students act only on their own submissions and feedback; that is enforced by the service, which always uses the
caller's own name for them.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    LIST_RELEASED = "list released assignments"
    FETCH = "fetch an assignment"
    SUBMIT = "submit"
    OWN_SUBMISSIONS = "list one's own submissions and fetch one's feedback"
    RELEASE = "release or remove an assignment"
    COLLECT = "list and collect every student's submissions"
    RELEASE_FEEDBACK = "release feedback"


STUDENT, GRADER, INSTRUCTOR = "students", "graders", "instructors"
TEAM = {GRADER, INSTRUCTOR}
ALLOWED: dict[Action, set[str]] = {
    Action.LIST_RELEASED: {STUDENT, *TEAM},
    Action.FETCH: {STUDENT, *TEAM},
    Action.SUBMIT: {STUDENT},
    Action.OWN_SUBMISSIONS: {STUDENT},
    Action.RELEASE: TEAM,
    Action.COLLECT: TEAM,
    Action.RELEASE_FEEDBACK: TEAM,
}


def roles_in(groups: list[str], course: str) -> set[str]:
    return {role for role in (STUDENT, GRADER, INSTRUCTOR) if f"{role}-{course}" in groups}


def courses_of(groups: list[str]) -> set[str]:
    """Every course the user has any role in."""
    return {g.split("-", 1)[1] for g in groups if g.split("-", 1)[0] in (STUDENT, GRADER, INSTRUCTOR) and "-" in g}


def may(groups: list[str], action: Action, course: str) -> bool:
    return bool(roles_in(groups, course) & ALLOWED[action])
