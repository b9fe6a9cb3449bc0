"""Grades: the grading service's API (a service token), and the pages students and course teams read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from studio_portal.catalog.models import CoursePage
from studio_portal.courses.models import Role
from studio_portal.courses.selectors import course_role
from studio_portal.service_api import json_list, refused

from .selectors import grades_csv, grades_of
from .services import GradeError, grades_store, records_store


@csrf_exempt  # not a browser's: a service's call with its bearer token
@require_http_methods(["PUT"])
def api_grades(request):
    if (refusal := refused(request, "grades")) is not None:
        return refusal
    try:
        outcome = grades_store(grades=json_list(request, "grades"))
    except (ValueError, GradeError) as e:
        return JsonResponse({"message": str(e)}, status=400)
    return JsonResponse({"stored": outcome.stored, "skipped": outcome.skipped})


@csrf_exempt  # not a browser's: the exchange's call with the grades token (the course's records)
@require_http_methods(["PUT"])
def api_assignments(request):
    if (refusal := refused(request, "grades")) is not None:
        return refusal
    try:
        outcome = records_store(records=json_list(request, "records"))
    except (ValueError, GradeError) as e:
        return JsonResponse({"message": str(e)}, status=400)
    return JsonResponse({"stored": outcome.stored, "skipped": outcome.skipped})


def _course_and_role(request, slug: str):
    course = get_object_or_404(CoursePage.objects.live(), slug=slug)
    role = course_role(user=request.user, course=course)
    if role is None:
        raise PermissionDenied("only people in this course see its grades")
    return course, role


@login_required
@require_GET
def course_grades(request, slug: str):
    course, role = _course_and_role(request, slug)
    team = role in (Role.GRADER, Role.INSTRUCTOR)
    rows = grades_of(course=course, student=None if team else request.user)
    return render(
        request,
        "grades/course_grades.html",
        {"course": course, "rows": rows, "team": team, "csv": role == Role.INSTRUCTOR},
    )


@login_required
@require_GET
def course_grades_csv(request, slug: str):
    course, role = _course_and_role(request, slug)
    if role != Role.INSTRUCTOR:
        raise PermissionDenied("only the course's instructors export its grades")
    resp = HttpResponse(grades_csv(course=course), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{course.slug}-grades.csv"'
    return resp
