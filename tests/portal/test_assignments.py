"""Assignments in the portal: the exchange's records (a release, each student's work on it) through the API, and
what students and course teams read of them on the course page and the student's dashboard."""

from __future__ import annotations

import json

from django.test import override_settings

from studio_portal.grades.models import Assignment, Grade, Work
from studio_portal.grades.selectors import status_of
from tests.portal.base import CatalogTestCase, enrolled

TOKEN = "grades-test-token"
PS, PS2 = "ps01-values-and-names", "ps02-functions"


def released(assignment=PS, course="intro-python", due="2026-12-10T17:00:00+00:00", **extra) -> dict:
    return {
        "kind": "assignment",
        "course": course,
        "assignment": assignment,
        "released": True,
        "due": due,
        "released_at": "2026-12-01T09:00:00+00:00",
        "notebooks": [assignment],
        **extra,
    }


def work(student="student1", assignment=PS, **extra) -> dict:
    return {
        "kind": "work",
        "course": "intro-python",
        "assignment": assignment,
        "student": student,
        "fetched_at": "2026-12-02T10:00:00+00:00",
        "submissions": 0,
        "submission": None,
        "submitted": None,
        "late": False,
        "feedback": False,
        **extra,
    }


@override_settings(
    GRADES_TOKEN=TOKEN,
    STUDIO_HUB_URL="http://localhost:8000",
    STUDIO_GRADING_URL="http://grading--service.localhost:8000/services/grading/",
)
class AssignmentRecordsTests(CatalogTestCase):
    def put(self, records, token=TOKEN):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        body = records if isinstance(records, str) else json.dumps({"records": records})
        return self.client.put("/api/assignments/", body, content_type="application/json", **headers)

    def test_records_are_stored_as_states_and_sending_them_again_changes_nothing(self):
        body = [released(), work(), work("nobody-here"), released(course="no-such-course")]
        for _ in range(2):
            resp = self.put(body)
            assert resp.status_code == 200, resp.content
            assert resp.json() == {
                "stored": 2,
                "skipped": [f"intro-python/{PS}/nobody-here", f"no-such-course/{PS}"],
            }
        a = Assignment.objects.get(course=self.intro, slug=PS)
        assert a.released and a.due.isoformat() == "2026-12-10T17:00:00+00:00" and a.notebooks == [PS]
        w = Work.objects.get(assignment=a, student=self.student)
        assert w.fetched_at is not None and w.submissions == 0
        # A newer state replaces the older; a record of work on an assignment not known yet makes it (not released).
        self.put([work(submissions=2, submission="s2", submitted="2026-12-11 10:00:00 UTC", late=True)])
        w.refresh_from_db()
        assert (w.submissions, w.submission, w.late) == (2, "s2", True)
        self.put([work(assignment="ps09-extra")])
        assert not Assignment.objects.get(slug="ps09-extra").released

    def test_only_the_grades_token_sends_records_and_malformed_ones_are_refused_with_the_reason(self):
        assert self.put([released()], token=None).status_code == 401
        assert self.put([released()], token="events-or-anything-else").status_code == 403
        for bad, words in [
            ([{**released(), "released": "yes"}], "released"),
            ([{**work(), "student": ""}], "student"),
            ([{**work(), "role": "instructor"}], "role"),
            ([{**released(), "due": "next tuesday"}], "next tuesday"),
            ([{"kind": "grade", "course": "intro-python"}], "kind"),
        ]:
            resp = self.put(bad)
            assert resp.status_code == 400 and words in resp.json()["message"], (bad, resp.content)
        assert self.put("{not json").status_code == 400
        assert Assignment.objects.count() == 0

    def test_a_students_status_follows_their_work_and_grade(self):
        a = Assignment.objects.create(course=self.intro, slug=PS, released=True)
        w = Work(assignment=a, student=self.student)
        g = Grade(course=self.intro, student=self.student, assignment=PS, state="graded", submission="s1")
        cases = [
            (None, None, "not-fetched"),
            (w, None, "not-fetched"),
            (Work(assignment=a, fetched_at="2026-12-02T10:00Z"), None, "fetched"),
            (Work(assignment=a, submissions=1, submission="s1"), None, "submitted"),
            (Work(assignment=a, submissions=1, submission="s1"), Grade(state="queued", submission="s1"), "grading"),
            (Work(assignment=a, submissions=1, submission="s1"), g, "graded"),
            (Work(assignment=a, submissions=1, submission="s1"), Grade(state="review", submission="s1"), "review"),
            (Work(assignment=a, submissions=1, submission="s1"), Grade(state="failed", submission="s1"), "failed"),
            # A newer submission than the one graded: submitted again, not graded yet.
            (Work(assignment=a, submissions=2, submission="s2"), g, "submitted"),
            (Work(assignment=a, submissions=1, submission="s1", feedback=True), g, "feedback"),
        ]
        for w, grade, expected in cases:
            assert status_of(w, grade) == expected, (w and w.__dict__, grade and grade.state, expected)

    def test_the_course_page_lists_each_assignment_with_the_students_status_score_and_a_way_to_open_it(self):
        self.put([released(), released(PS2, due=None), work(submissions=1, submission="s1", late=True)])
        Grade.objects.create(
            course=self.intro,
            student=self.student,
            assignment=PS,
            state="graded",
            score=5,
            max_score=7,
            submission="s1",
        )
        self.client.force_login(self.student)
        page = self.client.get(self.intro.url).content.decode()
        assert f'data-assignment="{PS}" data-status="graded"' in page and "5 / 7" in page and "(late)" in page
        assert f'data-assignment="{PS2}" data-status="not-fetched"' in page and "no due date" in page
        assert f'href="http://localhost:8000/hub/user-redirect/studio/assignments/intro-python/{PS}"' in page
        assert "practice: Graded, 5 / 7" in page  # the lesson that practises ps01 shows the student's progress
        dashboard = self.client.get("/dashboard/").content.decode()
        assert f'data-assignment="{PS}" data-status="graded"' in dashboard, dashboard[-3000:]
        # Another student sees their own status only; someone outside the course sees no assignments.
        other = enrolled("student9", self.intro)
        self.client.force_login(other)
        page = self.client.get(self.intro.url).content.decode()
        assert f'data-assignment="{PS}" data-status="not-fetched"' in page and "5 / 7" not in page
        self.client.force_login(self.outsider)
        assert "data-assignment" not in self.client.get(self.intro.url).content.decode()

    def test_the_course_team_sees_how_many_submitted_were_graded_and_need_review_with_formgrader_links(self):
        second = enrolled("student9", self.intro)
        self.put([released(), work(submissions=1, submission="s1"), work("student9", submissions=2, late=True)])
        Grade.objects.create(course=self.intro, student=self.student, assignment=PS, state="graded", score=5)
        Grade.objects.create(course=self.intro, student=second, assignment=PS, state="review", score=7)
        for member in (self.grader, self.instructor):
            self.client.force_login(member)
            page = self.client.get(self.intro.url).content.decode()
            row = page.split(f'<tr data-assignment="{PS}">')[1].split("</tr>")[0]
            assert "2 of 2" in row and '<td class="submitted">2 (1 late)</td>' in row, row
            assert '<td class="graded">1' in row and '<strong class="needs-review">1</strong>' in row, row
            assert (
                f'href="http://grading--service.localhost:8000/services/grading/formgrader/intro-python/formgrader/'
                f'manage_submissions/{PS}"' in row
            ), row
        self.client.force_login(self.student)
        assert "needs-review" not in self.client.get(self.intro.url).content.decode()
