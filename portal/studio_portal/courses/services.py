"""Writes about enrollment."""

from __future__ import annotations

from django.db import transaction

from .models import Enrollment, Role


@transaction.atomic
def enrollment_create(*, user, course, role: str = Role.STUDENT) -> Enrollment:
    """Enroll ``user`` in ``course``; a user already taking part keeps the role they have."""
    enrollment, _ = Enrollment.objects.get_or_create(user=user, course=course, defaults={"role": role})
    return enrollment


@transaction.atomic
def enrollment_set_role(*, user, course, role: str) -> Enrollment:
    """Give ``user`` exactly ``role`` in ``course`` (staff and set-up scripts)."""
    enrollment, _ = Enrollment.objects.update_or_create(user=user, course=course, defaults={"role": Role(role)})
    return enrollment
