"""manage.py seed_cohort --passwords-file FILE [--course SLUG]

The demo's cohort: classmates of student1 and student2, enrolled in the demo course, with a few forum threads of
theirs. Their work (submissions graded for real, learning events) is added through the platform's own paths by
``scripts/demo_cohort.py``; this makes the accounts and what they wrote in the portal.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from studio_portal.community.models import Thread
from studio_portal.community.services import answer_mark, post_create, thread_create
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role
from studio_portal.gamification.services import leaderboard_join

from .seed_demo import demo_account, demo_course, read_passwords, write_passwords

ON_THE_BOARD = ("ada", "ben", "chloe", "dev", "grace")  # chose to appear on the course's leaderboard
# username → full name. Their work differs (scripts/demo_cohort.py PROFILES): strong, steady, struggling, gone quiet.
COHORT = {
    "ada": "Ada Quinn",
    "ben": "Ben Okafor",
    "chloe": "Chloe Martin",
    "dev": "Dev Patel",
    "emma": "Emma Novak",
    "farid": "Farid Haddad",
    "grace": "Grace Lee",
    "hugo": "Hugo Silva",
}

THREADS = [
    (
        "ben",
        "Why does my function print the value but the test says None?",
        "My `celsius_to_fahrenheit` shows the right number when I run it, but the check says it got `None`.\n\n"
        "```python\ndef celsius_to_fahrenheit(c):\n    print(c * 9 / 5 + 32)\n```",
        [
            (
                "ada",
                "`print` only shows the value; the test needs the function to `return` it. Replace `print(...)` "
                "with `return ...`.",
            ),
            ("ben", "That was it, thanks! All green now."),
        ],
        1,  # the reply marked as the answer
    ),
    (
        "dev",
        "Study tip: run the visible tests after every change",
        "I keep the test cell right below my answer and run both with Shift+Enter each time. Catches typos early.",
        [("grace", "Same here. The hint button also helped me with the loop exercise.")],
        None,
    ),
]


class Command(BaseCommand):
    help = "Create the demo cohort's accounts (enrolled students; passwords in a private file) and forum threads."

    def add_arguments(self, parser):
        parser.add_argument("--passwords-file", type=Path, required=True)
        parser.add_argument("--course", default="intro-python")

    @transaction.atomic
    def handle(self, *args, passwords_file: Path, course: str, **options):
        page = demo_course(course)
        passwords = read_passwords(passwords_file)
        users = {}
        for username, full_name in COHORT.items():
            user = demo_account(username, full_name, passwords)
            enrollment_set_role(user=user, course=page, role=Role.STUDENT)
            if username in ON_THE_BOARD:
                leaderboard_join(user=user, course=page)
            users[username] = user
        for author, title, body, replies, answer in THREADS:
            if Thread.objects.filter(course=page, title=title).exists():
                continue
            thread = thread_create(course=page, author=users[author], title=title, body=body)
            posts = [post_create(thread=thread, author=users[who], body=text) for who, text in replies]
            if answer is not None:
                answer_mark(thread=thread, post=posts[answer - 1], by=users[author])
        write_passwords(passwords_file, passwords, COHORT)
        self.stdout.write(" ".join(COHORT))
