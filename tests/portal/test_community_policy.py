"""Who may do what in a course's community, as a table: role × object × action → allowed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio_portal.community.policy import Action, allowed

ASKER, OTHER = 1, 2  # user ids: the thread's author, and someone else


def user(pk: int = OTHER, *, staff: bool = False, anonymous: bool = False):
    return SimpleNamespace(pk=pk, is_staff=staff, is_authenticated=not anonymous)


def thread(*, locked=False, hidden=False, group=None):
    return SimpleNamespace(author_id=ASKER, locked=locked, hidden=hidden, group_id=group)


def post(*, author=OTHER, hidden=False):
    return SimpleNamespace(author_id=author, hidden=hidden)


OPEN, LOCKED, HIDDEN, GROUP = thread(), thread(locked=True), thread(hidden=True), thread(group=7)

S, G, T = "student", "grader", "instructor"  # T: teacher
A = Action
CASES = [
    # who (user, role), what, object(s), member of the group?, allowed?
    # --- outsiders and anonymous visitors see and do nothing
    (user(anonymous=True), None, A.VIEW, {}, False, False),
    (user(), None, A.VIEW, {}, False, False),
    (user(), None, A.VIEW, {"thread": OPEN}, False, False),
    (user(), None, A.START_THREAD, {}, False, False),
    (user(), None, A.REPLY, {"thread": OPEN}, False, False),
    (user(), None, A.JOIN_GROUP, {}, False, False),
    # --- students
    (user(), S, A.VIEW, {}, False, True),
    (user(), S, A.START_THREAD, {}, False, True),
    (user(), S, A.CREATE_GROUP, {}, False, True),
    (user(), S, A.JOIN_GROUP, {}, False, True),
    (user(), S, A.VIEW, {"thread": OPEN}, False, True),
    (user(), S, A.REPLY, {"thread": OPEN}, False, True),
    (user(), S, A.REPLY, {"thread": LOCKED}, False, False),
    (user(), S, A.VIEW, {"thread": LOCKED}, False, True),
    (user(), S, A.VIEW, {"thread": HIDDEN}, False, False),
    (user(ASKER), S, A.VIEW, {"thread": HIDDEN}, False, True),  # the author still sees it, hidden
    (user(ASKER), S, A.REPLY, {"thread": HIDDEN}, False, False),
    (user(), S, A.VIEW, {"thread": GROUP}, False, False),  # a study group's thread: members only
    (user(), S, A.VIEW, {"thread": GROUP}, True, True),
    (user(), S, A.REPLY, {"thread": GROUP}, True, True),
    (user(), S, A.MARK_ANSWER, {"thread": OPEN, "post": post()}, False, False),
    (user(ASKER), S, A.MARK_ANSWER, {"thread": OPEN, "post": post()}, False, True),  # the asker accepts
    (user(ASKER), S, A.MARK_ANSWER, {"thread": OPEN, "post": post(hidden=True)}, False, False),
    (user(), S, A.EDIT, {"thread": OPEN, "post": post()}, False, True),
    (user(ASKER), S, A.EDIT, {"thread": OPEN, "post": post()}, False, False),  # someone else's post
    (user(), S, A.EDIT, {"thread": LOCKED, "post": post()}, False, False),
    (user(), S, A.EDIT, {"thread": OPEN, "post": post(hidden=True)}, False, False),
    (user(ASKER), S, A.PIN, {"thread": OPEN}, False, False),
    (user(ASKER), S, A.LOCK, {"thread": OPEN}, False, False),
    (user(ASKER), S, A.HIDE, {"thread": OPEN}, False, False),
    # --- graders and instructors moderate
    *[
        (user(), role, action, {"thread": t}, False, True)
        for role in (G, T)
        for action in (A.PIN, A.LOCK, A.HIDE, A.VIEW, A.REPLY)
        for t in (OPEN, LOCKED, HIDDEN, GROUP)
    ],
    (user(), T, A.MARK_ANSWER, {"thread": OPEN, "post": post()}, False, True),
    (user(), G, A.MARK_ANSWER, {"thread": OPEN, "post": post()}, False, True),
    (user(), T, A.EDIT, {"thread": OPEN, "post": post(author=ASKER)}, False, False),  # moderators hide, never rewrite
    # --- portal staff moderate every course, enrolled or not
    (user(staff=True), None, A.VIEW, {"thread": HIDDEN}, False, True),
    (user(staff=True), None, A.LOCK, {"thread": OPEN}, False, True),
    (user(staff=True, anonymous=True), None, A.VIEW, {}, False, False),
]


@pytest.mark.parametrize(("who", "role", "action", "objects", "member", "expected"), CASES)
def test_policy(who, role, action, objects, member, expected):
    assert allowed(who, role, action, member=member, **objects) is expected
