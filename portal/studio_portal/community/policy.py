"""Who may do what in a course's community: one function, read as a table (role × object × action)."""

from __future__ import annotations

from enum import StrEnum

from studio_portal.courses.models import Role


class Action(StrEnum):
    VIEW = "view"  # read the forum, a thread, a study group
    START_THREAD = "start_thread"
    REPLY = "reply"
    EDIT = "edit"  # one's own post
    MARK_ANSWER = "mark_answer"
    PIN = "pin"
    LOCK = "lock"
    HIDE = "hide"
    CREATE_GROUP = "create_group"
    JOIN_GROUP = "join_group"


MODERATION = {Action.PIN, Action.LOCK, Action.HIDE}


def is_team(user, role: str | None) -> bool:
    """The course's graders and instructors, and portal staff: they moderate."""
    return role in (Role.GRADER, Role.INSTRUCTOR) or bool(getattr(user, "is_staff", False))


def allowed(user, role: str | None, action: Action, *, thread=None, post=None, member: bool = False) -> bool:
    """May ``user``, with ``role`` in the course (None: not in it), do ``action`` (on ``thread`` / ``post``)?

    ``member`` says whether the user belongs to the study group whose thread ``thread`` is.
    """
    if not user.is_authenticated:
        return False
    team = is_team(user, role)
    if role is None and not team:
        return False  # outsiders see nothing of a course's community
    if action in MODERATION:
        return team
    if action in (Action.START_THREAD, Action.CREATE_GROUP, Action.JOIN_GROUP):
        return True
    if thread is None:
        return action == Action.VIEW
    sees = team or ((not thread.hidden or thread.author_id == user.pk) and (thread.group_id is None or member))
    if action == Action.VIEW:
        return sees
    if action == Action.REPLY:
        return sees and (team or (not thread.locked and not thread.hidden))
    if action == Action.MARK_ANSWER:
        return sees and post is not None and not post.hidden and (team or thread.author_id == user.pk)
    if action == Action.EDIT:
        return sees and post is not None and post.author_id == user.pk and not post.hidden and not thread.locked
    return False
