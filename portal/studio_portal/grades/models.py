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


class Assignment(models.Model):
    """An nbgrader assignment of a course, as the exchange last reported it (released or not, its due date)."""

    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="assignments")
    slug = models.CharField(max_length=100)
    released = models.BooleanField(default=False)
    due = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    notebooks = models.JSONField(default=list)  # its notebooks' names, without .ipynb
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="one_assignment_each")]
        ordering = ["course", "slug"]

    def __str__(self) -> str:
        return f"{self.course.slug}/{self.slug}"


class Work(models.Model):
    """One student's work on an assignment, as the exchange last reported it."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="work")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignment_work")
    fetched_at = models.DateTimeField(null=True, blank=True)
    submissions = models.PositiveIntegerField(default=0)
    submission = models.CharField(max_length=100, blank=True)  # the exchange's id of the latest
    submitted = models.CharField(max_length=40, blank=True)  # its nbgrader timestamp
    late = models.BooleanField(default=False)  # the latest submission came after the due date
    feedback = models.BooleanField(default=False)  # feedback on the latest submission is released
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "student"], name="one_work_each")]
