"""Importing course content (``<course>/course.toml`` + notebooks) into catalog pages, idempotently.

Re-importing updates pages in place (found by slug), never duplicates them; lessons that left the metadata are
unpublished, not deleted. A course with any error is not imported at all, and the error names the file.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.db import transaction
from wagtail.models import Page, Site

from .models import CourseIndexPage, CoursePage, LessonPage

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
NOTEBOOK_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.ipynb$")


class CourseContentError(ValueError):
    """The course folder cannot be imported; the message says which file and what is wrong."""


@dataclass
class LessonSpec:
    slug: str
    title: str
    notebook: str
    minutes: int
    prerequisites: list[str]
    assignment: str = ""  # the nbgrader assignment that practises the lesson


@dataclass
class CourseSpec:
    slug: str
    title: str
    summary: str
    level: str
    instructors: list[str]
    prerequisites: list[str]
    lessons: list[LessonSpec] = field(default_factory=list)


@dataclass
class ImportResult:
    course: CoursePage
    created: int = 0
    updated: int = 0
    unpublished: int = 0


def _notebook_title(path: Path) -> str | None:
    """The notebook's first Markdown heading; raises CourseContentError if it is not a notebook."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CourseContentError(f"{path}: not a readable notebook ({e})") from e
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise CourseContentError(f"{path}: not an nbformat 4 notebook")
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell.get("source", []))
            for line in source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return None


def course_spec(course_dir: Path) -> CourseSpec:
    """Read and check ``course_dir/course.toml`` and the notebooks it names."""
    meta_file = course_dir / "course.toml"
    try:
        meta = tomllib.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CourseContentError(f"{meta_file}: {e}") from e

    def need(table: dict, key: str, kind: type, where: str):
        value = table.get(key)
        if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
            raise CourseContentError(f"{meta_file}: {where}{key!r} must be a non-empty {kind.__name__}")
        return value

    slug = need(meta, "slug", str, "")
    if not SLUG_RE.match(slug) or slug != course_dir.name:
        raise CourseContentError(
            f"{meta_file}: slug {slug!r} must be lower-case letters, digits and '-', "
            f"and equal the folder name {course_dir.name!r}"
        )
    level = meta.get("level", "beginner")
    if level not in CoursePage.Level.values:
        raise CourseContentError(f"{meta_file}: level {level!r} is not one of {CoursePage.Level.values}")
    spec = CourseSpec(
        slug=slug,
        title=need(meta, "title", str, ""),
        summary=need(meta, "summary", str, ""),
        level=level,
        instructors=list(meta.get("instructors", [])),
        prerequisites=list(meta.get("prerequisites", [])),
    )
    seen: set[str] = set()
    for i, lesson in enumerate(need(meta, "lessons", list, ""), start=1):
        where = f"lesson {i}: "
        notebook = need(lesson, "notebook", str, where)
        if not NOTEBOOK_RE.match(notebook) or ".." in PurePosixPath(notebook).parts:
            raise CourseContentError(f"{meta_file}: {where}notebook {notebook!r} is not a relative .ipynb path")
        nb_path = course_dir / notebook
        if not nb_path.is_file():
            raise CourseContentError(f"{meta_file}: {where}notebook {notebook!r} does not exist")
        heading = _notebook_title(nb_path)  # also checks that it is a notebook
        title = lesson.get("title") or heading or PurePosixPath(notebook).stem
        lesson_slug = lesson.get("slug") or PurePosixPath(notebook).stem.lower().replace("_", "-")
        if not SLUG_RE.match(lesson_slug) or lesson_slug in seen or lesson_slug == "open":
            raise CourseContentError(f"{meta_file}: {where}slug {lesson_slug!r} is invalid or used twice")
        seen.add(lesson_slug)
        spec.lessons.append(
            LessonSpec(
                slug=lesson_slug,
                title=title,
                notebook=notebook,
                minutes=int(lesson.get("minutes", 30)),
                prerequisites=list(lesson.get("prerequisites", [])),
                assignment=str(lesson.get("assignment", ""))[:100],
            )
        )
    for lesson in spec.lessons:
        unknown = set(lesson.prerequisites) - seen
        if unknown:
            raise CourseContentError(f"{meta_file}: lesson {lesson.slug!r} requires unknown lessons {sorted(unknown)}")
    return spec


def catalog_root() -> CourseIndexPage:
    """The catalog page, made the default site's root on first use (replacing Wagtail's welcome page)."""
    index = CourseIndexPage.objects.first()
    if index is None:
        root = Page.get_first_root_node()
        index = root.add_child(instance=CourseIndexPage(title="Course catalog", slug="catalog"))
        site = Site.objects.filter(is_default_site=True).first()
        old_root = site.root_page if site else None
        if site:
            site.root_page = index
            site.site_name = "Learning Studio"
            site.save()
        else:
            Site.objects.create(hostname="localhost", port=80, root_page=index, is_default_site=True)
        if old_root and old_root.specific_class is Page and old_root.depth == 2:
            old_root.delete()  # Wagtail's "Welcome to your new Wagtail site!" placeholder
    return index


def _upsert(parent: Page, model, slug: str, fields: dict) -> tuple[Page, bool]:
    page = model.objects.child_of(parent).filter(slug=slug).first()
    if page is None:
        page = parent.add_child(instance=model(slug=slug, **fields))
        return page, True
    changed = not page.live or any(getattr(page, k) != v for k, v in fields.items())
    for k, v in fields.items():
        setattr(page, k, v)
    page.live = True
    if changed:
        page.save()
    return page, False


@transaction.atomic
def course_import(*, course_dir: Path) -> ImportResult:
    spec = course_spec(course_dir)
    index = catalog_root()
    fields = {
        "title": spec.title,
        "summary": spec.summary,
        "level": spec.level,
        "instructors": ", ".join(spec.instructors),
    }
    course, created = _upsert(index, CoursePage, spec.slug, fields)
    result = ImportResult(course=course, created=int(created), updated=int(not created))
    prereq_courses = list(CoursePage.objects.child_of(index).filter(slug__in=spec.prerequisites))
    missing = set(spec.prerequisites) - {c.slug for c in prereq_courses}
    if missing:
        raise CourseContentError(f"{course_dir / 'course.toml'}: prerequisite courses not imported: {sorted(missing)}")
    if {c.pk for c in course.prerequisites.all()} != {c.pk for c in prereq_courses}:
        course.prerequisites.set(prereq_courses)
        course.save()

    lessons: dict[str, LessonPage] = {}
    for order, ls in enumerate(spec.lessons, start=1):
        fields = {
            "title": ls.title,
            "notebook": ls.notebook,
            "order": order,
            "estimated_minutes": ls.minutes,
            "assignment": ls.assignment,
        }
        page, created = _upsert(course, LessonPage, ls.slug, fields)
        lessons[ls.slug] = page
        result.created += created
        result.updated += not created
    for ls in spec.lessons:
        page = lessons[ls.slug]
        wanted = {lessons[s].pk for s in ls.prerequisites}
        if {p.pk for p in page.prerequisites.all()} != wanted:
            page.prerequisites.set([lessons[s] for s in ls.prerequisites])
            page.save()
    for stale in LessonPage.objects.child_of(course).live().exclude(slug__in=lessons):
        stale.unpublish()
        result.unpublished += 1
    return result


def courses_import(*, content_dir: Path) -> list[ImportResult]:
    """Import every course folder (one holding a course.toml) under ``content_dir``, prerequisites first."""
    folders = sorted(p.parent for p in content_dir.glob("*/course.toml"))
    if not folders:
        raise CourseContentError(f"{content_dir}: no <course>/course.toml found")
    specs = {f: course_spec(f) for f in folders}
    done: list[ImportResult] = []
    pending = dict(specs)
    while pending:
        imported = {r.course.slug for r in done} | set(CoursePage.objects.values_list("slug", flat=True))
        ready = [f for f, s in pending.items() if set(s.prerequisites) <= imported]
        if not ready:
            raise CourseContentError(f"{content_dir}: prerequisite courses missing or circular: {sorted(pending)}")
        for folder in ready:
            done.append(course_import(course_dir=folder))
            del pending[folder]
    return done
