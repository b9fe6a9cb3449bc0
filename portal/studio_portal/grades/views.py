"""Grades: the grading service's API (a service token), and the pages students and course teams read."""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from studio_portal.catalog.models import CoursePage
from studio_portal.courses.models import Role
from studio_portal.courses.selectors import course_role

from .selectors import grades_csv, grades_of
from .services import GradeError, grades_store

MAX_BODY = 5 * 2**20


def grades_token() -> str:
    """The token the hub's grading service sends grades with: $STUDIO_GRADES_TOKEN, or the file the hub keeps it in."""
    if settings.GRADES_TOKEN:
        return settings.GRADES_TOKEN
    path = os.environ.get("STUDIO_GRADES_TOKEN_FILE", "")
    try:
        return Path(path).read_text().strip() if path else ""
    except OSError:
        return ""


@csrf_exempt  # not a browser's: a service's call with its bearer token
@require_http_methods(["PUT"])
def api_grades(request):
    expected = grades_token()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected:
        return JsonResponse({"message": "the portal takes no grades: no grades token is set"}, status=503)
    if scheme.lower() != "bearer" or not token:
        return JsonResponse({"message": "send the grading service's token: Authorization: Bearer <token>"}, status=401)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return JsonResponse({"message": "this token may not send grades"}, status=403)
    if len(request.body) > MAX_BODY:
        return JsonResponse({"message": f"at most {MAX_BODY // 2**20} MiB of grades at once"}, status=413)
    try:
        data = json.loads(request.body)
        if not isinstance(data, dict) or not isinstance(data.get("grades"), list):
            raise GradeError('send {"grades": [...]}')
        outcome = grades_store(grades=data["grades"])
    except (ValueError, GradeError) as e:
        return JsonResponse({"message": str(e) if isinstance(e, GradeError) else "the body is not JSON"}, status=400)
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
    return render(request, "grades/course_grades.html",
                  {"course": course, "rows": rows, "team": team, "csv": role == Role.INSTRUCTOR})  # fmt: skip


@login_required
@require_GET
def course_grades_csv(request, slug: str):
    course, role = _course_and_role(request, slug)
    if role != Role.INSTRUCTOR:
        raise PermissionDenied("only the course's instructors export its grades")
    resp = HttpResponse(grades_csv(course=course), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{course.slug}-grades.csv"'
    return resp
