"""Awarding badges and keeping leaderboard points: called by what changes the facts (grades, learning events,
a forum answer) for the people and courses it touched. Idempotent: a badge is awarded once, points are recomputed."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.urls import reverse

from studio_portal.analytics.models import DailyActivity
from studio_portal.community.models import Thread
from studio_portal.grades.models import Grade
from studio_portal.notifications.models import Notification
from studio_portal.notifications.services import notify

from . import leaderboard
from .models import Award, LeaderboardOptIn
from .rules import BADGES, POINTS_PER_BADGE, Facts, earned


def progress_changed(*, pairs: set[tuple[int, int]]) -> list[Award]:
    """Re-check the badges and points of these (user id, course id) pairs; returns the badges newly awarded."""
    if not pairs:
        return []
    users, courses = {u for u, _ in pairs}, {c for _, c in pairs}
    graded = Grade.objects.filter(student_id__in=users, course_id__in=courses, state="graded", max_score__gt=0)
    counts = {
        (r["student_id"], r["course_id"]): r
        for r in graded.values("student_id", "course_id").annotate(
            n=Count("id"), perfect=Count("id", filter=Q(score__gte=F("max_score")))
        )
    }
    fractions: dict[tuple[int, int], float] = defaultdict(float)
    for student, course, score, top in graded.values_list("student_id", "course_id", "score", "max_score"):
        fractions[(student, course)] += (score or 0) / top
    days: dict[tuple[int, int], set[date]] = defaultdict(set)
    active = DailyActivity.objects.filter(student_id__in=users, course_id__in=courses, events__gt=0)
    for student, course, day in active.values_list("student_id", "course_id", "day"):
        days[(student, course)].add(day)
    answers = (
        Thread.objects.filter(course_id__in=courses, answer__author_id__in=users, answer__hidden=False)
        .exclude(author_id=F("answer__author_id"))
        .values("answer__author_id", "course_id")
        .annotate(n=Count("id"))
    )
    helped = {(r["answer__author_id"], r["course_id"]): r["n"] for r in answers}
    have: dict[tuple[int, int], set[str]] = defaultdict(set)
    for user, course, badge in Award.objects.filter(user_id__in=users, course_id__in=courses).values_list(
        "user_id", "course_id", "badge"
    ):
        have[(user, course)].add(badge)
    opted = {
        (o.user_id, o.course_id): o for o in LeaderboardOptIn.objects.filter(user_id__in=users, course_id__in=courses)
    }
    new = []
    for pair in pairs:
        c = counts.get(pair, {})
        facts = Facts(
            graded=c.get("n", 0),
            perfect=c.get("perfect", 0),
            active_days=frozenset(days[pair]),
            answers_for_peers=helped.get(pair, 0),
        )
        for badge in sorted(earned(facts) - have[pair]):
            award = _award(pair, badge)
            if award is not None:
                new.append(award)
                have[pair].add(badge)
        if pair in opted:
            _set_points(opted[pair], round(100 * fractions[pair]) + POINTS_PER_BADGE * len(have[pair]))
    return new


def _award(pair: tuple[int, int], badge: str) -> Award | None:
    try:
        with transaction.atomic():
            award = Award.objects.create(user_id=pair[0], course_id=pair[1], badge=badge)
    except IntegrityError:
        return None  # awarded by another process a moment ago
    award = Award.objects.select_related("user", "course").get(pk=award.pk)
    notify(
        users=[award.user],
        kind=Notification.Kind.BADGE,
        url=reverse("leaderboard", args=[award.course.slug]),
        text=f"You earned the badge “{BADGES[badge].name}” in {award.course.title}",
    )
    return award


def _set_points(opt_in: LeaderboardOptIn, points: int) -> None:
    if opt_in.points != points:
        LeaderboardOptIn.objects.filter(pk=opt_in.pk).update(points=points)
    transaction.on_commit(lambda: leaderboard.put(opt_in.course_id, opt_in.user_id, points))


@transaction.atomic
def leaderboard_join(*, user, course) -> LeaderboardOptIn:
    opt_in, _ = LeaderboardOptIn.objects.get_or_create(user=user, course=course)
    progress_changed(pairs={(user.pk, course.pk)})
    opt_in.refresh_from_db()
    transaction.on_commit(lambda: leaderboard.put(course.pk, user.pk, opt_in.points))
    return opt_in


@transaction.atomic
def leaderboard_leave(*, user, course) -> None:
    LeaderboardOptIn.objects.filter(user=user, course=course).delete()
    transaction.on_commit(lambda: leaderboard.remove(course.pk, user.pk))
