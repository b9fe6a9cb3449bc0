"""Search: courses and lessons for everyone, forum threads of one's own courses only; PostgreSQL full text (stemmed)
when the portal runs on PostgreSQL, as in production."""

from __future__ import annotations

from django.db import connection
from wagtail.search.backends import get_search_backend

from studio_portal.community import services as community
from tests.portal.base import CatalogTestCase


class SearchTests(CatalogTestCase):
    def setUp(self):
        with self.captureOnCommitCallbacks(execute=True):  # the index is updated once the writes commit
            self.loops = community.thread_create(
                course=self.intro, author=self.student, title="Nested loops", body="My inner loop repeats forever"
            )
            community.post_create(
                thread=self.loops, author=self.grader, body="Check the counter of the while statement"
            )
            self.hidden = community.thread_create(
                course=self.intro, author=self.student, title="Loops again", body="spam spam"
            )
            community.thread_moderate(thread=self.hidden, hidden=True)
            self.elsewhere = community.thread_create(
                course=self.other, author=self.instructor, title="Dataframe loops", body="iterrows is slow"
            )

    def find(self, who, q):
        if who:
            self.client.force_login(who)
        else:
            self.client.logout()
        resp = self.client.get("/search/", {"q": q})
        assert resp.status_code == 200
        return resp.content.decode()

    def test_production_searches_with_postgres_full_text(self):
        if connection.vendor != "postgresql":
            self.skipTest("the portal's tests run on SQLite here")
        assert type(get_search_backend()).__name__ == "PostgresSearchBackend"

    def test_forum_threads_of_ones_courses(self):
        page = self.find(self.student, "looping")  # stemmed: loop, loops, looping
        assert "Nested loops" in page and "Loops again" not in page and "Dataframe loops" not in page
        assert "Nested loops" in self.find(self.student, "counter")  # a reply's words find the thread
        assert "Dataframe loops" in self.find(self.instructor, "iterrows")  # enrolled in data-science
        assert "Dataframe loops" not in self.find(self.student, "iterrows")

    def test_hidden_posts_are_not_searchable(self):
        post = self.loops.posts.get(author=self.grader)
        with self.captureOnCommitCallbacks(execute=True):
            community.post_set_hidden(post=post, hidden=True)
        assert "Nested loops" not in self.find(self.student, "counter")

    def test_courses_and_lessons_for_everyone(self):
        page = self.find(None, "python")
        assert "Introduction to Python" in page and "Log in</a> to search your courses" in page
        assert "Nested loops" not in page
        lesson = self.find(self.outsider, "functions")
        assert "Functions" in lesson and "Nested loops" not in self.find(self.outsider, "loops")

    def test_odd_queries(self):
        for q in ["", "   ", "'\"; DROP TABLE x; --", "<script>alert(1)</script>", "a" * 5000, "&|!():*"]:
            page = self.find(self.student, q)
            assert "<script>alert(1)</script>" not in page
