"""Enrolling from a course page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from studio_portal.catalog.models import CoursePage

from .services import enrollment_create


@login_required
@require_POST
def enroll(request, slug: str):
    course = get_object_or_404(CoursePage.objects.live(), slug=slug)
    enrollment_create(user=request.user, course=course)
    messages.success(request, f"You are enrolled in {course.title}.")
    return redirect(request.POST.get("next") or course.url)
