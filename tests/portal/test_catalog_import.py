"""Importing course-content/ into Wagtail pages: structure, idempotence, updates, and bad metadata."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from django.core.management import CommandError, call_command
from django.test import TestCase
from wagtail.models import Site

from studio_portal.catalog.models import CourseIndexPage, CoursePage, LessonPage
from studio_portal.catalog.services import CourseContentError, courses_import
from tests.conftest import COURSE_CONTENT, FIXTURE_CONTENT


def copy_course(tmp: Path, slug: str = "intro-python") -> Path:
    shutil.copytree(COURSE_CONTENT / slug, tmp / slug)
    return tmp / slug


class ImportTests(TestCase):
    def test_demo_course_becomes_catalog_pages(self):
        courses_import(content_dir=COURSE_CONTENT)
        index = CourseIndexPage.objects.get()
        assert Site.objects.get(is_default_site=True).root_page.specific == index
        course = CoursePage.objects.get(slug="intro-python")
        assert course.get_parent().specific == index and course.level == "beginner"
        assert course.instructors == "Ines Instructor"
        lessons = list(course.lessons())
        assert [ls.slug for ls in lessons] == [
            "values-and-names",
            "functions",
            "conditionals",
            "loops",
            "lists-and-dicts",
            "strings",
            "files-and-errors",
            "classes",
        ]
        assert [ls.order for ls in lessons] == list(range(1, 9))
        assert lessons[0].title == "Values and names"  # from the notebook's first heading
        assert lessons[1].notebook == "lessons/02-functions.ipynb" and lessons[1].estimated_minutes == 40
        assert list(lessons[1].prerequisites.all()) == [lessons[0]]

    def test_reimport_updates_in_place_and_never_duplicates(self):
        courses_import(content_dir=COURSE_CONTENT)
        courses_import(content_dir=FIXTURE_CONTENT)
        counts = (CoursePage.objects.count(), LessonPage.objects.count(), CourseIndexPage.objects.count())
        call_command("import_courses", str(COURSE_CONTENT), stdout=open("/dev/null", "w"))  # noqa: SIM115
        courses_import(content_dir=FIXTURE_CONTENT)
        assert (CoursePage.objects.count(), LessonPage.objects.count(), CourseIndexPage.objects.count()) == counts
        other = CoursePage.objects.get(slug="data-science")
        assert [c.slug for c in other.prerequisites.all()] == ["intro-python"]

    def test_changed_metadata_updates_pages_and_removed_lessons_are_unpublished(self):
        courses_import(content_dir=COURSE_CONTENT)
        tmp = Path(tempfile.mkdtemp())
        course_dir = copy_course(tmp)
        meta = (course_dir / "course.toml").read_text()
        meta = meta.replace('title = "Introduction to Python"', 'title = "Python from scratch"')
        meta = meta[: meta.index('[[lessons]]\nslug = "classes"')]  # drop the last lesson
        (course_dir / "course.toml").write_text(meta)
        ids = set(LessonPage.objects.values_list("pk", flat=True))
        result = courses_import(content_dir=tmp)[0]
        assert result.unpublished == 1
        assert CoursePage.objects.get(slug="intro-python").title == "Python from scratch"
        assert set(LessonPage.objects.values_list("pk", flat=True)) == ids  # kept, not deleted
        assert not LessonPage.objects.get(slug="classes").live
        shutil.rmtree(tmp)

    def test_bad_metadata_is_a_clear_error_and_imports_nothing(self):
        cases = [
            (
                lambda d: (d / "lessons" / "01-values-and-names.ipynb").write_text("{not json"),
                "not a readable notebook",
            ),
            (lambda d: (d / "lessons" / "02-functions.ipynb").unlink(), "does not exist"),
            (lambda d: _edit(d, '"lessons/01-values-and-names.ipynb"', '"../../etc/passwd.ipynb"'), "not a relative"),
            (lambda d: _edit(d, 'level = "beginner"', 'level = "wizard"'), "level 'wizard'"),
            (lambda d: _edit(d, 'slug = "functions"', 'slug = "values-and-names"'), "used twice"),
            (lambda d: _edit(d, 'prerequisites = ["functions"]', 'prerequisites = ["nope"]'), "unknown lessons"),
            (lambda d: _edit(d, 'slug = "intro-python"', 'slug = "other"'), "equal the folder name"),
            (lambda d: (d / "course.toml").write_text("title = [unclosed"), "course.toml"),
            (lambda d: (d / "lessons" / "03-conditionals.ipynb").write_text(json.dumps({"nbformat": 3})), "nbformat 4"),
        ]
        for break_it, message in cases:
            tmp = Path(tempfile.mkdtemp())
            break_it(copy_course(tmp))
            with self.subTest(message):
                with self.assertRaisesMessage(CourseContentError, message):
                    courses_import(content_dir=tmp)
                assert not CoursePage.objects.exists()
            shutil.rmtree(tmp)

    def test_command_reports_errors_as_command_errors(self):
        with self.assertRaisesMessage(CommandError, "no <course>/course.toml found"):
            call_command("import_courses", "/nonexistent")


def _edit(course_dir: Path, old: str, new: str) -> None:
    meta = course_dir / "course.toml"
    text = meta.read_text()
    assert old in text, old
    meta.write_text(text.replace(old, new, 1))
