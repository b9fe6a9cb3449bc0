"""Peer code review: sharing a submitted notebook (outputs dropped, cells rendered safely), commenting per cell,
moderation, who may do what, and bad uploads."""

from __future__ import annotations

import json

import nbformat
from django.core.files.uploadedfile import SimpleUploadedFile

from studio_portal.community.models import ReviewComment, ReviewRequest
from studio_portal.grades.models import Grade
from studio_portal.notifications.models import Notification
from tests.portal.base import CatalogTestCase, enrolled
from tests.portal.test_community import unsafe

PS = "ps02-functions"


def notebook(*cells) -> bytes:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if kind == "code":
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>steal()</script>"})]
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


GOOD = notebook(
    ("markdown", "# My squares\nI used a *loop*."), ("code", "def squares(n):\n    return [i * i for i in range(n)]")
)


class ReviewTests(CatalogTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.peer = enrolled("student2", cls.intro, "s2@example.org")
        Grade.objects.create(course=cls.intro, student=cls.student, assignment=PS, state="graded", score=5, max_score=7)

    def share(self, who=None, raw=GOOD, assignment=PS, expect=302):
        self.client.force_login(who or self.student)
        upload = SimpleUploadedFile("mine.ipynb", raw, content_type="application/x-ipynb+json")
        resp = self.client.post(
            "/courses/intro-python/reviews/new/",
            {"assignment": assignment, "notebook": upload, "note": "Is my loop clear?"},
        )
        assert resp.status_code == expect, resp.content[:400]
        return resp

    def test_share_comment_and_moderate(self):
        self.share()
        review = ReviewRequest.objects.get()
        assert [c["type"] for c in review.cells] == ["markdown", "code"]
        page = self.as_peer().get(f"/courses/intro-python/reviews/{review.pk}/").content.decode()
        assert "<em>loop</em>" in page and '<span class="k">return</span>' in page
        assert "steal()" not in page  # outputs are never shown
        resp = self.client.post(
            f"/courses/intro-python/reviews/{review.pk}/comment/",
            {"cell": "1", "body": "Nice comprehension, @student1"},
        )
        assert resp.status_code == 302 and resp["Location"].endswith("#cell-1")
        assert ReviewComment.objects.get().cell == 1
        assert Notification.objects.get(user=self.student, kind="review").text == (
            f"student2 commented on cell 2 of your {PS}"
        )
        # The team hides a comment and closes the review; students cannot moderate.
        comment = ReviewComment.objects.get()
        url = f"/courses/intro-python/reviews/{review.pk}/moderate/"
        assert self.client.post(url, {"action": "close"}).status_code == 403
        self.client.force_login(self.grader)
        self.client.post(url, {"comment": comment.pk, "hidden": "1"})
        self.client.post(url, {"action": "close"})
        page = self.as_peer().get(f"/courses/intro-python/reviews/{review.pk}/").content.decode()
        assert "Nice comprehension" not in page and "hidden by the course team" in page and "Closed" in page
        self.client.post(f"/courses/intro-python/reviews/{review.pk}/comment/", {"cell": "0", "body": "late"})
        assert ReviewComment.objects.count() == 1

    def as_peer(self):
        self.client.force_login(self.peer)
        return self.client

    def test_only_a_submitted_assignment_and_only_the_courses_people(self):
        resp = self.share(self.peer, expect=400)  # student2 has submitted nothing
        assert "you have submitted" in resp.content.decode()
        self.share()
        review = ReviewRequest.objects.get()
        self.client.force_login(self.outsider)
        assert self.client.get(f"/courses/intro-python/reviews/{review.pk}/").status_code == 403
        assert (
            self.client.post(
                f"/courses/intro-python/reviews/{review.pk}/comment/", {"cell": "0", "body": "x"}
            ).status_code
            == 403
        )
        assert self.client.get("/courses/intro-python/reviews/").status_code == 403

    def test_bad_uploads_are_refused_with_a_reason(self):
        cases = [
            (b"not json at all", "not a readable Jupyter notebook"),
            (json.dumps({"cells": "nope"}).encode(), "not a readable Jupyter notebook"),
            (b"\xff\xfe\x00", "not a readable Jupyter notebook"),
            (notebook(), "no code or Markdown cells"),
            (notebook(*[("code", "x = 1")] * 301), "at most 300 fit"),
            (b" " * (2 * 2**20 + 1), "at most 2 MiB fit"),
        ]
        for raw, reason in cases:
            resp = self.share(raw=raw, expect=400)
            assert reason in resp.content.decode(), reason
        assert not ReviewRequest.objects.exists()

    def test_an_oversize_upload_is_refused_before_it_is_read(self):
        """Attack: a 30 MB upload, to fill the portal's memory (the old code read the whole file first)."""
        from unittest import mock

        from django.core.cache import cache
        from django.core.handlers.wsgi import WSGIRequest

        with mock.patch.object(WSGIRequest, "FILES", new_callable=mock.PropertyMock) as files:
            resp = self.share(raw=b"{" + b" " * (30 * 2**20), expect=413)
        assert not files.called, "the body was parsed before the size was checked"
        assert "at most 2 MiB fit" in resp.content.decode()
        # One huge cell within the size: refused by its length, before it is highlighted.
        resp = self.share(raw=notebook(("code", "x = 1 + " * 30_000)), expect=400)
        assert "at most 100000 fit" in resp.content.decode()
        assert not ReviewRequest.objects.exists()
        cache.clear()  # the posting rate limit: the other tests start with none used

    def test_cells_cannot_carry_script(self):
        evil = notebook(
            ("markdown", "<script>alert(1)</script>[x](javascript:alert(1))<img src=x onerror=alert(1)>"),
            ("code", "</code></pre><script>alert(2)</script>"),
        )
        self.share(raw=evil)
        for cell in ReviewRequest.objects.get().cells:
            assert unsafe(cell["html"]) == [], cell["html"]
