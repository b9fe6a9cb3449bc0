"""Learning analytics: events in (idempotent), summaries, both dashboards, the CSV, who sees what, constant queries,
and the at-risk score's precision and recall on a generated cohort it never saw while being tuned."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from studio_portal.analytics import cohort
from studio_portal.analytics.models import DailyActivity, ExerciseStat, LearningEvent
from studio_portal.analytics.risk import AT_RISK, Signals, assess
from studio_portal.analytics.selectors import course_dashboard, streak
from studio_portal.analytics.services import events_ingest
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role
from studio_portal.grades.services import grades_store
from tests.portal.base import CatalogTestCase

TOKEN = "events-test-token"
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def event(n, kind="execute", student="student1", ok=True, exercise="squares", minutes=0.0, **extra) -> dict:
    return {
        "id": f"1-{n}",
        "kind": kind,
        "student": student,
        "course": "intro-python",
        "assignment": "ps02-functions",
        "exercise": exercise,
        "ok": ok,
        "time": (NOW - timedelta(minutes=minutes)).timestamp(),
        **extra,
    }


@override_settings(EVENTS_TOKEN=TOKEN, GRADES_TOKEN="grades-test-token")
class IngestTests(CatalogTestCase):
    def put(self, events, token=TOKEN):
        return self.client.put(
            "/api/events/",
            json.dumps({"events": events}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    def test_events_are_stored_once_and_summarised(self):
        batch = [
            event(1, ok=False, minutes=30),
            event(2, kind="hint-shown", minutes=29),
            event(3, minutes=27),
            event(4, exercise="cube", minutes=1),
            event(5, student="nobody"),
            event(7, kind="check", ok=True, minutes=26),  # squares' visible tests passed
        ]
        resp = self.put(batch)
        assert resp.status_code == 200, resp.content
        assert resp.json() == {"stored": 5, "duplicates": 0, "skipped": ["intro-python/nobody"]}
        squares = ExerciseStat.objects.get(exercise="squares")
        assert (squares.attempts, squares.errors, squares.hints, squares.passed) == (2, 1, 1, True)
        # cube ran without an error, but its tests never ran: not passed (an error-free run is no pass)
        assert not ExerciseStat.objects.get(exercise="cube").passed
        day = DailyActivity.objects.get()
        # 60 s for the first event, the 1-, 2- and 1-minute gaps, then a 25-minute pause: a new stretch, 60 s again.
        assert (day.events, day.runs, day.errors, day.hints, day.seconds) == (5, 4, 1, 1, 60 + 60 + 120 + 60 + 60)
        before = list(DailyActivity.objects.values()) + list(ExerciseStat.objects.values())
        again = self.put(batch + [event(6, minutes=0)])  # the queue replayed, and one new event
        assert again.json()["stored"] == 1 and again.json()["duplicates"] == 5
        assert LearningEvent.objects.count() == 6
        self.put(batch)
        assert DailyActivity.objects.get().runs == 5 and ExerciseStat.objects.get(exercise="squares").attempts == 3
        assert len(before) == 3

    def test_a_failed_check_is_no_pass_and_a_later_passing_one_is(self):
        self.put([event(1, kind="execute", ok=True, minutes=5), event(2, kind="check", ok=False, minutes=4)])
        stat = ExerciseStat.objects.get(exercise="squares")
        assert (stat.attempts, stat.passed) == (1, False)
        self.put([event(3, kind="check", ok=True, minutes=1)])
        assert ExerciseStat.objects.get(exercise="squares").passed

    def test_the_token_and_the_body_are_checked(self):
        assert self.put([event(1)], token="wrong").status_code == 403
        assert self.client.put("/api/events/", "{}", content_type="application/json").status_code == 401
        for body in (
            "nonsense",
            json.dumps({"events": {}}),
            json.dumps({"events": [{"id": "1"}]}),
            json.dumps({"events": [event(1, kind="graded")]}),
            json.dumps({"events": [dict(event(1), time="yesterday")]}),
        ):
            resp = self.client.put(
                "/api/events/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
            )
            assert resp.status_code == 400 and resp.json()["message"], body
        assert not LearningEvent.objects.exists()

    def test_grades_become_a_history_one_event_per_submission(self):
        def grade(submission, score, **extra):
            return {
                "course": "intro-python",
                "assignment": "ps01-values-and-names",
                "student": "student1",
                "state": "graded",
                "score": score,
                "max_score": 4.0,
                "submission": submission,
                "graded_at": NOW.timestamp(),
                **extra,
            }

        grades_store(grades=[grade("s1", 2.0)])
        grades_store(grades=[grade("s1", 3.0)])  # a regrade of the same submission: no second event
        grades_store(grades=[grade("s2", 4.0), dict(grade("s3", None), state="failed")])
        history = list(LearningEvent.objects.filter(kind="graded").order_by("id").values_list("score", "ok"))
        assert history == [(0.5, False), (1.0, True)]


class DashboardTests(CatalogTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        User = get_user_model()
        cls.quiet = User.objects.create_user("quiet", "q@example.org", "pw", first_name="Quinn")
        enrollment_set_role(user=cls.quiet, course=cls.intro, role=Role.STUDENT)
        events = []
        for day in range(3):  # student1: three days in a row up to today, a few runs each
            for n in range(4):
                events.append(event(f"{day}{n}", minutes=day * 1440 + n * 2, ok=n > 0))
        events += [event("h1", kind="hint-shown", minutes=3), event("c1", kind="check", minutes=2)]
        for n in range(12):  # quiet: busy twelve days ago, failing and leaning on hints, then nothing
            events.append(event(f"q{n}", student="quiet", ok=n % 4 == 0, minutes=12 * 1440 + n))
            events.append(event(f"qh{n}", kind="hint-shown", student="quiet", minutes=12 * 1440 + n))
        events_ingest(events=events)
        grades_store(
            grades=[
                {
                    "course": "intro-python",
                    "assignment": a,
                    "student": s,
                    "state": "graded",
                    "score": score,
                    "max_score": 10.0,
                    "submission": f"{s}-{a}",
                    "graded_at": (NOW - timedelta(days=d)).timestamp(),
                }
                for s, a, score, d in [
                    ("student1", "ps01-values-and-names", 9, 5),
                    ("student1", "ps02-functions", 8, 1),
                    ("quiet", "ps01-values-and-names", 8, 14),
                    ("quiet", "ps02-functions", 3, 12),
                ]
            ]
        )

    def test_a_students_dashboard(self):
        self.client.force_login(self.student)
        page = self.client.get("/dashboard/").content.decode()
        assert "<strong>3</strong> days in a row" in page
        assert "Lessons passed: 2 of 8" in page
        assert "Hints used</dt><dd>1</dd>" in page
        assert "9 / 10" in page and "quiet" not in page
        assert 'role="img"' in page and "<title>" in page  # the activity chart, described

    def test_the_course_dashboard_lists_who_struggles_and_why(self):
        dash = course_dashboard(course=self.intro, now=NOW)
        by_name = {r.username: r for r in dash.risks}
        quiet, fine = by_name["quiet"], by_name["student1"]
        assert quiet.assessment.at_risk and not fine.assessment.at_risk
        reasons = " | ".join(quiet.assessment.reasons)
        assert "no activity for 12 days" in reasons and "grades falling: 80% → 30%" in reasons
        assert "75% of 12 recent runs ended in an error" in reasons and "12.0 hints per exercise" in reasons
        assert fine.assessment.reasons == []
        step = next(s for s in dash.funnel if s.lesson.assignment == "ps02-functions")
        assert (dash.students, step.attempted, step.submitted, step.passed) == (2, 2, 2, 1)
        squares = next(r for r in dash.exercises if r.exercise == "squares")
        assert (squares.students, squares.passed) == (2, 1)  # quiet's runs had no error some times; no tests passed

        self.client.force_login(self.instructor)
        page = self.client.get("/courses/intro-python/analytics/").content.decode()
        assert "quiet" in page and "no activity for 12 days" in page and "Lesson by lesson" in page
        rows = list(
            csv.DictReader(io.StringIO(self.client.get("/courses/intro-python/analytics.csv").content.decode()))
        )
        assert [r["student"] for r in rows] == ["quiet", "student1"] and rows[0]["at_risk"] == "1"
        assert "no activity for 12 days" in rows[0]["reasons"]

    def test_names_are_escaped_on_the_dashboard_and_in_the_csv_as_text(self):
        self.quiet.first_name = "<script>alert(1)</script>"
        self.quiet.last_name = '=HYPERLINK("http://example.org/x")'
        self.quiet.save()
        self.client.force_login(self.instructor)
        page = self.client.get("/courses/intro-python/analytics/").content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
        export = self.client.get("/courses/intro-python/analytics.csv").content.decode()
        rows = list(csv.DictReader(io.StringIO(export)))
        # A CSV is data: markup stays as written; a formula is made text for spreadsheets.
        assert rows[0]["name"] == '<script>alert(1)</script> =HYPERLINK("http://example.org/x")'
        self.quiet.first_name = ""
        self.quiet.save()
        export = self.client.get("/courses/intro-python/analytics.csv").content.decode()
        rows = list(csv.DictReader(io.StringIO(export)))
        assert rows[0]["name"] == '\'=HYPERLINK("http://example.org/x")'

    def test_who_sees_the_course_dashboard(self):
        for who, status in [(self.instructor, 200), (self.grader, 200), (self.student, 403), (self.outsider, 403)]:
            self.client.force_login(who)
            assert self.client.get("/courses/intro-python/analytics/").status_code == status, who
            assert self.client.get("/courses/intro-python/analytics.csv").status_code == status, who
        self.client.logout()
        assert self.client.get("/dashboard/").status_code == 302

    def test_dashboards_cost_the_same_queries_with_ten_times_the_students(self):
        def count(who, url):
            self.client.force_login(who)
            self.client.get(url)
            with CaptureQueriesContext(connection) as ctx:
                assert self.client.get(url).status_code == 200
            return len(ctx.captured_queries)

        small = (count(self.instructor, "/courses/intro-python/analytics/"), count(self.student, "/dashboard/"))
        User = get_user_model()
        extra = []
        for i in range(20):
            u = User.objects.create_user(f"more{i}", "", "pw")
            enrollment_set_role(user=u, course=self.intro, role=Role.STUDENT)
            extra += [event(f"m{i}-{n}", student=u.username, exercise=f"e{n}", minutes=i * 100 + n) for n in range(5)]
        events_ingest(events=extra)
        large = (count(self.instructor, "/courses/intro-python/analytics/"), count(self.student, "/dashboard/"))
        assert large == small, (small, large)


def test_streaks():
    today = NOW.date()
    days = {today - timedelta(days=n) for n in (1, 2, 3, 5)}
    assert streak(days, today) == 3  # today is not over: yesterday's run counts
    assert streak(days | {today}, today) == 4
    assert streak({today - timedelta(days=2)}, today) == 0


def test_each_signal_is_named_with_its_numbers():
    assert assess(Signals(days_inactive=0, runs=20, errors=2, exercises=5, hints=1, grades=(0.9, 0.95))).reasons == []
    cases = [
        (Signals(days_inactive=10), "no activity for 10 days"),
        (Signals(days_inactive=None), "has not started"),
        (Signals(days_inactive=1, runs=20, errors=16), "80% of 20 recent runs ended in an error"),
        (Signals(days_inactive=1, exercises=4, hints=10), "2.5 hints per exercise"),
        (Signals(days_inactive=1, grades=(0.9, 0.5, 0.4)), "grades falling: 90% → 50% → 40%"),
        (Signals(days_inactive=1, grades=(0.4, 0.45)), "low grades: 40% → 45%"),
    ]
    for signals, words in cases:
        result = assess(signals)
        assert words in result.reasons, (signals, result)
    # Few runs say little: two failing runs alone do not raise the score.
    assert assess(Signals(days_inactive=0, runs=2, errors=2)).score < AT_RISK


class CohortTests(CatalogTestCase):
    def test_precision_and_recall_on_a_held_out_cohort(self):
        """The weights were set on seeds 1, 2, 3 and 7; this cohort (seed 11) was not looked at."""
        made = cohort.generate(150, seed=11)
        User = get_user_model()
        for name in made.students:
            enrollment_set_role(user=User.objects.create_user(name, "", "pw"), course=self.intro, role=Role.STUDENT)
        for start in range(0, len(made.events), 5000):
            events_ingest(events=made.events[start : start + 5000])
        grades_store(grades=made.grades)
        dash = course_dashboard(course=self.intro, now=datetime.fromtimestamp(made.now, UTC))
        flagged = {r.username for r in dash.at_risk}
        truth = {s for s, struggling in made.struggling.items() if struggling}
        precision = len(flagged & truth) / len(flagged)
        recall = len(flagged & truth) / len(truth)
        print(
            f"\nat-risk, held-out cohort of {len(made.students)} ({len(truth)} struggling): "
            f"precision {precision:.2f}, recall {recall:.2f}"
        )
        assert precision >= 0.7 and recall >= 0.7, (precision, recall)
        assert all(r.assessment.reasons for r in dash.at_risk)  # every flag is explained


class DashboardCacheTests(CatalogTestCase):
    @override_settings(STUDIO_DASHBOARD_CACHE_SECONDS=60)
    def test_the_course_dashboard_is_computed_at_most_once_a_minute(self):
        from django.core.cache import cache

        cache.clear()
        self.client.force_login(self.instructor)
        with CaptureQueriesContext(connection) as first:
            self.client.get("/courses/intro-python/analytics/")
        newcomer = get_user_model().objects.create_user("newcomer", "", "pw")
        enrollment_set_role(user=newcomer, course=self.intro, role=Role.STUDENT)
        with CaptureQueriesContext(connection) as second:
            page = self.client.get("/courses/intro-python/analytics/").content.decode()
        assert len(second.captured_queries) < len(first.captured_queries) and "<p>1 student ·" in page
        cache.clear()
        assert "<p>2 students ·" in self.client.get("/courses/intro-python/analytics/").content.decode()


def test_the_portal_stores_every_kind_of_event_a_learner_reports():
    from studio_wire.events import KINDS

    assert set(LearningEvent.Kind.values) == {*KINDS, LearningEvent.Kind.GRADED}
