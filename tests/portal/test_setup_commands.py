"""studio_setup and seed_demo: what `make demo` runs on every start must be idempotent."""

from __future__ import annotations

import io
import stat
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase
from oauth2_provider.models import Application

from studio_portal.catalog.models import CoursePage, LessonPage
from studio_portal.courses.models import Enrollment
from tests.conftest import COURSE_CONTENT


class SetupTests(TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        (self.tmp / "secret").write_text("hub-secret\n")

    def run_setup(self):
        call_command(
            "studio_setup",
            content=COURSE_CONTENT,
            hub_secret_file=self.tmp / "secret",
            hub_callback="http://127.0.0.1:8000/hub/oauth_callback",
            demo_passwords=self.tmp / "passwords.txt",
            stdout=io.StringIO(),
        )

    def test_running_twice_changes_nothing(self):
        self.run_setup()
        passwords = (self.tmp / "passwords.txt").read_text()
        counts = (
            CoursePage.objects.count(),
            LessonPage.objects.count(),
            Enrollment.objects.count(),
            get_user_model().objects.count(),
            Application.objects.count(),
        )
        self.run_setup()
        assert (self.tmp / "passwords.txt").read_text() == passwords
        assert counts == (
            CoursePage.objects.count(),
            LessonPage.objects.count(),
            Enrollment.objects.count(),
            get_user_model().objects.count(),
            Application.objects.count(),
        )
        assert stat.S_IMODE((self.tmp / "passwords.txt").stat().st_mode) == 0o600

    def test_demo_accounts_and_roles(self):
        self.run_setup()
        passwords = dict(line.split(":", 1) for line in (self.tmp / "passwords.txt").read_text().split())
        assert set(passwords) == {"student1", "student2", "student3", "grader1", "instructor1"}
        roles = dict(Enrollment.objects.values_list("user__username", "role"))
        assert roles == {"student1": "student", "student2": "student", "grader1": "grader", "instructor1": "instructor"}
        User = get_user_model()
        assert User.objects.get(username="student1").check_password(passwords["student1"])
        assert User.objects.get(username="instructor1").is_staff
        assert not User.objects.get(username="student1").is_staff
        assert len(set(passwords.values())) == 5 and all(len(p) >= 12 for p in passwords.values())

    def test_the_demo_cohort_is_made_once_with_its_forum_threads(self):
        from studio_portal.community.models import Post, Thread
        from studio_portal.gamification.models import LeaderboardOptIn

        self.run_setup()
        for _ in range(2):
            call_command("seed_cohort", passwords_file=self.tmp / "cohort.txt", stdout=io.StringIO())
        passwords = dict(line.split(":", 1) for line in (self.tmp / "cohort.txt").read_text().split())
        assert len(passwords) == 8 and "student1" not in passwords
        assert stat.S_IMODE((self.tmp / "cohort.txt").stat().st_mode) == 0o600
        course = CoursePage.objects.get(slug="intro-python")
        students = Enrollment.objects.filter(course=course, role="student").values_list("user__username", flat=True)
        assert set(passwords) <= set(students)
        assert get_user_model().objects.get(username="ada").check_password(passwords["ada"])
        threads = Thread.objects.filter(course=course).exclude(title="Welcome: ask here")
        assert threads.count() == 2 and Post.objects.filter(thread__in=threads).count() == 5
        assert threads.get(title__startswith="Why does my function").answer is not None
        assert LeaderboardOptIn.objects.filter(course=course).count() == 5
