"""Fills a portal database for the benchmark: ``python -m tests.bench.portal.data <scale>`` with the portal's
production settings and DATABASE_URL in the environment. Scale 1: 100 students, 40 forum threads, a 120-post
thread, ~12k learning events, 4 graded assignments each; scale 10: ten times each."""

from __future__ import annotations

import sys
import time


def main(scale: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from studio_portal.analytics import cohort
    from studio_portal.analytics.services import events_ingest
    from studio_portal.catalog.models import CoursePage
    from studio_portal.community import markup
    from studio_portal.community.models import Post, Thread
    from studio_portal.courses.models import Enrollment, Role
    from studio_portal.grades.services import grades_store

    t0 = time.monotonic()
    course = CoursePage.objects.get(slug="intro-python")
    made = cohort.generate(100 * scale, seed=5)
    User = get_user_model()
    password = make_password("bench-password")
    users = User.objects.bulk_create([User(username=n, password=password) for n in made.students])
    Enrollment.objects.bulk_create([Enrollment(user=u, course=course, role=Role.STUDENT) for u in users])
    for start in range(0, len(made.events), 5000):
        events_ingest(events=made.events[start : start + 5000])
    for start in range(0, len(made.grades), 2000):
        grades_store(grades=made.grades[start : start + 2000])
    body = "I tried this:\n\n```python\nfor i in range(10):\n    print(i)\n```\n\nWhy does it stop at 9?"
    html = markup.render(body).html
    threads = Thread.objects.bulk_create(
        [
            Thread(course=course, author=users[i % len(users)], title=f"Question {i}", reply_count=3)
            for i in range(40 * scale)
        ]
    )
    Post.objects.bulk_create(
        [Post(thread=t, author=users[(t.pk + k) % len(users)], body=body, html=html) for t in threads for k in range(4)]
    )
    busy = Thread.objects.create(course=course, author=users[0], title="The busy thread", reply_count=120 * scale)
    Post.objects.bulk_create(
        [Post(thread=busy, author=users[k % len(users)], body=body, html=html) for k in range(120 * scale)]
    )
    print(
        f"scale {scale}: {len(users)} students, {len(made.events)} events, {len(made.grades)} grades, "
        f"{len(threads) + 1} threads, busy thread {busy.pk}, in {time.monotonic() - t0:.0f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
