"""Badges earned in a course, and who chose to appear on its leaderboard."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Award(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="awards")
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="+")
    badge = models.CharField(max_length=40)  # a key of rules.BADGES
    awarded = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "course", "badge"], name="one_badge_each")]
        ordering = ["awarded", "id"]


class LeaderboardOptIn(models.Model):
    """Leaderboards show only those who asked to be on them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="+")
    points = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "course"], name="one_opt_in_each")]
        indexes = [models.Index(fields=["course", "-points"], name="leaderboard_order")]
