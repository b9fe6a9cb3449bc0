"""Each student's grade per assignment, as the hub's grading service last reported it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class State(models.TextChoices):
    QUEUED = "queued"
    GRADING = "grading"
    GRADED = "graded"
    REVIEW = "review", "needs review"  # graded, but flagged: the points count once a grader has cleared the flag
    FAILED = "failed"


class Grade(models.Model):
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="grades")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grades")
    assignment = models.CharField(max_length=100)
    state = models.CharField(max_length=20, choices=State.choices)
    score = models.FloatField(null=True, blank=True)
    max_score = models.FloatField(null=True, blank=True)
    needs_manual_grade = models.BooleanField(default=False)
    flagged = models.BooleanField(default=False)
    submission = models.CharField(max_length=100, blank=True)  # the exchange's id of the graded submission
    submitted = models.CharField(max_length=40, blank=True)  # nbgrader's timestamp of it
    graded_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)  # why grading failed, in plain words
    review = models.TextField(blank=True)  # why a person must look at it (state REVIEW), a reason a line
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "student", "assignment"], name="one_grade_each")]
        ordering = ["course", "assignment", "student__username"]

    def __str__(self) -> str:
        return f"{self.student} {self.course.slug}/{self.assignment}: {self.state} {self.score}/{self.max_score}"
