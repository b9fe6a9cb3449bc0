"""Catalog pages, enrolling, and the "Open in JupyterLab" hand-off to the hub."""

from __future__ import annotations

from django.test import override_settings

from studio_portal.courses.models import Enrollment
from tests.portal.base import CatalogTestCase

LESSON = "/intro-python/values-and-names/"
OTHER_LESSON = "/data-science/tables/"


@override_settings(STUDIO_HUB_URL="https://hub.example.org")
class OpenLessonTests(CatalogTestCase):
    def test_catalog_course_and_lesson_pages_render(self):
        self.client.force_login(self.student)
        catalog = self.client.get("/")
        self.assertContains(catalog, "Introduction to Python")
        self.assertContains(catalog, 'href="/intro-python/"')
        course = self.client.get("/intro-python/")
        self.assertContains(course, "You take part in this course as <strong>student</strong>", html=False)
        self.assertContains(course, 'href="/intro-python/values-and-names/"')
        lesson = self.client.get(LESSON)
        self.assertContains(lesson, "Open in JupyterLab")
        self.assertContains(lesson, 'href="/intro-python/values-and-names/open/"')

    def test_enrolled_student_is_sent_to_the_hub_with_the_lesson(self):
        self.client.force_login(self.student)
        resp = self.client.get(LESSON + "open/")
        assert resp.status_code == 302
        assert resp["Location"] == (
            "https://hub.example.org/hub/user-redirect/studio/lessons/intro-python/lessons/01-values-and-names.ipynb"
        )

    def test_graders_and_instructors_may_open_lessons_too(self):
        for user in (self.grader, self.instructor):
            self.client.force_login(user)
            assert self.client.get(LESSON + "open/").status_code == 302

    def test_anonymous_user_logs_in_first(self):
        resp = self.client.get(LESSON + "open/")
        assert resp.status_code == 302 and resp["Location"] == f"/accounts/login/?next={LESSON}open/"

    def test_unenrolled_user_gets_403_saying_how_to_enroll(self):
        self.client.force_login(self.student)
        resp = self.client.get(OTHER_LESSON + "open/")
        assert resp.status_code == 403
        self.assertContains(resp, "You are not enrolled in Data Science Basics", status_code=403)
        self.assertContains(resp, 'href="/data-science/"', status_code=403)
        self.assertContains(resp, "Enroll in Data Science Basics now", status_code=403)
        assert "Location" not in resp
        assert not Enrollment.objects.filter(user=self.student, course=self.other).exists()

    def test_missing_lesson_and_traversal_are_404(self):
        self.client.force_login(self.student)
        urls = [
            "/intro-python/no-such-lesson/",
            "/intro-python/no-such-lesson/open/",
            "/no-course/x/open/",
            "/intro-python/../data-science/tables/open/",
            "/intro-python/%2e%2e/data-science/tables/open/",
        ]
        for url in urls:
            with self.subTest(url=url):
                resp = self.client.get(url)
                self.assertContains(resp, "Page not found", status_code=404)

    def test_enrolling_makes_the_lesson_open(self):
        self.client.force_login(self.outsider)
        assert self.client.get(LESSON + "open/").status_code == 403
        resp = self.client.post("/courses/intro-python/enroll/", {"next": LESSON})
        assert resp.status_code == 302 and resp["Location"] == LESSON
        assert Enrollment.objects.get(user=self.outsider, course=self.intro).role == "student"
        assert self.client.get(LESSON + "open/").status_code == 302

    def test_enroll_never_redirects_off_site(self):
        self.client.force_login(self.outsider)
        for evil in ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]:
            resp = self.client.post("/courses/intro-python/enroll/", {"next": evil})
            assert resp.status_code == 302 and resp["Location"] == "/intro-python/", evil

    def test_enrolling_never_changes_an_existing_role(self):
        self.client.force_login(self.grader)
        self.client.post("/courses/intro-python/enroll/")
        assert Enrollment.objects.get(user=self.grader, course=self.intro).role == "grader"

    def test_enroll_needs_login_post_and_csrf(self):
        assert self.client.post("/courses/intro-python/enroll/").status_code == 302  # to login
        self.client.force_login(self.outsider)
        assert self.client.get("/courses/intro-python/enroll/").status_code == 405
        assert self.client.post("/courses/nope/enroll/").status_code == 404
        from django.test import Client

        strict = Client(enforce_csrf_checks=True)
        strict.force_login(self.outsider)
        assert strict.post("/courses/intro-python/enroll/").status_code == 403
        assert not Enrollment.objects.filter(user=self.outsider).exists()


@override_settings(STUDIO_HUB_URL="https://hub.example.org")
class AccountTests(CatalogTestCase):
    def test_wrong_password_does_not_log_in(self):
        resp = self.client.post("/accounts/login/", {"username": "student1", "password": "wrong"})
        assert resp.status_code == 200
        self.assertContains(resp, "username and password didn't match")
        assert "_auth_user_id" not in self.client.session

    def test_login_then_logout_continues_at_the_hub(self):
        resp = self.client.post("/accounts/login/", {"username": "student1", "password": "pw-student1"})
        assert resp.status_code == 302 and "_auth_user_id" in self.client.session
        self.assertContains(self.client.get("/accounts/logout/"), "Log out of Learning Studio?")
        resp = self.client.post("/accounts/logout/")
        assert resp.status_code == 302 and resp["Location"] == "https://hub.example.org/hub/logout"
        assert "_auth_user_id" not in self.client.session
        self.assertContains(self.client.get("/accounts/logout/"), "You are logged out")
