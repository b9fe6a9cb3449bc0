"""Enrolling from a course page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from studio_portal.catalog.models import CoursePage

from .services import enrollment_create


@login_required
@require_POST
def enroll(request, slug: str):
    course = get_object_or_404(CoursePage.objects.live(), slug=slug)
    enrollment_create(user=request.user, course=course)
    messages.success(request, f"You are enrolled in {course.title}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = course.url  # never send anyone off-site from our own form
    return redirect(next_url)
