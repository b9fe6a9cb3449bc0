"""The course forum, its threads, moderation, and study groups: thin views over ``policy``, ``services`` and
``selectors``. Every write is a POST with CSRF, rate-limited per user."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.decorators import ratelimit

from studio_portal.catalog.models import CoursePage
from studio_portal.courses.selectors import course_role
from studio_portal.grades.models import Grade

from . import reviews, selectors, services
from .models import Post, ReviewComment, ReviewRequest, StudyGroup, Thread
from .policy import Action, allowed, is_team


class _Course:
    """The course in the URL, and who the visitor is in it."""

    def __init__(self, request, slug: str):
        self.user = request.user
        self.course = get_object_or_404(CoursePage.objects.live(), slug=slug)
        self.role = course_role(user=request.user, course=self.course)
        self.team = is_team(request.user, self.role)

    def require(self, action: Action, **objects) -> None:
        if not allowed(self.user, self.role, action, **objects):
            raise PermissionDenied(f"you may not {action.value.replace('_', ' ')} here")

    def thread(self, pk: int, action: Action = Action.VIEW) -> tuple[Thread, bool]:
        thread = get_object_or_404(Thread.objects.select_related("author", "group"), pk=pk, course=self.course)
        member = selectors.is_member(group_id=thread.group_id, user=self.user)
        if not allowed(self.user, self.role, Action.VIEW, thread=thread, member=member):
            raise PermissionDenied("you may not read this thread")  # 403, not 404: the course is known anyway
        if action != Action.VIEW:
            self.require(action, thread=thread, member=member)
        return thread, member


def _page(request) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def _back(thread: Thread, anchor: str = "") -> str:
    return reverse("forum_thread", args=[thread.course.slug, thread.pk]) + anchor


# One budget for every kind of writing (threads, replies, edits, new groups), per person.
_post_rate = ratelimit(
    group="studio.post", key="user", rate=lambda group, request: settings.STUDIO_POST_RATE, method="POST", block=True
)


@login_required
@require_GET
def forum(request, slug: str):
    c = _Course(request, slug)
    c.require(Action.VIEW)
    threads = selectors.forum_threads(course=c.course, user=request.user, team=c.team, page=_page(request))
    return render(request, "community/forum.html", {"course": c.course, "threads": threads, "team": c.team})


@login_required
@require_POST
@_post_rate
def thread_new(request, slug: str):
    c = _Course(request, slug)
    c.require(Action.START_THREAD)
    try:
        thread = services.thread_create(
            course=c.course, author=request.user, title=request.POST.get("title", ""), body=request.POST.get("body", "")
        )
    except services.CommunityError as e:
        threads = selectors.forum_threads(course=c.course, user=request.user, team=c.team)
        context = {"course": c.course, "threads": threads, "team": c.team, "error": str(e), "form": request.POST}
        return render(request, "community/forum.html", context, status=400)
    return redirect(_back(thread))


@login_required
@require_GET
def thread(request, slug: str, pk: int):
    c = _Course(request, slug)
    thread, member = c.thread(pk)
    return _thread_page(request, c, thread, member)


def _thread_page(request, c: _Course, thread: Thread, member: bool, *, error: str = "", status: int = 200):
    posts = selectors.thread_posts(thread=thread, page=_page(request))
    can = {
        a.value: allowed(request.user, c.role, a, thread=thread, member=member)
        for a in (Action.REPLY, Action.PIN, Action.LOCK, Action.HIDE)
    }
    can["mark_answer"] = c.team or thread.author_id == request.user.pk
    # The posts are one cached fragment per thread version, page and kind of viewer (who sees which buttons); its
    # buttons submit forms outside it, so it holds nobody's CSRF token.
    viewer = "team" if c.team else "asker" if can["mark_answer"] else "reader"
    context = {
        "course": c.course,
        "thread": thread,
        "posts": posts,
        "can": can,
        "team": c.team,
        "error": error,
        "form": request.POST if error else {},
        "base": _back(thread),
        "viewer": viewer,
        "seconds": settings.STUDIO_FRAGMENT_CACHE_SECONDS,
    }
    return render(request, "community/thread.html", context, status=status)


@login_required
@require_POST
@_post_rate
def reply(request, slug: str, pk: int):
    c = _Course(request, slug)
    thread, member = c.thread(pk, Action.REPLY)
    try:
        post = services.post_create(thread=thread, author=request.user, body=request.POST.get("body", ""))
    except services.CommunityError as e:
        return _thread_page(request, c, thread, member, error=str(e), status=400)
    return redirect(_back(thread, f"#post-{post.pk}"))


@login_required
@require_POST
@_post_rate
def post_edit(request, slug: str, pk: int, post_pk: int):
    c = _Course(request, slug)
    thread, member = c.thread(pk)
    post = get_object_or_404(Post, pk=post_pk, thread=thread)
    c.require(Action.EDIT, thread=thread, post=post, member=member)
    try:
        services.post_edit(post=post, body=request.POST.get("body", ""))
    except services.CommunityError as e:
        return _thread_page(request, c, thread, member, error=str(e), status=400)
    return redirect(_back(thread, f"#post-{post.pk}"))


@login_required
@require_POST
def mark_answer(request, slug: str, pk: int, post_pk: int):
    c = _Course(request, slug)
    thread, member = c.thread(pk)
    post = get_object_or_404(Post, pk=post_pk, thread=thread)
    c.require(Action.MARK_ANSWER, thread=thread, post=post, member=member)
    unmark = request.POST.get("unmark") == "1"
    services.answer_mark(thread=thread, post=None if unmark else post, by=request.user)
    return redirect(_back(thread, f"#post-{post.pk}"))


# action → (the thread's field, its new value, the permission it takes)
@login_required
@require_POST
def post_action(request, slug: str, pk: int):
    """The thread page's buttons: ``answer``/``unmark`` or ``hide``/``show`` with a post's id as the value."""
    for name in ("answer", "unmark", "hide", "show"):
        if request.POST.get(name, "").isdigit():
            post_pk = int(request.POST[name])
            break
    else:
        return HttpResponseBadRequest("which post?")
    if name in ("answer", "unmark"):
        request.POST = request.POST.copy()
        request.POST["unmark"] = "1" if name == "unmark" else ""
        return mark_answer(request, slug, pk, post_pk)
    request.POST = request.POST.copy()
    request.POST["hidden"] = "1" if name == "hide" else "0"
    return post_hide(request, slug, pk, post_pk)


MODERATION = {
    "pin": ("pinned", True, Action.PIN),
    "unpin": ("pinned", False, Action.PIN),
    "lock": ("locked", True, Action.LOCK),
    "unlock": ("locked", False, Action.LOCK),
    "hide": ("hidden", True, Action.HIDE),
    "unhide": ("hidden", False, Action.HIDE),
}


@login_required
@require_POST
def moderate(request, slug: str, pk: int):
    c = _Course(request, slug)
    thread, member = c.thread(pk)
    what = request.POST.get("action", "")
    if what not in MODERATION:
        return _thread_page(request, c, thread, member, error=f"Unknown action {what[:20]!r}.", status=400)
    field, value, permission = MODERATION[what]
    c.require(permission, thread=thread)
    services.thread_moderate(thread=thread, **{field: value})
    messages.success(request, f"Done: {what}.")
    return redirect(_back(thread))


@login_required
@require_POST
def post_hide(request, slug: str, pk: int, post_pk: int):
    c = _Course(request, slug)
    thread, _ = c.thread(pk)
    c.require(Action.HIDE, thread=thread)
    post = get_object_or_404(Post, pk=post_pk, thread=thread)
    services.post_set_hidden(post=post, hidden=request.POST.get("hidden", "1") == "1")
    return redirect(_back(thread, f"#post-{post.pk}"))


# --- study groups -----------------------------------------------------------------------------------------------


@login_required
@require_GET
def groups(request, slug: str):
    c = _Course(request, slug)
    c.require(Action.VIEW)
    rows = selectors.course_groups(course=c.course, user=request.user)
    return render(request, "community/groups.html", {"course": c.course, "groups": rows})


@login_required
@require_POST
@_post_rate
def group_new(request, slug: str):
    c = _Course(request, slug)
    c.require(Action.CREATE_GROUP)
    try:
        capacity = int(request.POST.get("capacity") or 8)
        group = services.group_create(
            course=c.course,
            creator=request.user,
            name=request.POST.get("name", ""),
            meeting_time=request.POST.get("meeting_time", ""),
            capacity=capacity,
            description=request.POST.get("description", ""),
        )
    except (ValueError, services.CommunityError) as e:
        error = str(e) if isinstance(e, services.CommunityError) else "The capacity must be a whole number."
        rows = selectors.course_groups(course=c.course, user=request.user)
        context = {"course": c.course, "groups": rows, "error": error, "form": request.POST}
        return render(request, "community/groups.html", context, status=400)
    messages.success(request, f"You started “{group.name}”.")
    return redirect(_back(group.thread))


@login_required
@require_POST
def group_membership(request, slug: str, group_pk: int):
    c = _Course(request, slug)
    c.require(Action.JOIN_GROUP)
    group = get_object_or_404(StudyGroup, pk=group_pk, course=c.course)
    if request.POST.get("leave") == "1":
        services.group_leave(group=group, user=request.user)
        messages.success(request, f"You left “{group.name}”.")
        return redirect("groups", slug)
    try:
        services.group_join(group=group, user=request.user)
    except services.CommunityError as e:
        messages.error(request, str(e))
        return redirect("groups", slug)
    messages.success(request, f"You joined “{group.name}”.")
    return redirect(_back(group.thread))


# --- peer code review ---------------------------------------------------------------------------------------------


def _review(c: _Course, pk: int):
    review = get_object_or_404(ReviewRequest.objects.select_related("author"), pk=pk, course=c.course)
    c.require(Action.VIEW)
    if review.hidden and not (c.team or review.author_id == c.user.pk):
        raise PermissionDenied("this review was hidden by the course team")
    return review


@login_required
@require_GET
def reviews_page(request, slug: str):
    return _reviews_page(request, _Course(request, slug))


def _reviews_page(request, c: _Course, *, error: str = "", status: int = 200):
    c.require(Action.VIEW)
    rows = ReviewRequest.objects.filter(course=c.course).select_related("author").annotate(n=Count("comments"))
    if not c.team:
        rows = rows.filter(Q(hidden=False) | Q(author=request.user))
    mine = Grade.objects.filter(course=c.course, student=request.user).values_list("assignment", flat=True)
    context = {"course": c.course, "reviews": rows[:100], "assignments": sorted(set(mine)), "error": error}
    return render(request, "community/reviews.html", context, status=status)


@login_required
@require_POST
@_post_rate
def review_new(request, slug: str):
    c = _Course(request, slug)
    c.require(Action.START_THREAD)
    # Refused before Django reads the body (a multipart upload is spooled whole before request.FILES answers).
    if int(request.META.get("CONTENT_LENGTH") or 0) > reviews.MAX_NOTEBOOK + reviews.MAX_FORM:
        return _reviews_page(request, c, error=reviews.too_large(int(request.META["CONTENT_LENGTH"])), status=413)
    upload = request.FILES.get("notebook")
    try:
        if upload is None:
            raise reviews.CommunityError("Choose the notebook file to share.")
        if upload.size > reviews.MAX_NOTEBOOK:
            raise reviews.CommunityError(reviews.too_large(upload.size))
        review = reviews.review_request_create(
            course=c.course,
            author=request.user,
            raw=upload.read(),
            assignment=request.POST.get("assignment", ""),
            note=request.POST.get("note", ""),
        )
    except reviews.CommunityError as e:
        return _reviews_page(request, c, error=str(e), status=400)
    return redirect(reviews.review_url(review))


@login_required
@require_GET
def review(request, slug: str, pk: int):
    c = _Course(request, slug)
    review = _review(c, pk)
    comments = defaultdict(list)
    for comment in review.comments.select_related("author"):
        comments[comment.cell].append(comment)
    cells = [(i, cell, comments.get(i, [])) for i, cell in enumerate(review.cells)]
    context = {
        "course": c.course,
        "review": review,
        "cells": cells,
        "team": c.team,
        "can_comment": not review.closed and not review.hidden,
    }
    return render(request, "community/review.html", context)


@login_required
@require_POST
@_post_rate
def review_comment(request, slug: str, pk: int):
    c = _Course(request, slug)
    review = _review(c, pk)
    try:
        cell = int(request.POST.get("cell", "-1"))
        reviews.review_comment_create(review=review, author=request.user, cell=cell, body=request.POST.get("body", ""))
    except ValueError as e:  # CommunityError is one
        messages.error(request, str(e) if isinstance(e, reviews.CommunityError) else "Which cell?")
        return redirect(reviews.review_url(review))
    return redirect(f"{reviews.review_url(review)}#cell-{cell}")


REVIEW_MODERATION = {
    "close": ("closed", True),
    "reopen": ("closed", False),
    "hide": ("hidden", True),
    "unhide": ("hidden", False),
}


@login_required
@require_POST
def review_moderate(request, slug: str, pk: int):
    c = _Course(request, slug)
    review = _review(c, pk)
    c.require(Action.HIDE)
    comment_pk = request.POST.get("comment")
    if comment_pk:
        comment = get_object_or_404(ReviewComment, pk=comment_pk, request=review)
        comment.hidden = request.POST.get("hidden", "1") == "1"
        comment.save(update_fields=["hidden"])
        return redirect(f"{reviews.review_url(review)}#cell-{comment.cell}")
    what = request.POST.get("action", "")
    if what not in REVIEW_MODERATION:
        raise PermissionDenied("unknown moderation action")
    field, value = REVIEW_MODERATION[what]
    setattr(review, field, value)
    review.save(update_fields=[field])
    return redirect(reviews.review_url(review))
