"""The catalog as Wagtail pages: course index → course → lesson."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.db import models
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from modelcluster.fields import ParentalManyToManyField
from wagtail.admin.panels import FieldPanel
from wagtail.contrib.routable_page.models import RoutablePageMixin, path
from wagtail.models import Page
from wagtail.search import index


class CourseIndexPage(Page):
    """The catalog: every published course."""

    intro = models.TextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    subpage_types = ["catalog.CoursePage"]
    max_count = 1

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["courses"] = CoursePage.objects.child_of(self).live().order_by("title")
        return context


class CoursePage(Page):
    class Level(models.TextChoices):
        BEGINNER = "beginner"
        INTERMEDIATE = "intermediate"
        ADVANCED = "advanced"

    summary = models.TextField()
    level = models.CharField(max_length=20, choices=Level.choices, default=Level.BEGINNER)
    instructors = models.CharField(max_length=255, blank=True, help_text="Names shown on the course page")
    prerequisites = ParentalManyToManyField("self", symmetrical=False, blank=True, related_name="required_by")

    search_fields = [*Page.search_fields, index.SearchField("summary"), index.SearchField("instructors")]
    content_panels = [
        *Page.content_panels,
        FieldPanel("summary"),
        FieldPanel("level"),
        FieldPanel("instructors"),
        FieldPanel("prerequisites"),
    ]
    parent_page_types = ["catalog.CourseIndexPage"]
    subpage_types = ["catalog.LessonPage"]

    def lessons(self):
        return LessonPage.objects.child_of(self).live().specific().order_by("order", "title")

    def get_context(self, request, *args, **kwargs):
        from studio_portal.courses.selectors import course_role

        context = super().get_context(request, *args, **kwargs)
        from studio_portal.courses.models import Role
        from studio_portal.grades.selectors import assignment_summaries, assignments_of

        context["lessons"] = self.lessons()
        context["role"] = role = course_role(user=request.user, course=self)
        if role == Role.STUDENT:
            context["assignments"] = rows = assignments_of(course=self, student=request.user)
            by_slug = {row.assignment.slug: row for row in rows}
            context["lesson_rows"] = [(lesson, by_slug.get(lesson.assignment)) for lesson in context["lessons"]]
        elif role in (Role.GRADER, Role.INSTRUCTOR):
            context["summaries"] = assignment_summaries(course=self)
            context["formgrader"] = f"{settings.STUDIO_GRADING_URL}formgrader/{self.slug}/formgrader"
        return context


class LessonPage(RoutablePageMixin, Page):
    notebook = models.CharField(max_length=255, help_text="Notebook path inside the course, e.g. lessons/01.ipynb")
    order = models.PositiveIntegerField(default=0)
    assignment = models.CharField(max_length=100, blank=True, help_text="The nbgrader assignment practising it")
    estimated_minutes = models.PositiveIntegerField(default=30)
    prerequisites = ParentalManyToManyField("self", symmetrical=False, blank=True, related_name="required_by")

    content_panels = [
        *Page.content_panels,
        FieldPanel("notebook"),
        FieldPanel("order"),
        FieldPanel("assignment"),
        FieldPanel("estimated_minutes"),
        FieldPanel("prerequisites"),
    ]
    parent_page_types = ["catalog.CoursePage"]
    subpage_types: list[str] = []

    @property
    def course(self) -> CoursePage:
        return self.get_parent().specific

    def hub_url(self) -> str:
        """Where the hub opens this lesson: its user-redirect logs in, starts the server, then our extension."""
        return f"{settings.STUDIO_HUB_URL}/hub/user-redirect/studio/lessons/{self.course.slug}/{quote(self.notebook)}"

    def get_context(self, request, *args, **kwargs):
        from studio_portal.courses.selectors import course_role

        context = super().get_context(request, *args, **kwargs)
        context["course"] = self.course
        context["role"] = course_role(user=request.user, course=context["course"])
        return context

    @path("")
    def lesson(self, request):
        return self.render(request)

    @path("open/")
    def open_in_jupyterlab(self, request):
        """Hand an enrolled learner over to the hub with this lesson; explain enrollment to anyone else."""
        from django.contrib.auth.views import redirect_to_login

        from studio_portal.courses.selectors import course_role

        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        course = self.course
        if course_role(user=request.user, course=course) is None:
            context = {"course": course, "lesson": self, "page": self}
            return TemplateResponse(request, "courses/not_enrolled.html", context, status=403)
        return redirect(self.hub_url())
