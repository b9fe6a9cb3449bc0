"""Telling people something happened: a row they see in the portal, and an email sent off the request path."""

from __future__ import annotations

from django.db import transaction

from . import outbox
from .models import Notification


def notify(*, users, kind: str, text: str, url: str = "") -> list[Notification]:
    """One notification per user (each at most once); their emails go out after the transaction commits."""
    unique = {u.pk: u for u in users}.values()
    rows = [
        Notification(
            user=u,
            kind=kind,
            text=text[:300],
            url=url[:300],
            email=Notification.Email.PENDING if u.email else Notification.Email.NONE,
        )
        for u in unique
    ]
    created = Notification.objects.bulk_create(rows)
    if any(n.email == Notification.Email.PENDING for n in created):
        transaction.on_commit(outbox.wake)
    return created


def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark ``user``'s notifications read (all of them when ``ids`` is None); how many changed."""
    rows = Notification.objects.filter(user=user, read=False)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.update(read=True)
