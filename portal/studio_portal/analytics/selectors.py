"""Dashboards' reads: a student's progress across their courses, and a course's funnel, exercises and at-risk list
for its team. Each is a fixed number of grouped queries over the summaries, however many students and events."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, Sum

from studio_portal.catalog.models import CoursePage, LessonPage
from studio_portal.courses.models import Enrollment, Role
from studio_portal.gamification.models import Award
from studio_portal.gamification.rules import BADGES
from studio_portal.grades.models import Grade
from studio_portal.grades.selectors import assignments_of
from studio_portal.spreadsheet import text_cell

from .models import DailyActivity, ExerciseStat
from .risk import Assessment, Signals, assess

WINDOW_DAYS = 14  # "recent" for runs and errors


def pass_fraction() -> float:
    return getattr(settings, "STUDIO_PASS_FRACTION", 0.6)


def _final(grade: Grade) -> bool:
    """Its points count: graded, and not waiting for a person's review."""
    return grade.state == "graded" and grade.score is not None and bool(grade.max_score)


def _passed(grade: Grade) -> bool:
    return _final(grade) and grade.score / grade.max_score >= pass_fraction()


def streak(days: set[date], today: date) -> int:
    """Consecutive active days ending today, or yesterday (today is not over yet)."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count, day = count + 1, day - timedelta(days=1)
    return count


# --- a student's dashboard --------------------------------------------------------------------------------------


@dataclass
class CourseProgress:
    course: CoursePage
    lessons: int = 0  # lessons with an assignment
    passed: int = 0  # of which the assignment is passed
    seconds_week: int = 0
    seconds_total: int = 0
    hints: int = 0
    exercises: int = 0
    grades: list[Grade] = field(default_factory=list)
    badges: list = field(default_factory=list)  # gamification's Badge, in the order earned
    assignments: list = field(default_factory=list)  # grades.selectors.AssignmentRow: each released one's status

    @property
    def percent(self) -> int:
        return round(100 * self.passed / self.lessons) if self.lessons else 0


@dataclass
class StudentDashboard:
    courses: list[CourseProgress]
    streak: int
    days: list[tuple[date, int]]  # the last 28 days: (day, minutes)


def student_dashboard(*, user, today: date | None = None) -> StudentDashboard:
    today = today or datetime.now(UTC).date()
    enrolled = Enrollment.objects.filter(user=user, role=Role.STUDENT, course__live=True).select_related("course")
    progress = {e.course_id: CourseProgress(e.course) for e in enrolled.order_by("course__title")}
    ids = list(progress)
    by_path = {p.course.path: cid for cid, p in progress.items()}
    for path, count in _lessons_per_course(by_path).items():
        progress[by_path[path]].lessons = count
    for g in Grade.objects.filter(student=user, course_id__in=ids).order_by("graded_at", "assignment"):
        progress[g.course_id].grades.append(g)
        progress[g.course_id].passed += _passed(g)
    week_ago = today - timedelta(days=6)
    activity = DailyActivity.objects.filter(student=user, course_id__in=ids)
    per_day: dict[date, int] = defaultdict(int)
    for a in activity.values("course_id", "day", "seconds"):
        p = progress[a["course_id"]]
        p.seconds_total += a["seconds"]
        p.seconds_week += a["seconds"] if a["day"] >= week_ago else 0
        per_day[a["day"]] += a["seconds"]
    stats = ExerciseStat.objects.filter(student=user, course_id__in=ids).values("course_id")
    for row in stats.annotate(hints=Sum("hints"), exercises=Count("id")):
        progress[row["course_id"]].hints, progress[row["course_id"]].exercises = row["hints"], row["exercises"]
    for p in progress.values():
        p.assignments = assignments_of(course=p.course, student=user)
    for award in Award.objects.filter(user=user, course_id__in=ids).order_by("awarded", "id"):
        progress[award.course_id].badges.append(BADGES[award.badge])
    days = [
        (today - timedelta(days=n), round(per_day.get(today - timedelta(days=n), 0) / 60)) for n in range(27, -1, -1)
    ]
    return StudentDashboard(list(progress.values()), streak({d for d, s in per_day.items() if s}, today), days)


def _lessons_per_course(by_path: dict[str, int]) -> dict[str, int]:
    """Course page path → its live lessons that have an assignment (a lesson's parent path is its own, one step
    shorter: one query for every course)."""
    counts: dict[str, int] = defaultdict(int)
    for path in LessonPage.objects.live().exclude(assignment="").values_list("path", flat=True):
        parent = path[: -LessonPage.steplen]
        if parent in by_path:
            counts[parent] += 1
    return counts


# --- a course's dashboard, for its team ---------------------------------------------------------------------------


@dataclass
class FunnelStep:
    lesson: LessonPage
    attempted: int
    submitted: int
    passed: int


@dataclass
class ExerciseRow:
    assignment: str
    exercise: str
    students: int
    passed: int
    attempts: int
    hints: int

    @property
    def pass_rate(self) -> float:
        return self.passed / self.students if self.students else 0.0

    @property
    def attempts_per_student(self) -> float:
        return self.attempts / self.students if self.students else 0.0

    @property
    def hint_rate(self) -> float:
        return self.hints / self.students if self.students else 0.0


@dataclass
class StudentRisk:
    username: str
    name: str
    signals: Signals
    assessment: Assessment
    last_active: date | None


@dataclass
class CourseDashboard:
    course: CoursePage
    students: int
    funnel: list[FunnelStep]
    exercises: list[ExerciseRow]
    risks: list[StudentRisk]  # every student, highest score first
    computed: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def at_risk(self) -> list[StudentRisk]:
        return [r for r in self.risks if r.assessment.at_risk]


def course_dashboard(*, course: CoursePage, now: datetime | None = None) -> CourseDashboard:
    now = now or datetime.now(UTC)
    students = list(
        Enrollment.objects.filter(course=course, role=Role.STUDENT)
        .select_related("user")
        .order_by("user__username")
        .values_list("user_id", "user__username", "user__first_name", "user__last_name")
    )
    lessons = list(course.lessons())
    stats = ExerciseStat.objects.filter(course=course)
    attempted = dict(
        stats.values("assignment").annotate(n=Count("student", distinct=True)).values_list("assignment", "n")
    )
    grades = list(Grade.objects.filter(course=course).order_by("graded_at", "assignment"))
    submitted, passed = defaultdict(int), defaultdict(int)
    by_student: dict[int, list[float]] = defaultdict(list)
    for g in grades:
        submitted[g.assignment] += 1
        passed[g.assignment] += _passed(g)
        if _final(g):
            by_student[g.student_id].append(g.score / g.max_score)
    funnel = [
        FunnelStep(lesson, attempted.get(lesson.assignment, 0), submitted[lesson.assignment], passed[lesson.assignment])
        for lesson in lessons
        if lesson.assignment
    ]
    exercise_rows = [
        ExerciseRow(r["assignment"], r["exercise"], r["students"], r["passed"], r["attempts"] or 0, r["hints"] or 0)
        for r in stats.values("assignment", "exercise")
        .order_by("assignment", "exercise")
        .annotate(
            students=Count("student"),
            passed=Count("id", filter=Q(passed=True)),
            attempts=Sum("attempts"),
            hints=Sum("hints"),
        )
    ]
    since = (now - timedelta(days=WINDOW_DAYS)).date()
    activity = {
        r["student_id"]: r
        for r in DailyActivity.objects.filter(course=course)
        .values("student_id")
        .annotate(
            last=Max("day"), runs=Sum("runs", filter=Q(day__gte=since)), errors=Sum("errors", filter=Q(day__gte=since))
        )
    }
    work = {r["student_id"]: r for r in stats.values("student_id").annotate(exercises=Count("id"), hints=Sum("hints"))}
    risks = []
    for user_id, username, first, last in students:
        a, w = activity.get(user_id), work.get(user_id, {})
        last_day = a["last"] if a else None
        inactive = (now.date() - last_day).days if last_day else None
        signals = Signals(
            days_inactive=inactive,
            runs=(a or {}).get("runs") or 0,
            errors=(a or {}).get("errors") or 0,
            exercises=w.get("exercises", 0),
            hints=w.get("hints") or 0,
            grades=tuple(by_student.get(user_id, ())),
        )
        risks.append(StudentRisk(username, f"{first} {last}".strip(), signals, assess(signals), last_day))
    risks.sort(key=lambda r: (-r.assessment.score, r.username))
    return CourseDashboard(course, len(students), funnel, exercise_rows, risks)


CSV_COLUMNS = [
    "student",
    "name",
    "risk_score",
    "at_risk",
    "reasons",
    "last_active",
    "days_inactive",
    "recent_runs",
    "recent_errors",
    "exercises",
    "hints",
    "grades",
]


def course_dashboard_csv(dashboard: CourseDashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in dashboard.risks:
        s = r.signals
        writer.writerow(
            [
                text_cell(r.username),
                text_cell(r.name),
                f"{r.assessment.score:.3f}",
                int(r.assessment.at_risk),
                "; ".join(r.assessment.reasons),
                r.last_active.isoformat() if r.last_active else "",
                "" if s.days_inactive is None else s.days_inactive,
                s.runs,
                s.errors,
                s.exercises,
                s.hints,
                " ".join(f"{g:.2f}" for g in s.grades),
            ]
        )
    return out.getvalue()
