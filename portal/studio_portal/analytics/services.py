"""Taking in learning events, idempotently: each event is stored once by its queue id (a replayed queue, or two
hints services sending the same stream, changes nothing), and the summaries of whatever the new events touch are
recomputed from the stored events rather than incremented, so they cannot drift."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from studio_wire.events import TO_PORTAL, problem

from studio_portal.catalog.models import CoursePage
from studio_portal.gamification.services import progress_changed

from .models import DailyActivity, ExerciseStat, LearningEvent

SESSION_GAP = 300  # seconds: a longer pause between two events ends a stretch of work (counted as this much)
FIRST_EVENT = 60  # seconds counted for the first event of a stretch
MAX_BATCH = 5000
Kind = LearningEvent.Kind
RUNS = (Kind.EXECUTE, Kind.CHECK)  # a cell run, whichever cell it was


class EventError(ValueError):
    pass


@dataclass
class Outcome:
    stored: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)  # events of courses or people the portal does not know


def _checked(e) -> dict:
    if reason := problem(TO_PORTAL, e):  # studio_wire.events: the schema the hints service sends by
        raise EventError(reason)
    return e


def events_ingest(*, events: list, source: str = "hints") -> Outcome:
    """Store the hints service's events (``{"id", "kind", "student", "course", "time", ...}``)."""
    if len(events) > MAX_BATCH:
        raise EventError(f"at most {MAX_BATCH} events at once")
    rows = [_checked(e) for e in events]
    courses = {c.slug: c for c in CoursePage.objects.filter(slug__in={r["course"] for r in rows})}
    users = {u.username: u for u in get_user_model().objects.filter(username__in={r["student"] for r in rows})}
    out, new = Outcome(), []
    for r in rows:
        course, student = courses.get(r["course"]), users.get(r["student"])
        if course is None or student is None:
            out.skipped.append(f"{r['course']}/{r['student']}")
            continue
        new.append(
            LearningEvent(
                source_id=f"{source}:{r['id']}",
                student=student,
                course=course,
                kind=r["kind"],
                assignment=str(r.get("assignment") or "")[:100],
                exercise=str(r.get("exercise") or "")[:100],
                ok=r["ok"] if isinstance(r.get("ok"), bool) else None,
                time=datetime.fromtimestamp(r["time"], UTC),
            )
        )
    stored = learning_events_store(new)
    out.stored, out.duplicates = stored, len(new) - stored
    return out


@transaction.atomic
def learning_events_store(events: list[LearningEvent], *, check_badges: bool = True) -> int:
    """Store the events not stored before (by ``source_id``); recompute what they touch, badges and points too
    unless the caller re-checks them itself. Returns how many were new."""
    unique = list({e.source_id: e for e in events}.values())
    if not unique:
        return 0
    known = set(
        LearningEvent.objects.filter(source_id__in=[e.source_id for e in unique]).values_list("source_id", flat=True)
    )
    fresh = [e for e in unique if e.source_id not in known]
    # ignore_conflicts: another process storing the same events at this moment is not an error; the recomputation
    # below reads what is stored, whoever stored it.
    LearningEvent.objects.bulk_create(fresh, ignore_conflicts=True)
    _recompute_exercises({(e.student_id, e.course_id, e.assignment, e.exercise) for e in fresh if e.exercise})
    _recompute_days({(e.student_id, e.course_id, e.time.astimezone(UTC).date()) for e in fresh})
    if check_badges:
        progress_changed(pairs={(e.student_id, e.course_id) for e in fresh})  # badges and leaderboard points
    return len(fresh)


def _recompute_exercises(keys: set[tuple]) -> None:
    if not keys:
        return
    students, courses = {k[0] for k in keys}, {k[1] for k in keys}
    exercises = {k[3] for k in keys}
    rows = (
        LearningEvent.objects.filter(student_id__in=students, course_id__in=courses, exercise__in=exercises)
        .values("student_id", "course_id", "assignment", "exercise")
        .annotate(
            attempts=Count("id", filter=Q(kind=Kind.EXECUTE)),
            errors=Count("id", filter=Q(kind=Kind.EXECUTE, ok=False)),
            hints=Count("id", filter=Q(kind=Kind.HINT_SHOWN)),
            # A pass is the exercise's own tests passing, not a run without an error (a function that prints instead
            # of returning runs without one).
            passes=Count("id", filter=Q(kind=Kind.CHECK, ok=True)),
            first=Min("time"),
            last=Max("time"),
        )
    )
    for r in rows:
        key = (r["student_id"], r["course_id"], r["assignment"], r["exercise"])
        if key not in keys:
            continue
        ExerciseStat.objects.update_or_create(
            student_id=key[0],
            course_id=key[1],
            assignment=key[2],
            exercise=key[3],
            defaults={
                "attempts": r["attempts"],
                "errors": r["errors"],
                "hints": r["hints"],
                "passed": r["passes"] > 0,
                "first": r["first"],
                "last": r["last"],
            },
        )


def _recompute_days(keys: set[tuple[int, int, date]]) -> None:
    if not keys:
        return
    days = {k[2] for k in keys}
    start = datetime.combine(min(days), datetime.min.time(), UTC)
    end = datetime.combine(max(days) + timedelta(days=1), datetime.min.time(), UTC)
    rows = (
        LearningEvent.objects.filter(
            student_id__in={k[0] for k in keys}, course_id__in={k[1] for k in keys}, time__gte=start, time__lt=end
        )
        .order_by("time")
        .values_list("student_id", "course_id", "time", "kind", "ok")
    )
    per_day: dict[tuple, list] = defaultdict(list)
    for student, course, when, kind, ok in rows:
        key = (student, course, when.astimezone(UTC).date())
        if key in keys:
            per_day[key].append((when, kind, ok))
    for (student, course, day), events in per_day.items():
        seconds, previous = 0, None
        for when, _, _ in events:
            gap = (when - previous).total_seconds() if previous else None
            seconds += FIRST_EVENT if gap is None or gap > SESSION_GAP else int(gap)
            previous = when
        DailyActivity.objects.update_or_create(
            student_id=student,
            course_id=course,
            day=day,
            defaults={
                "events": len(events),
                "runs": sum(k in RUNS for _, k, _ in events),
                "errors": sum(k in RUNS and ok is False for _, k, ok in events),
                "hints": sum(k == Kind.HINT_SHOWN for _, k, _ in events),
                "seconds": seconds,
            },
        )


def grade_event(*, grade) -> LearningEvent | None:
    """The learning event of a graded submission (one per submission: a regrade of it replaces nothing)."""
    if grade.state != "graded" or not grade.max_score or grade.score is None:
        return None
    return LearningEvent(
        source_id=f"grade:{grade.course_id}/{grade.assignment}/{grade.student_id}/"
        f"{grade.submission or grade.submitted}",
        student_id=grade.student_id,
        course_id=grade.course_id,
        kind=Kind.GRADED,
        assignment=grade.assignment,
        ok=grade.score >= grade.max_score,
        score=grade.score / grade.max_score,
        time=grade.graded_at or datetime.now(UTC),
    )
