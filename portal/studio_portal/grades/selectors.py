"""Reading grades: a student's own, or a whole course's for its graders and instructors."""

from __future__ import annotations

import csv
import io

from studio_portal.spreadsheet import text_cell

from .models import Grade

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
