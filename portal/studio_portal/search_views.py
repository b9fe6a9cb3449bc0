"""Search over the catalog (courses, lessons) and the forums of one's courses, with Wagtail search: PostgreSQL full
text (stemming, ranking) in production, SQLite's FTS5 on the embedded default."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET
from wagtail.search.backends import get_search_backend

from studio_portal.catalog.models import CoursePage, LessonPage
from studio_portal.community.models import Thread
from studio_portal.courses.models import Enrollment

MAX_QUERY = 200
PER_KIND = 20


@require_GET
def search(request):
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    pages, threads = [], []
    if query:
        pages = list(CoursePage.objects.live().public().search(query)[:PER_KIND])
        pages += list(LessonPage.objects.live().public().search(query)[:PER_KIND])
        if request.user.is_authenticated:
            courses = list(
                Enrollment.objects.filter(user=request.user, course__live=True).values_list("course_id", flat=True)
            )
            mine = Thread.objects.filter(course__in=courses, hidden=False, group__isnull=True)
            threads = list(get_search_backend().search(query, mine.select_related("course"))[:PER_KIND])
    return render(request, "search.html", {"query": query, "pages": pages, "threads": threads})
