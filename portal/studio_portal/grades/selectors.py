"""Reading grades: a student's own, or a whole course's for its graders and instructors."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings

from studio_portal.spreadsheet import text_cell

from .models import Assignment, Grade, State, Work

CSV_COLUMNS = [
    "student",
    "assignment",
    "state",
    "score",
    "max_score",
    "needs_manual_grade",
    "flagged",
    "submitted",
    "graded_at",
    "review",
]


def grades_of(*, course, student=None):
    rows = Grade.objects.filter(course=course).select_related("student")
    return rows.filter(student=student) if student is not None else rows


def grades_csv(*, course) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for g in grades_of(course=course):
        writer.writerow(
            [
                text_cell(g.student.username),
                text_cell(g.assignment),
                g.state,
                _num(g.score),
                _num(g.max_score),
                int(g.needs_manual_grade),
                int(g.flagged),
                g.submitted,
                g.graded_at.isoformat() if g.graded_at else "",
                text_cell("; ".join(g.review.splitlines())),
            ]
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


# --- assignments: each student's status, and each assignment's numbers for the course team ------------------------

# A student's status of an assignment, from the exchange's record of their work and the grading service's grade.
STATUS_LABELS = {
    "not-fetched": "Not fetched",
    "fetched": "Fetched",
    "submitted": "Submitted",
    "grading": "Being graded",
    "failed": "Not graded",
    "review": "Needs review",
    "graded": "Graded",
    "feedback": "Feedback ready",
}


@dataclass
class AssignmentRow:
    assignment: Assignment
    status: str  # a key of STATUS_LABELS
    late: bool = False
    grade: Grade | None = None

    @property
    def open_url(self) -> str:
        """Where the hub opens it: user-redirect logs in and starts the server, our extension fetches the assignment
        if the learner has no copy yet and opens its notebook (studio_ext.assignments)."""
        a = self.assignment
        return f"{settings.STUDIO_HUB_URL}/hub/user-redirect/studio/assignments/{a.course.slug}/{quote(a.slug)}"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def score(self) -> str:
        """The points, where there are final ones (or ones waiting for review, said so)."""
        g = self.grade
        if g is None or g.score is None or g.state not in (State.GRADED, State.REVIEW):
            return ""
        text = f"{g.score:g} / {g.max_score:g}" if g.max_score is not None else f"{g.score:g}"
        return text + (" (not final)" if g.state == State.REVIEW else "")


def status_of(work: Work | None, grade: Grade | None) -> str:
    if work is not None and work.feedback:
        return "feedback"
    if grade is not None and (work is None or not work.submission or grade.submission == work.submission):
        state = {State.QUEUED: "grading", State.GRADING: "grading", State.FAILED: "failed"}.get(grade.state)
        return state or ("review" if grade.state == State.REVIEW else "graded")
    if work is not None and work.submissions:
        return "submitted"
    return "fetched" if work is not None and work.fetched_at else "not-fetched"


def assignments_of(*, course, student) -> list[AssignmentRow]:
    """Every released assignment of ``course`` (and any the student worked on since), with their status."""
    from django.db.models import Q

    assignments = Assignment.objects.filter(course=course).filter(Q(released=True) | Q(work__student=student))
    work = {w.assignment_id: w for w in Work.objects.filter(assignment__course=course, student=student)}
    grades = {g.assignment: g for g in Grade.objects.filter(course=course, student=student)}
    rows = []
    for a in assignments.distinct().order_by("due", "slug"):
        w, g = work.get(a.id), grades.get(a.slug)
        rows.append(AssignmentRow(a, status_of(w, g), late=bool(w and w.late and w.submissions), grade=g))
    return rows


@dataclass
class AssignmentSummary:
    assignment: Assignment
    students: int
    fetched: int
    submitted: int
    late: int
    graded: int
    review: int
    failed: int


def assignment_summaries(*, course) -> list[AssignmentSummary]:
    """Per assignment of ``course``: how many of its students fetched, submitted (late), were graded, need review."""
    from studio_portal.courses.models import Enrollment, Role

    students = set(Enrollment.objects.filter(course=course, role=Role.STUDENT).values_list("user_id", flat=True))
    grades = defaultdict(list)
    for g in Grade.objects.filter(course=course, student_id__in=students):
        grades[g.assignment].append(g)
    out = []
    for a in Assignment.objects.filter(course=course).prefetch_related("work").order_by("due", "slug"):
        work = [w for w in a.work.all() if w.student_id in students]
        states = [g.state for g in grades.get(a.slug, [])]
        out.append(
            AssignmentSummary(
                assignment=a,
                students=len(students),
                fetched=sum(1 for w in work if w.fetched_at or w.submissions),
                submitted=sum(1 for w in work if w.submissions),
                late=sum(1 for w in work if w.submissions and w.late),
                graded=states.count(State.GRADED),
                review=states.count(State.REVIEW),
                failed=states.count(State.FAILED),
            )
        )
    return out
