"""manage.py import_courses <content folder>"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studio_portal.catalog.services import CourseContentError, courses_import


class Command(BaseCommand):
    help = "Import every <course>/course.toml under a folder into catalog pages (re-import updates in place)."

    def add_arguments(self, parser):
        parser.add_argument("content_dir", type=Path)

    def handle(self, *args, content_dir: Path, **options):
        try:
            results = courses_import(content_dir=content_dir)
        except CourseContentError as e:
            raise CommandError(str(e)) from e
        for r in results:
            self.stdout.write(
                f"{r.course.slug}: {r.created} pages created, {r.updated} up to date or updated, "
                f"{r.unpublished} lessons unpublished"
            )
