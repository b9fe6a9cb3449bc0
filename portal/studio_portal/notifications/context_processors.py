"""The unread count in every page's header."""

from __future__ import annotations

from .models import Notification


def unread(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"unread_notifications": Notification.objects.filter(user=request.user, read=False).count()}
