"""Enrollment: who takes part in which course, and in what role."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    STUDENT = "student"
    GRADER = "grader"
    INSTRUCTOR = "instructor"


# The hub group that mirrors each role: students-<course>, graders-<course>, instructors-<course>.
GROUP_PREFIX = {Role.STUDENT: "students", Role.GRADER: "graders", Role.INSTRUCTOR: "instructors"}


class Enrollment(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    course = models.ForeignKey("catalog.CoursePage", on_delete=models.CASCADE, related_name="enrollments")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STUDENT)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "course"], name="one_role_per_course")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} in {self.course.slug}"
