"""Notifications shown in the portal, and the outbox their emails leave from."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention"
        REPLY = "reply"
        ANSWER = "answer"
        REVIEW = "review"
        BADGE = "badge"
        GROUP = "group"

    class Email(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # gave up after MAX_ATTEMPTS; the portal still shows it
        NONE = "none"  # the user has no email address

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    read = models.BooleanField(default=False)
    email = models.CharField(max_length=10, choices=Email.choices, default=Email.PENDING)
    email_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["user", "read"], name="unread_notifications"),
            models.Index(fields=["email"], name="email_outbox", condition=models.Q(email="pending")),
        ]

    def __str__(self) -> str:
        return f"to {self.user}: {self.text}"
