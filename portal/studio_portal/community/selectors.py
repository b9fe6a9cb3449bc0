"""Reading a course's community: the forum's threads, a thread's posts, the study groups. Each list is a fixed
number of queries however much it holds (the tests count them)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q

from .models import GroupMembership, Post, StudyGroup, Thread

THREADS_PER_PAGE = 30
POSTS_PER_PAGE = 20  # as forums show them (Discourse loads 20 at a time); a page renders in a few ms


def forum_threads(*, course, user, team: bool, page: int = 1):
    """A page of the course forum's threads: pinned first, then by last activity; hidden ones for the team only
    (and for their own authors)."""
    rows = Thread.objects.filter(course=course, group=None).select_related("author")
    if not team:
        rows = rows.filter(Q(hidden=False) | Q(author=user))
    return Paginator(rows.order_by("-pinned", "-last_activity", "-id"), THREADS_PER_PAGE).get_page(page)


def thread_posts(*, thread: Thread, page: int = 1):
    rows = Post.objects.filter(thread=thread).select_related("author").order_by("created", "id")
    return Paginator(rows, POSTS_PER_PAGE).get_page(page)


def course_groups(*, course, user):
    """The course's study groups, each with ``is_member`` for ``user``."""
    mine = GroupMembership.objects.filter(group=OuterRef("pk"), user=user)
    rows = StudyGroup.objects.filter(course=course).select_related("thread")
    return rows.annotate(is_member=Exists(mine)).order_by("name")


def is_member(*, group_id: int | None, user) -> bool:
    return bool(group_id) and GroupMembership.objects.filter(group_id=group_id, user=user).exists()
