"""Learning analytics: the events as they arrived (once each, by their queue id), and per-student summaries
recomputed from them, so dashboards read a few small rows instead of every event."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LearningEvent(models.Model):
    class Kind(models.TextChoices):
        EXECUTE = "execute"  # a cell ran (ok, or the error's class)
        CHECK = "check"  # an exercise's visible tests ran: ok, they passed
        HINT_ASKED = "hint-asked"
        HINT_SHOWN = "hint-shown"
        VALIDATE = "validate"
        SUBMIT = "submit"
        GRADED = "graded"  # a submission's grade arrived from the grading service

    source_id = models.CharField(max_length=200, unique=True)  # the queue's id: replays are recognised by it
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learning_events")
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="learning_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    assignment = models.CharField(max_length=100, blank=True)
    exercise = models.CharField(max_length=100, blank=True)
    ok = models.BooleanField(null=True)
    score = models.FloatField(null=True)  # GRADED: the fraction of points, 0..1
    time = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["student", "course", "time"], name="events_of_student")]


class ExerciseStat(models.Model):
    """One student's work on one exercise, summarised from their events."""

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="+")
    assignment = models.CharField(max_length=100)
    exercise = models.CharField(max_length=100)
    attempts = models.PositiveIntegerField(default=0)  # runs of the exercise's answer cell
    errors = models.PositiveIntegerField(default=0)  # runs of it that ended in an error
    hints = models.PositiveIntegerField(default=0)  # hints shown
    passed = models.BooleanField(default=False)  # its visible tests passed at least once (a "check" event)
    first = models.DateTimeField()
    last = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["student", "course", "assignment", "exercise"], name="one_stat_per_exercise"
            )
        ]
        indexes = [models.Index(fields=["course", "assignment", "exercise"], name="stats_of_exercise")]


class DailyActivity(models.Model):
    """One student's day in one course: how much they did, and an estimate of the time it took."""

    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    events = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    hints = models.PositiveIntegerField(default=0)
    seconds = models.PositiveIntegerField(default=0)  # time on task: gaps between events, each at most 5 minutes

    class Meta:
        constraints = [models.UniqueConstraint(fields=["student", "course", "day"], name="one_day_each")]
        indexes = [models.Index(fields=["course", "day"], name="activity_of_course")]
