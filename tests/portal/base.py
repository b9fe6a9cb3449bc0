"""Shared set-up for portal tests: the demo course and a second course imported, users with roles."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import TestCase
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import Locale, Page

from studio_portal.catalog.models import CoursePage
from studio_portal.catalog.services import courses_import
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role
from tests.conftest import COURSE_CONTENT, FIXTURE_CONTENT

HUB_CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
HUB_CLIENT_ID = "learning-studio-hub"
HUB_SECRET = "test-client-secret"


def make_catalog() -> dict:
    """Both courses imported; student1 and grader1 and instructor1 in intro-python, student3 in nothing."""
    if Page.get_first_root_node() is None:  # a TransactionTestCase emptied the database, migrations' rows too
        Locale.objects.get_or_create(language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE))
        Page.add_root(instance=Page(title="Root", slug="root"))
    courses_import(content_dir=COURSE_CONTENT)
    courses_import(content_dir=FIXTURE_CONTENT)
    made = {"intro": CoursePage.objects.get(slug="intro-python"), "other": CoursePage.objects.get(slug="data-science")}
    User = get_user_model()
    made["student"] = User.objects.create_user("student1", "s1@example.org", "pw-student1", first_name="Sam")
    made["outsider"] = User.objects.create_user("student3", "s3@example.org", "pw-student3")
    made["grader"] = User.objects.create_user("grader1", "g1@example.org", "pw-grader1")
    made["instructor"] = User.objects.create_user("instructor1", "i1@example.org", "pw-i1", is_staff=True)
    enrollment_set_role(user=made["student"], course=made["intro"], role=Role.STUDENT)
    enrollment_set_role(user=made["grader"], course=made["intro"], role=Role.GRADER)
    enrollment_set_role(user=made["instructor"], course=made["intro"], role=Role.INSTRUCTOR)
    enrollment_set_role(user=made["instructor"], course=made["other"], role=Role.STUDENT)
    return made


def enrolled(username: str, course, email: str = "", role: str = Role.STUDENT):
    """A new account with ``role`` in ``course``."""
    user = get_user_model().objects.create_user(username, email, "pw")
    enrollment_set_role(user=user, course=course, role=role)
    return user


class CatalogTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        for name, value in make_catalog().items():
            setattr(cls, name, value)
