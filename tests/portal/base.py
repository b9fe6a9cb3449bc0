"""Shared set-up for portal tests: the demo course and a second course imported, users with roles."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import TestCase

from studio_portal.catalog.models import CoursePage
from studio_portal.catalog.services import courses_import
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role
from tests.conftest import COURSE_CONTENT, FIXTURE_CONTENT

HUB_CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
HUB_CLIENT_ID = "learning-studio-hub"
HUB_SECRET = "test-client-secret"


class CatalogTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        courses_import(content_dir=COURSE_CONTENT)
        courses_import(content_dir=FIXTURE_CONTENT)
        cls.intro = CoursePage.objects.get(slug="intro-python")
        cls.other = CoursePage.objects.get(slug="data-science")
        User = get_user_model()
        cls.student = User.objects.create_user("student1", "s1@example.org", "pw-student1", first_name="Sam")
        cls.outsider = User.objects.create_user("student3", "s3@example.org", "pw-student3")
        cls.grader = User.objects.create_user("grader1", "g1@example.org", "pw-grader1")
        cls.instructor = User.objects.create_user("instructor1", "i1@example.org", "pw-i1", is_staff=True)
        enrollment_set_role(user=cls.student, course=cls.intro, role=Role.STUDENT)
        enrollment_set_role(user=cls.grader, course=cls.intro, role=Role.GRADER)
        enrollment_set_role(user=cls.instructor, course=cls.intro, role=Role.INSTRUCTOR)
        enrollment_set_role(user=cls.instructor, course=cls.other, role=Role.STUDENT)
