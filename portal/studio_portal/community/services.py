"""Writing in a course's community: threads and posts, moderation, study groups. Views check ``policy.allowed``
first; these functions check what holds whoever calls them (lengths, locks, capacity)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from wagtail.search import index as search_index

from studio_portal.courses.models import Enrollment
from studio_portal.notifications.models import Notification
from studio_portal.notifications.services import notify

from . import markup
from .models import GroupMembership, Post, StudyGroup, Thread


class CommunityError(ValueError):
    """What was wrong with a request, in words for the person who made it."""


def _text(value: str, name: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise CommunityError(f"The {name} is empty.")
    if len(value) > limit:
        raise CommunityError(f"The {name} is {len(value)} characters long; at most {limit} fit.")
    return value


def _members(course, names: set[str]) -> dict:
    """The people of ``course`` among ``names``, by username: those a post may mention."""
    if not names:
        return {}
    rows = Enrollment.objects.filter(course=course, user__username__in=names).select_related("user")
    return {e.user.username: e.user for e in rows}


def thread_url(thread: Thread) -> str:
    return reverse("forum_thread", args=[thread.course.slug, thread.pk])


def _write(*, thread: Thread, author, body: str) -> tuple[Post, set[int]]:
    """The post, and the ids of the people it mentions (each told so)."""
    body = _text(body, "post", markup.MAX_BODY)
    members = _members(thread.course, markup.mentions(body))
    if thread.group_id and members:  # a group's thread: only its members can be pointed to it
        inside = GroupMembership.objects.filter(group_id=thread.group_id, user__in=members.values())
        members = {name: u for name, u in members.items() if u.pk in set(inside.values_list("user_id", flat=True))}
    rendered = markup.render(body, set(members))
    post = Post.objects.create(thread=thread, author=author, body=body, html=rendered.html)
    users = [members[name] for name in sorted(rendered.mentioned) if members[name].pk != author.pk]
    if users:
        notify(
            users=users,
            kind=Notification.Kind.MENTION,
            url=thread_url(thread),
            text=f"{author.username} mentioned you in “{thread.title}”",
        )
    return post, {u.pk for u in users}


def _reindex(thread: Thread) -> None:
    """Search sees the thread's posts as they are now (posts change without saving the thread)."""
    transaction.on_commit(lambda: search_index.insert_or_update_object(Thread.objects.get(pk=thread.pk)))


@transaction.atomic
def thread_create(*, course, author, title: str, body: str, group: StudyGroup | None = None) -> Thread:
    thread = Thread.objects.create(course=course, author=author, title=_text(title, "title", 200), group=group)
    _write(thread=thread, author=author, body=body)
    _reindex(thread)
    return thread


@transaction.atomic
def post_create(*, thread: Thread, author, body: str) -> Post:
    """A reply. The thread's counters move in SQL (no lost update when two people reply at once)."""
    post, mentioned = _write(thread=thread, author=author, body=body)
    Thread.objects.filter(pk=thread.pk).update(
        reply_count=F("reply_count") + 1, last_activity=timezone.now(), version=F("version") + 1
    )
    _reindex(thread)
    if thread.author_id not in (author.pk, *mentioned) and thread.group_id is None:
        notify(
            users=[thread.author],
            kind=Notification.Kind.REPLY,
            url=f"{thread_url(thread)}#post-{post.pk}",
            text=f"{author.username} replied to “{thread.title}”",
        )
    return post


@transaction.atomic
def post_edit(*, post: Post, body: str) -> Post:
    body = _text(body, "post", markup.MAX_BODY)
    post.body, post.edited = body, timezone.now()
    post.html = markup.render(body, set(_members(post.thread.course, markup.mentions(body)))).html
    post.save(update_fields=["body", "html", "edited"])
    Thread.objects.filter(pk=post.thread_id).update(version=F("version") + 1)
    _reindex(post.thread)
    return post


@transaction.atomic
def answer_mark(*, thread: Thread, post: Post | None, by) -> Thread:
    """Mark ``post`` as the thread's answer (None: unmark); its author hears of it."""
    if post is not None and post.thread_id != thread.pk:
        raise CommunityError("That post belongs to another thread.")
    thread.answer = post
    thread.save(update_fields=["answer"])
    Thread.objects.filter(pk=thread.pk).update(version=F("version") + 1)
    if post is not None:
        from studio_portal.gamification.services import progress_changed  # gamification reads threads: no cycle

        progress_changed(pairs={(post.author_id, thread.course_id)})
    if post is not None and post.author_id != by.pk:
        notify(
            users=[post.author],
            kind=Notification.Kind.ANSWER,
            url=f"{thread_url(thread)}#post-{post.pk}",
            text=f"Your reply in “{thread.title}” was marked as the answer",
        )
    return thread


@transaction.atomic
def thread_moderate(
    *, thread: Thread, pinned: bool | None = None, locked: bool | None = None, hidden: bool | None = None
) -> Thread:
    changes = {k: v for k, v in {"pinned": pinned, "locked": locked, "hidden": hidden}.items() if v is not None}
    for name, value in changes.items():
        setattr(thread, name, value)
    thread.save(update_fields=list(changes))
    Thread.objects.filter(pk=thread.pk).update(version=F("version") + 1)
    return thread


@transaction.atomic
def post_set_hidden(*, post: Post, hidden: bool) -> Post:
    post.hidden = hidden
    post.save(update_fields=["hidden"])
    Thread.objects.filter(pk=post.thread_id).update(version=F("version") + 1)
    if hidden and post.thread.answer_id == post.pk:
        Thread.objects.filter(pk=post.thread_id).update(answer=None)  # a hidden post answers nothing
    _reindex(post.thread)
    return post


@transaction.atomic
def group_create(
    *, course, creator, name: str, meeting_time: str, capacity: int = 8, description: str = ""
) -> StudyGroup:
    if not 2 <= capacity <= 50:
        raise CommunityError("A study group holds between 2 and 50 people.")
    name = _text(name, "group's name", 100)
    try:
        with transaction.atomic():
            group = StudyGroup.objects.create(
                course=course,
                name=name,
                created_by=creator,
                capacity=capacity,
                meeting_time=_text(meeting_time, "meeting time", 100),
                description=(description or "").strip()[:2000],
            )
    except IntegrityError:
        raise CommunityError(f"This course already has a study group called “{name}”.") from None
    Thread.objects.create(course=course, group=group, author=creator, title=f"{name}: group thread")
    group_join(group=group, user=creator)
    return group


@transaction.atomic
def group_join(*, group: StudyGroup, user) -> StudyGroup:
    """Join, if there is room. The group's row is locked, so two people cannot take the last seat."""
    locked = StudyGroup.objects.select_for_update().get(pk=group.pk)
    if GroupMembership.objects.filter(group=locked, user=user).exists():
        return locked
    if locked.member_count >= locked.capacity:
        raise CommunityError(f"“{locked.name}” is full ({locked.capacity} people).")
    GroupMembership.objects.create(group=locked, user=user)
    locked.member_count = F("member_count") + 1
    locked.save(update_fields=["member_count"])
    locked.refresh_from_db(fields=["member_count"])
    return locked


@transaction.atomic
def group_leave(*, group: StudyGroup, user) -> StudyGroup:
    locked = StudyGroup.objects.select_for_update().get(pk=group.pk)
    if GroupMembership.objects.filter(group=locked, user=user).delete()[0]:
        locked.member_count = F("member_count") - 1
        locked.save(update_fields=["member_count"])
        locked.refresh_from_db(fields=["member_count"])
    return locked
