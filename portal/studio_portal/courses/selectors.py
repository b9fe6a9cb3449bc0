"""Reads about enrollment."""

from __future__ import annotations

from .models import GROUP_PREFIX, Enrollment, Role


def course_role(*, user, course) -> str | None:
    """The user's role in ``course``, or None (anonymous or not enrolled)."""
    if not user.is_authenticated:
        return None
    return Enrollment.objects.filter(user=user, course=course).values_list("role", flat=True).first()


def course_roles(*, user) -> dict[str, str]:
    """Course slug → role, for every course the user takes part in."""
    rows = Enrollment.objects.filter(user=user, course__live=True).values_list("course__slug", "role")
    return dict(rows)


def hub_groups(*, roles: dict[str, str], staff: bool) -> list[str]:
    """The JupyterHub groups that mirror these roles (``students-<course>`` …); staff add ``portal-staff``."""
    groups = [f"{GROUP_PREFIX[Role(role)]}-{slug}" for slug, role in sorted(roles.items())]
    return [*groups, "portal-staff"] if staff else groups
