"""The dashboards (a student's own; a course's, for its team), the team's CSV export, and the events API the hub's
hints service sends the learning-event queue to."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.functional import SimpleLazyObject
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from studio_portal.catalog.models import CoursePage
from studio_portal.community.policy import is_team
from studio_portal.courses.selectors import course_role
from studio_portal.service_api import json_list, refused

from .selectors import course_dashboard, course_dashboard_csv, student_dashboard
from .services import EventError, events_ingest

BAR = 200  # pixels of a full bar in the charts
AT_RISK_SHOWN = 50  # the page lists the first 50 of concern; the CSV has everyone


@login_required
@require_GET
def my_dashboard(request):
    dash = student_dashboard(user=request.user)
    peak = max([m for _, m in dash.days] + [1])
    # One column per day: (day, minutes, x, y, height) in a 28 × 8 px wide, 64 px high chart.
    days = [(d, m, 8 * i, 64 - round(60 * m / peak), round(60 * m / peak)) for i, (d, m) in enumerate(dash.days)]
    return render(request, "analytics/student_dashboard.html", {"dash": dash, "days": days})


def _team_course(request, slug: str) -> CoursePage:
    course = get_object_or_404(CoursePage.objects.live(), slug=slug)
    if not is_team(request.user, course_role(user=request.user, course=course)):
        raise PermissionDenied("only the course's graders and instructors see its analytics")
    return course


def _page_context(course: CoursePage) -> dict:
    """What the course dashboard page shows: the figures, the first AT_RISK_SHOWN students of concern, and the
    charts' bar lengths."""
    dash = course_dashboard(course=course)
    total = max(dash.students, 1)
    funnel = [
        (
            step.lesson.title,
            [
                (label, n, round(BAR * n / total))
                for label, n in (("attempted", step.attempted), ("submitted", step.submitted), ("passed", step.passed))
            ],
        )
        for step in dash.funnel
    ]
    at_risk = dash.at_risk
    return {
        "students": dash.students,
        "computed": dash.computed,
        "at_risk": at_risk[:AT_RISK_SHOWN],
        "at_risk_count": len(at_risk),
        "more": max(0, len(at_risk) - AT_RISK_SHOWN),
        "funnel": funnel,
        "exercises": [(row, round(BAR * row.pass_rate)) for row in dash.exercises],
    }


@login_required
@require_GET
def course_analytics(request, slug: str):
    """Computed at most once a minute (settings.STUDIO_DASHBOARD_CACHE_SECONDS) and kept in the cache (Redis in
    production): a course of thousands is read in a few milliseconds, its figures a minute old at most."""
    course = _team_course(request, slug)
    # The page's body is a cached template fragment: the figures are computed (lazily, here) only when it is not.
    context = {
        "course": course,
        "bar": BAR,
        "seconds": settings.STUDIO_DASHBOARD_CACHE_SECONDS,
        "d": SimpleLazyObject(lambda: _page_context(course)),
    }
    return render(request, "analytics/course_dashboard.html", context)


@login_required
@require_GET
def course_analytics_csv(request, slug: str):
    course = _team_course(request, slug)
    resp = HttpResponse(course_dashboard_csv(course_dashboard(course=course)), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{course.slug}-students.csv"'
    return resp


@csrf_exempt  # not a browser's: the hints service's call with its bearer token
@require_http_methods(["PUT"])
def api_events(request):
    if (refusal := refused(request, "events")) is not None:
        return refusal
    try:
        outcome = events_ingest(events=json_list(request, "events"))
    except (ValueError, EventError) as e:
        return JsonResponse({"message": str(e)}, status=400)
    return JsonResponse({"stored": outcome.stored, "duplicates": outcome.duplicates, "skipped": outcome.skipped[:100]})
