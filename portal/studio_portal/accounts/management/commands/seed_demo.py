"""manage.py seed_demo --passwords-file FILE [--course SLUG]"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from studio_portal.catalog.models import CoursePage
from studio_portal.community.models import Thread
from studio_portal.community.services import thread_create
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role

# username → (full name, role in the demo course or None, staff)
DEMO_ACCOUNTS = {
    "student1": ("Sam Student", Role.STUDENT, False),
    "student2": ("Alex Student", Role.STUDENT, False),
    "student3": ("Kim Newcomer", None, False),  # not enrolled: shows the enroll flow
    "grader1": ("Gus Grader", Role.GRADER, False),
    "instructor1": ("Ines Instructor", Role.INSTRUCTOR, True),
}

WELCOME = """Welcome to the course forum! Ask about lessons and exercises here; classmates and the course team answer.

Put code in a block so it keeps its shape:

```python
def greet(name):
    return f"Hello, {name}!"
```

Mention someone with @grader1, and mark the reply that solved your problem as the answer."""


def read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)


def write_passwords(path: Path, passwords: dict[str, str], names) -> None:
    """``names``' passwords into ``path``, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{u}:{p}\n" for u, p in passwords.items() if u in names)


def demo_course(slug: str) -> CoursePage:
    page = CoursePage.objects.filter(slug=slug).first()
    if page is None:
        raise CommandError(f"course {slug!r} is not imported; run import_courses first")
    return page


def demo_account(username: str, full_name: str, passwords: dict[str, str], *, staff: bool = False):
    """The account ``username`` as the demo has it; a password is made (into ``passwords``) for one it has none
    of, and set on the account; a known one is left as it is."""
    known = username in passwords
    password = passwords.setdefault(username, secrets.token_urlsafe(12))
    user, created = get_user_model().objects.get_or_create(username=username)
    user.first_name, user.last_name = full_name.split(" ", 1)
    user.email = f"{username}@example.org"
    user.is_staff = user.is_superuser = staff
    if created or not known:
        user.set_password(password)
    user.save()
    return user


class Command(BaseCommand):
    help = "Create the demo accounts (passwords kept in a private, git-ignored file) and their course roles."

    def add_arguments(self, parser):
        parser.add_argument("--passwords-file", type=Path, required=True)
        parser.add_argument("--course", default="intro-python")

    @transaction.atomic
    def handle(self, *args, passwords_file: Path, course: str, **options):
        page = demo_course(course)
        passwords = read_passwords(passwords_file)
        for username, (full_name, role, staff) in DEMO_ACCOUNTS.items():
            user = demo_account(username, full_name, passwords, staff=staff)
            if role:
                enrollment_set_role(user=user, course=page, role=role)
        if not Thread.objects.filter(course=page, group=None).exists():
            author = get_user_model().objects.get(username="instructor1")
            thread_create(course=page, author=author, title="Welcome: ask here", body=WELCOME)
        write_passwords(passwords_file, passwords, DEMO_ACCOUNTS)
        self.stdout.write(f"demo accounts ready; passwords in {passwords_file}")
