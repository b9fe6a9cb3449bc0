"""Grades in the portal: the grading service's API (service token), and who reads which grades (a table)."""

from __future__ import annotations

import csv
import io
import json

from django.contrib.auth import get_user_model
from django.test import override_settings

from studio_portal.grades.models import Grade
from tests.portal.base import CatalogTestCase

TOKEN = "grades-test-token"
PS = "ps01-values-and-names"


def grade(student="student1", course="intro-python", assignment=PS, **extra) -> dict:
    return {
        "course": course,
        "assignment": assignment,
        "student": student,
        "state": "graded",
        "score": 4.0,
        "max_score": 7.0,
        "needs_manual_grade": True,
        "flagged": False,
        "submission": "20261122T100000000000Z",
        "timestamp": "2026-11-22 10:00:00.000000 UTC",
        "graded_at": 1795341600.0,
        **extra,
    }


@override_settings(GRADES_TOKEN=TOKEN)
class GradesApiTests(CatalogTestCase):
    def put(self, body, token=TOKEN, scheme="Bearer"):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"} if token else {}
        return self.client.put("/api/grades/", data, content_type="application/json", **headers)

    def test_grades_are_stored_and_sending_them_again_changes_nothing(self):
        resp = self.put({"grades": [grade(), grade("student3", score=7.0)]})
        assert resp.status_code == 200, resp.content
        assert resp.json() == {"stored": 2, "skipped": []}
        self.put({"grades": [grade(), grade("student3", score=7.0)]})
        assert Grade.objects.count() == 2
        g = Grade.objects.get(student__username="student1")
        assert (g.state, g.score, g.max_score, g.needs_manual_grade, g.submitted) == (
            "graded",
            4.0,
            7.0,
            True,
            "2026-11-22 10:00:00.000000 UTC",
        )
        self.put({"grades": [grade(score=6.0, needs_manual_grade=False)]})  # regraded: replaces
        g.refresh_from_db()
        assert (g.score, g.needs_manual_grade, Grade.objects.count()) == (6.0, False, 2)

    def test_unknown_course_or_student_is_skipped_and_named(self):
        resp = self.put({"grades": [grade("nobody"), grade(course="no-course"), grade()]})
        assert resp.json() == {"stored": 1, "skipped": [f"intro-python/{PS}/nobody", f"no-course/{PS}/student1"]}

    def test_token_is_required_and_checked(self):
        assert self.put({"grades": []}, token="").status_code == 401
        assert self.put({"grades": []}, scheme="Basic").status_code == 401
        assert self.put({"grades": [grade()]}, token="wrong").status_code == 403
        assert self.client.get("/api/grades/").status_code == 405
        assert not Grade.objects.exists()

    @override_settings(EVENTS_TOKEN="events-token")
    def test_one_token_per_purpose(self):
        """Attack: the hints service (it parses learners' input and may call an outside model) is made to send a
        grade with the token it holds. Its token is for events only; the grades one does not send events."""
        assert self.put({"grades": [grade(score=7.0)]}, token="events-token").status_code == 403
        assert not Grade.objects.exists()
        events = self.client.put(
            "/api/events/", '{"events": []}', content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
        )
        assert events.status_code == 403

    @override_settings(GRADES_TOKEN="")
    def test_without_a_token_configured_nothing_is_taken(self):
        assert self.put({"grades": [grade()]}, token="").status_code == 503

    def test_bad_bodies_are_refused_with_a_reason_and_store_nothing(self):
        cases = [
            ("not json", "not JSON"),
            ({"grade": []}, '{"grades"'),
            ({"grades": ["x"]}, "object"),
            ({"grades": [grade(state="perfect")]}, "state must be one of"),
            ({"grades": [grade(score="10")]}, "'score' must be a number"),
            ({"grades": [grade(), {**grade("student3"), "student": None}]}, "'student'"),
        ]
        for body, message in cases:
            resp = self.put(body)
            assert resp.status_code == 400 and message in resp.json()["message"], (body, resp.content)
        assert not Grade.objects.exists()


@override_settings(GRADES_TOKEN=TOKEN)
class GradesPagesTests(CatalogTestCase):
    def setUp(self):
        User = get_user_model()
        self.student2 = User.objects.create_user("student2", "s2@example.org", "pw")
        from studio_portal.courses.models import Role
        from studio_portal.courses.services import enrollment_set_role

        enrollment_set_role(user=self.student2, course=self.intro, role=Role.STUDENT)
        self.client.put(
            "/api/grades/",
            json.dumps(
                {
                    "grades": [
                        grade(),
                        grade("student2", score=1.0, flagged=True, reason="<script>alert(1)</script>"),
                    ]
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        )

    def test_who_sees_what(self):
        page, csv_url = "/courses/intro-python/grades/", "/courses/intro-python/grades.csv"
        # user → (grades page status, rows of whom, CSV status)
        table = {
            "student1": (200, {"student1"}, 403),
            "student2": (200, {"student2"}, 403),
            "grader1": (200, {"student1", "student2"}, 403),
            "instructor1": (200, {"student1", "student2"}, 200),
            "student3": (403, set(), 403),  # no role in the course
        }
        for username, (status, whose, csv_status) in table.items():
            self.client.force_login(get_user_model().objects.get(username=username))
            resp = self.client.get(page)
            assert resp.status_code == status, username
            if status == 200:
                shown = {u for u in ("student1", "student2") if f"<td>{u}</td>" in resp.content.decode()}
                team = username in ("grader1", "instructor1")
                assert shown == (whose if team else set()), username
                assert ("4 / 7" in resp.content.decode()) == ("student1" in whose), username
                assert ("1 / 7" in resp.content.decode()) == ("student2" in whose), username
            assert self.client.get(csv_url).status_code == csv_status, username
        self.client.logout()
        assert self.client.get(page).status_code == 302  # log in first

    def test_names_and_reasons_are_escaped(self):
        self.client.force_login(self.instructor)
        body = self.client.get("/courses/intro-python/grades/").content.decode()
        assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body

    def test_csv_cells_that_look_like_formulas_stay_text(self):
        sly = get_user_model().objects.create_user("-2+3", "", "pw")  # a valid username
        Grade.objects.create(course=self.intro, student=sly, assignment=PS, state="graded", score=1, max_score=7)
        self.client.force_login(self.instructor)
        rows = list(csv.DictReader(io.StringIO(self.client.get("/courses/intro-python/grades.csv").content.decode())))
        assert "'-2+3" in [r["student"] for r in rows]

    def test_csv_export_has_every_grade(self):
        self.client.force_login(self.instructor)
        resp = self.client.get("/courses/intro-python/grades.csv")
        assert resp["Content-Type"].startswith("text/csv")
        assert 'filename="intro-python-grades.csv"' in resp["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
        assert [(r["student"], r["assignment"], r["score"], r["max_score"], r["flagged"]) for r in rows] == [
            ("student1", PS, "4", "7", "0"),
            ("student2", PS, "1", "7", "1"),
        ]


@override_settings(GRADES_TOKEN=TOKEN)
class NeedsReviewTests(CatalogTestCase):
    """Issue 16, item 4: a submission the grading service flagged is "needs review" with its reasons for the course
    team, and its points are not final (no badge, no pass, no standing) until a grader clears the flag."""

    REASONS = ["Python's built-in `abs` was replaced", "cell <script>alert(1)</script>'s metadata was altered"]

    def put(self, **extra):
        resp = self.client.put(
            "/api/grades/",
            json.dumps({"grades": [grade(**extra)]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        )
        assert resp.status_code == 200, resp.content

    def test_the_team_sees_why_and_the_student_sees_that_it_is_not_final(self):
        self.put(state="review", score=7.0, flagged=True, needs_manual_grade=False, review=self.REASONS)
        self.client.force_login(self.instructor)
        team = self.client.get("/courses/intro-python/grades/").content.decode()
        assert "Needs review" in team and "7 / 7 (not final)" in team
        assert "Python&#x27;s built-in `abs` was replaced" in team
        assert "<script>alert(1)</script>" not in team and "&lt;script&gt;alert(1)&lt;/script&gt;" in team
        self.client.force_login(self.student)
        mine = self.client.get("/courses/intro-python/grades/").content.decode()
        assert "Needs review" in mine and "A grader will look at this submission" in mine
        assert "abs" not in mine and "metadata" not in mine  # the reasons are the team's
        self.client.force_login(self.instructor)
        rows = list(csv.DictReader(io.StringIO(self.client.get("/courses/intro-python/grades.csv").content.decode())))
        assert [(r["state"], r["review"]) for r in rows] == [("review", "; ".join(self.REASONS))]

    def test_points_count_only_once_the_flag_is_cleared(self):
        from studio_portal.gamification.models import Award

        self.put(state="review", score=7.0, flagged=True, needs_manual_grade=False, review=self.REASONS)
        assert "perfect-score" not in set(Award.objects.filter(user=self.student).values_list("badge", flat=True))
        self.put(state="graded", score=7.0, flagged=False, needs_manual_grade=False)  # a grader cleared it
        assert "perfect-score" in set(Award.objects.filter(user=self.student).values_list("badge", flat=True))
        assert Grade.objects.get().review == ""

    def test_reasons_are_a_bounded_list_of_text(self):
        for bad in ("one string", [1, 2], ["x" * 1001], ["r"] * 51):
            resp = self.client.put(
                "/api/grades/",
                json.dumps({"grades": [grade(state="review", review=bad)]}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
            )
            assert resp.status_code == 400 and "'review'" in resp.json()["message"], bad
