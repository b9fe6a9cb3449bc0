"""Writing grades: what the grading service sends, stored idempotently (sending the same grades twice changes
nothing; a newer report of the same student's assignment replaces the older)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from studio_wire.exchange import RECORDS, problem

from studio_portal.analytics.services import grade_event, learning_events_store
from studio_portal.catalog.models import CoursePage
from studio_portal.gamification.services import progress_changed

from .models import Assignment, Grade, State, Work

FIELDS = {"course": str, "assignment": str, "student": str, "state": str}


class GradeError(ValueError):
    pass


@dataclass
class Outcome:
    stored: int = 0
    skipped: list[str] = field(default_factory=list)  # grades of courses or people the portal does not know


def grades_store(*, grades: list[dict]) -> Outcome:
    rows = [_checked(g) for g in grades]
    courses = {c.slug: c for c in CoursePage.objects.filter(slug__in={r["course"] for r in rows})}
    users = {u.username: u for u in get_user_model().objects.filter(username__in={r["student"] for r in rows})}
    out, history, stored = Outcome(), [], []
    with transaction.atomic():
        for r in rows:
            course, student = courses.get(r["course"]), users.get(r["student"])
            if course is None or student is None:
                out.skipped.append(f"{r['course']}/{r['assignment']}/{r['student']}")
                continue
            grade, _ = Grade.objects.update_or_create(
                course=course,
                student=student,
                assignment=r["assignment"],
                defaults={
                    "state": r["state"],
                    "score": r.get("score"),
                    "max_score": r.get("max_score"),
                    "needs_manual_grade": bool(r.get("needs_manual_grade")),
                    "flagged": bool(r.get("flagged")),
                    "submission": r.get("submission") or "",
                    "submitted": r.get("timestamp") or "",
                    "graded_at": datetime.fromtimestamp(r["graded_at"], UTC) if r.get("graded_at") else None,
                    "reason": (r.get("reason") or "")[:2000],
                    "review": "\n".join(r.get("review") or []) if r["state"] == State.REVIEW else "",
                },
            )
            out.stored += 1
            stored.append(grade)
            if (event := grade_event(grade=grade)) is not None:
                history.append(event)
        learning_events_store(history, check_badges=False)  # each graded submission once: the grade history
        progress_changed(pairs={(g.student_id, g.course_id) for g in stored})  # a regrade moves points too
    return out


def _checked(g) -> dict:
    if not isinstance(g, dict):
        raise GradeError("each grade must be an object")
    for name, kind in FIELDS.items():
        if not isinstance(g.get(name), kind) or not g[name] or len(g[name]) > 150:
            raise GradeError(f"a grade needs {name!r} (text)")
    if g["state"] not in State.values:
        raise GradeError(f"state must be one of {', '.join(State.values)}, not {g['state']!r}")
    for name in ("score", "max_score", "graded_at"):
        if g.get(name) is not None and (isinstance(g[name], bool) or not isinstance(g[name], int | float)):
            raise GradeError(f"{name!r} must be a number")
    review = g.get("review")
    if review is not None and not (
        isinstance(review, list) and len(review) <= 50 and all(isinstance(r, str) and len(r) <= 1000 for r in review)
    ):
        raise GradeError("'review' must be a list of at most 50 reasons (text, 1000 characters each)")
    return g


def records_store(*, records: list) -> Outcome:
    """The exchange's records (studio_wire.exchange.RECORDS): each assignment's state and each student's work on it,
    stored as they are now (a record sent twice changes nothing); people and courses the portal does not know are
    skipped, with their names."""
    if wrong := problem(RECORDS, {"records": records}):
        raise GradeError(wrong)
    courses = {c.slug: c for c in CoursePage.objects.filter(slug__in={r["course"] for r in records})}
    names = {r["student"] for r in records if r["kind"] == "work"}
    users = {u.username: u for u in get_user_model().objects.filter(username__in=names)}
    out = Outcome()
    with transaction.atomic():
        for r in records:
            course = courses.get(r["course"])
            student = users.get(r["student"]) if r["kind"] == "work" else None
            if course is None or (r["kind"] == "work" and student is None):
                out.skipped.append("/".join(r[k] for k in ("course", "assignment", "student") if k in r))
                continue
            if r["kind"] == "assignment":
                Assignment.objects.update_or_create(
                    course=course,
                    slug=r["assignment"],
                    defaults={
                        "released": r["released"],
                        "due": _when(r.get("due")),
                        "released_at": _when(r.get("released_at")),
                        "notebooks": r.get("notebooks") or [],
                    },
                )
            else:
                assignment, _ = Assignment.objects.get_or_create(course=course, slug=r["assignment"])
                Work.objects.update_or_create(
                    assignment=assignment,
                    student=student,
                    defaults={
                        "fetched_at": _when(r.get("fetched_at")),
                        "submissions": r["submissions"],
                        "submission": r.get("submission") or "",
                        "submitted": r.get("submitted") or "",
                        "late": bool(r.get("late")),
                        "feedback": bool(r.get("feedback")),
                    },
                )
            out.stored += 1
    return out


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise GradeError(f"{text!r} is not an ISO date and time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
