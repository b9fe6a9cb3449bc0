"""A course's leaderboard (for its people; on it only who opted in) and joining or leaving it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from studio_portal.catalog.models import CoursePage
from studio_portal.courses.selectors import course_role

from . import leaderboard
from .models import Award, LeaderboardOptIn
from .rules import BADGES
from .services import leaderboard_join, leaderboard_leave


def _course(request, slug: str) -> CoursePage:
    course = get_object_or_404(CoursePage.objects.live(), slug=slug)
    if course_role(user=request.user, course=course) is None:
        raise PermissionDenied("only people in this course see its leaderboard")
    return course


@login_required
@require_GET
def board(request, slug: str):
    course = _course(request, slug)
    rows = leaderboard.top(course.pk, 20)
    names = dict(get_user_model().objects.filter(pk__in=[u for u, _ in rows]).values_list("pk", "username"))
    context = {
        "course": course,
        "rows": [(place, names.get(u, "?"), points, u == request.user.pk) for place, (u, points) in enumerate(rows, 1)],
        "opted_in": LeaderboardOptIn.objects.filter(user=request.user, course=course).exists(),
        "rank": leaderboard.rank(course.pk, request.user.pk),
        "badges": [(BADGES[a.badge], a.awarded) for a in Award.objects.filter(user=request.user, course=course)],
        "all_badges": BADGES.values(),
    }
    return render(request, "gamification/leaderboard.html", context)


@login_required
@require_POST
def membership(request, slug: str):
    course = _course(request, slug)
    if request.POST.get("leave") == "1":
        leaderboard_leave(user=request.user, course=course)
        messages.success(request, "You are no longer on the leaderboard.")
    else:
        leaderboard_join(user=request.user, course=course)
        messages.success(request, "You are on the leaderboard.")
    return redirect("leaderboard", slug)
