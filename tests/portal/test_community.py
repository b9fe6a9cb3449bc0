"""The course forum and study groups through the portal's pages: posting, mentions, moderation, answers, groups,
bad input, rate limits, XSS, and a constant number of queries however many threads and posts there are."""

from __future__ import annotations

import re
import threading
from html.parser import HTMLParser

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext

from studio_portal.community import services
from studio_portal.community.models import Post, StudyGroup, Thread
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role
from studio_portal.notifications.models import Notification
from tests.portal.base import CatalogTestCase, enrolled, make_catalog

XSS = [
    "<script>alert('xss')</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg/onload=alert(1)>",
    "<iframe src=//example.org></iframe>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    '```python" onmouseover="alert(1)\nx = 1\n```',
    "![x](javascript:alert(1))",
    "<style>body{display:none}</style>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]


class _Elements(HTMLParser):
    RISKY = {"script", "iframe", "svg", "style", "img", "object", "embed", "form", "input", "link", "meta", "base"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.RISKY:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc"):
                self.found.append(f"{tag} {name}=")
            if (
                name in ("href", "src", "action")
                and value
                and re.match(r"\s*(?!https?:|mailto:|/|#)[a-z][\w+.-]*:", value, re.I)
            ):
                self.found.append(f"{tag} {name}={value}")


def unsafe(html: str) -> list[str]:
    """The elements and attributes in ``html`` that could run script, load something or restyle the page."""
    parser = _Elements()
    parser.feed(html)
    return parser.found


class ForumCase(CatalogTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.peer = enrolled("student2", cls.intro, "s2@example.org")
        cls.mute = enrolled("nomail", cls.intro)  # no email address: notified in the portal only

    def setUp(self):
        cache.clear()  # rate-limit counts

    def as_(self, who):
        self.client.force_login(who)
        return self.client

    def start(self, who=None, title="How do I return two values?", body="My function gives `None`."):
        resp = self.as_(who or self.student).post("/courses/intro-python/forum/new/", {"title": title, "body": body})
        assert resp.status_code == 302, resp.content[:500]
        return Thread.objects.latest("id")

    def reply(self, thread, who, body, expect=302):
        resp = self.as_(who).post(f"/courses/intro-python/forum/{thread.pk}/reply/", {"body": body})
        assert resp.status_code == expect, resp.content[:500]
        return resp


class ForumTests(ForumCase):
    def test_question_reply_mention_and_answer(self):
        thread = self.start()
        assert self.client.get("/courses/intro-python/forum/").content.decode().count(thread.title) == 1
        self.reply(thread, self.peer, "Return a tuple, @student1:\n```python\ndef f():\n    return 1, 2\n```")
        page = self.as_(self.student).get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()
        assert '<strong class="mention">@student1</strong>' in page
        assert '<span class="k">return</span>' in page  # highlighted by Pygments
        # The asker was mentioned (and is the thread's author): one notification, the mention.
        assert list(Notification.objects.filter(user=self.student).values_list("kind", flat=True)) == ["mention"]
        reply = Post.objects.latest("id")
        resp = self.as_(self.student).post(f"/courses/intro-python/forum/{thread.pk}/posts/{reply.pk}/answer/")
        assert resp.status_code == 302
        thread.refresh_from_db()
        assert thread.answer == reply and thread.reply_count == 1
        assert set(Notification.objects.filter(user=self.peer).values_list("kind", flat=True)) == {"answer", "badge"}
        page = self.client.get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()
        assert 'class="post answer"' in page and "Unmark answer" in page
        assert "Answered" in self.client.get("/courses/intro-python/forum/").content.decode()

    def test_mentions_reach_course_members_only(self):
        thread = self.start()
        self.reply(thread, self.peer, "cc @student3 @grader1 @nobody and mail me at x@student1.org, `@student1`")
        assert set(Notification.objects.filter(kind="mention").values_list("user__username", flat=True)) == {"grader1"}
        html = Post.objects.latest("id").html
        assert (
            '<strong class="mention">@grader1</strong>' in html
            and "@student3" in html
            and 'mention">@student3' not in html
        )
        assert Notification.objects.get(user=self.student).kind == "reply"  # the asker hears of the reply

    def test_another_student_cannot_mark_the_answer(self):
        thread = self.start()
        self.reply(thread, self.peer, "Use return.")
        post = Post.objects.latest("id")
        resp = self.as_(self.mute).post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/answer/")
        assert resp.status_code == 403
        assert (
            self.as_(self.grader).post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/answer/").status_code
            == 302
        )

    def test_locking_pinning_and_hiding(self):
        thread = self.start()
        for action in ("lock", "pin", "hide"):
            resp = self.as_(self.student).post(f"/courses/intro-python/forum/{thread.pk}/moderate/", {"action": action})
            assert resp.status_code == 403, action
        resp = self.as_(self.instructor).post(f"/courses/intro-python/forum/{thread.pk}/moderate/", {"action": "lock"})
        assert resp.status_code == 302
        self.reply(thread, self.peer, "me too", expect=403)
        self.reply(thread, self.instructor, "Closing this: see the lesson.")  # the team still may
        page = self.as_(self.peer).get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()
        assert "This thread is locked" in page and 'id="reply-body"' not in page

        other = self.start(title="Second question")
        self.as_(self.grader).post(f"/courses/intro-python/forum/{thread.pk}/moderate/", {"action": "pin"})
        listing = self.as_(self.peer).get("/courses/intro-python/forum/").content.decode()
        assert listing.index(thread.title) < listing.index(other.title)  # pinned first, though older

        self.as_(self.grader).post(f"/courses/intro-python/forum/{other.pk}/moderate/", {"action": "hide"})
        assert other.title not in self.as_(self.peer).get("/courses/intro-python/forum/").content.decode()
        assert self.as_(self.peer).get(f"/courses/intro-python/forum/{other.pk}/").status_code == 403
        assert self.as_(self.student).get(f"/courses/intro-python/forum/{other.pk}/").status_code == 200  # its author
        assert other.title in self.as_(self.grader).get("/courses/intro-python/forum/").content.decode()
        resp = self.as_(self.grader).post(f"/courses/intro-python/forum/{other.pk}/moderate/", {"action": "explode"})
        assert resp.status_code == 400 and b"Unknown action" in resp.content

    def test_a_hidden_post_is_a_placeholder_for_students_and_answers_nothing(self):
        thread = self.start()
        self.reply(thread, self.peer, "Rude words here")
        post = Post.objects.latest("id")
        self.as_(self.student).post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/answer/")
        assert (
            self.as_(self.peer).post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/hide/").status_code
            == 403
        )
        assert (
            self.as_(self.grader).post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/hide/").status_code
            == 302
        )
        thread.refresh_from_db()
        assert thread.answer is None
        student_view = self.as_(self.peer).get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()
        assert "Rude words" not in student_view and "hidden by the course team" in student_view
        team_view = self.as_(self.instructor).get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()
        assert "Rude words" in team_view and "Hidden from students" in team_view
        resp = self.as_(self.peer).post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/edit/", {"body": "x"})
        assert resp.status_code == 403  # nor can its author rewrite it while hidden

    def test_editing_ones_own_post(self):
        thread = self.start()
        first = thread.posts.get()
        resp = self.as_(self.student).post(
            f"/courses/intro-python/forum/{thread.pk}/posts/{first.pk}/edit/", {"body": "Now with **more** detail"}
        )
        assert resp.status_code == 302
        first.refresh_from_db()
        assert "<strong>more</strong>" in first.html and first.edited is not None
        resp = self.as_(self.peer).post(
            f"/courses/intro-python/forum/{thread.pk}/posts/{first.pk}/edit/", {"body": "x"}
        )
        assert resp.status_code == 403

    def test_outsiders_and_anonymous_visitors(self):
        thread = self.start()
        self.client.logout()
        resp = self.client.get("/courses/intro-python/forum/")
        assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]
        assert self.as_(self.outsider).get("/courses/intro-python/forum/").status_code == 403
        assert self.client.get(f"/courses/intro-python/forum/{thread.pk}/").status_code == 403
        self.reply(thread, self.outsider, "let me in", expect=403)
        resp = self.client.post("/courses/intro-python/forum/new/", {"title": "t", "body": "b"})
        assert resp.status_code == 403
        # A thread of another course is not found under this one.
        assert self.as_(self.student).get(f"/courses/data-science/forum/{thread.pk}/").status_code in (403, 404)
        assert self.as_(self.instructor).get(f"/courses/data-science/forum/{thread.pk}/").status_code == 404
        assert Post.objects.count() == 1

    def test_bad_input_is_refused_with_a_reason_and_the_text_is_kept(self):
        resp = self.as_(self.student).post("/courses/intro-python/forum/new/", {"title": "", "body": "my long text"})
        assert resp.status_code == 400
        page = resp.content.decode()
        assert "The title is empty." in page and "my long text" in page
        resp = self.client.post("/courses/intro-python/forum/new/", {"title": "t", "body": "x" * 20_001})
        assert resp.status_code == 400 and b"at most 20000 fit" in resp.content
        thread = self.start()
        resp = self.reply(thread, self.peer, "   ", expect=400)
        assert b"The post is empty." in resp.content
        assert Thread.objects.count() == 1 and Post.objects.count() == 1
        assert self.client.get("/courses/intro-python/forum/?page=abc").status_code == 200
        assert self.client.get("/courses/intro-python/forum/new/").status_code == 405

    @override_settings(STUDIO_POST_RATE="3/m")
    def test_posting_is_rate_limited_per_person(self):
        thread = self.start()
        self.reply(thread, self.student, "two")
        self.reply(thread, self.student, "three")
        resp = self.reply(thread, self.student, "four", expect=429)
        assert b"Too many requests" in resp.content and resp["Retry-After"] == "60"
        self.reply(thread, self.peer, "someone else is not limited")
        assert thread.posts.count() == 4

    @override_settings(STUDIO_POST_RATE="100/m")
    def test_xss_in_posts_titles_and_names_is_neutralized(self):
        evil = get_user_model().objects.create_user("evil", "e@example.org", "pw", first_name="<script>x()</script>")
        enrollment_set_role(user=evil, course=self.intro, role=Role.STUDENT)
        thread = self.start(evil, title="<img src=x onerror=alert(1)>", body="\n\n".join(XSS))
        for body in XSS:
            self.reply(thread, evil, body)
        for post in Post.objects.all():
            assert unsafe(post.html) == [], (post.body, post.html)
        for who in (self.student, self.instructor):
            page = self.as_(who).get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()
            body = page.split('<main id="main">', 1)[1]
            ours = {"<form>", "<input>"}  # the page's own reply and moderation forms
            assert [f for f in unsafe(body) if f not in ours] == []
            assert "&lt;img src=x onerror=alert(1)&gt;" in page
        listing = self.client.get("/courses/intro-python/forum/").content.decode()
        assert "<img src=x" not in listing

    def test_pages_are_served_with_a_content_security_policy(self):
        thread = self.start()
        resp = self.client.get(f"/courses/intro-python/forum/{thread.pk}/")
        csp = resp["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "<script" not in resp.content.decode() and "<style" not in resp.content.decode()


class QueryCountTests(ForumCase):
    """Lists and threads cost the same number of queries with 3 rows as with 40."""

    def count(self, url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert self.client.get(url).status_code == 200
        return len(ctx.captured_queries)

    def test_forum_thread_and_groups_pages_are_flat_in_data_size(self):
        self.as_(self.student)
        people = [self.student, self.peer, self.mute, self.grader]
        thread = services.thread_create(course=self.intro, author=self.student, title="Busy", body="start")
        for n in range(2):
            services.thread_create(course=self.intro, author=people[n % 4], title=f"t{n}", body="b")
            services.post_create(thread=thread, author=people[n % 4], body=f"reply {n} @student1")
            services.group_create(course=self.intro, creator=people[n % 4], name=f"g{n}", meeting_time="Mondays")
        urls = [
            "/courses/intro-python/forum/",
            f"/courses/intro-python/forum/{thread.pk}/",
            "/courses/intro-python/groups/",
            "/notifications/",
        ]
        for url in urls:
            self.client.get(url)  # once first: the site and content types are cached after a first request
        small = {url: self.count(url) for url in urls}
        for n in range(2, 40):
            services.thread_create(course=self.intro, author=people[n % 4], title=f"t{n}", body="b")
            services.post_create(thread=thread, author=people[n % 4], body=f"reply {n} @student1")
            services.group_create(course=self.intro, creator=people[n % 4], name=f"g{n}", meeting_time="Mondays")
        large = {url: self.count(url) for url in urls}
        assert large == small, (small, large)
        with self.assertNumQueries(small[urls[0]]):
            self.client.get(urls[0])


class StudyGroupTests(ForumCase):
    def post(self, who, path, data=None):
        return self.as_(who).post(f"/courses/intro-python/groups/{path}", data or {})

    def test_create_join_leave_and_capacity(self):
        resp = self.post(
            self.student,
            "new/",
            {
                "name": "Night owls",
                "meeting_time": "Tuesdays 21:00 UTC",
                "capacity": "2",
                "description": "Loops and lists",
            },
        )
        assert resp.status_code == 302
        group = StudyGroup.objects.get()
        assert (group.member_count, group.capacity, group.thread.title) == (1, 2, "Night owls: group thread")
        assert self.post(self.peer, f"{group.pk}/membership/").status_code == 302
        resp = self.post(self.mute, f"{group.pk}/membership/")
        assert resp.status_code == 302
        assert "is full (2 people)" in self.client.get(resp["Location"]).content.decode()
        self.post(self.student, f"{group.pk}/membership/", {"leave": "1"})
        self.post(self.mute, f"{group.pk}/membership/")
        group.refresh_from_db()
        assert group.member_count == 2
        assert set(group.members.values_list("username", flat=True)) == {"student2", "nomail"}
        page = self.as_(self.outsider).get("/courses/intro-python/groups/")
        assert page.status_code == 403
        assert self.post(self.outsider, f"{group.pk}/membership/").status_code == 403

    def test_a_groups_thread_is_for_its_members_and_the_team(self):
        self.post(self.student, "new/", {"name": "Pairs", "meeting_time": "Fridays"})
        thread = StudyGroup.objects.get().thread
        url = f"/courses/intro-python/forum/{thread.pk}/"
        assert self.as_(self.peer).get(url).status_code == 403
        self.reply(thread, self.peer, "let me in", expect=403)
        self.reply(thread, self.student, "Hello @student2")  # not a member: no notification to a closed thread
        assert not Notification.objects.filter(user=self.peer).exists()
        assert self.as_(self.grader).get(url).status_code == 200
        self.post(self.peer, f"{StudyGroup.objects.get().pk}/membership/")
        assert self.as_(self.peer).get(url).status_code == 200
        assert thread.title not in self.client.get("/courses/intro-python/forum/").content.decode()

    def test_bad_group_input(self):
        for data, reason in [
            ({"name": "", "meeting_time": "x"}, "name is empty"),
            ({"name": "a", "meeting_time": ""}, "meeting time is empty"),
            ({"name": "a", "meeting_time": "x", "capacity": "1"}, "between 2 and 50"),
            ({"name": "a", "meeting_time": "x", "capacity": "lots"}, "whole number"),
        ]:
            resp = self.post(self.student, "new/", data)
            assert resp.status_code == 400 and reason in resp.content.decode(), (data, resp.content[:300])
        self.post(self.student, "new/", {"name": "Same", "meeting_time": "x"})
        resp = self.post(self.peer, "new/", {"name": "Same", "meeting_time": "y"})
        assert resp.status_code == 400 and "already has a study group called" in resp.content.decode()
        assert StudyGroup.objects.count() == 1 and Thread.objects.count() == 1


class GroupRaceTests(TransactionTestCase):
    def setUp(self):
        if connection.vendor != "postgresql":
            self.skipTest("row locks: PostgreSQL")

    def test_many_joining_at_once_take_only_the_seats_there_are(self):
        people = make_catalog()
        group = services.group_create(
            course=people["intro"], creator=people["student"], name="Tiny", meeting_time="Sundays", capacity=3
        )
        User = get_user_model()
        joiners = [User.objects.create_user(f"joiner{n}", "", "pw") for n in range(8)]
        for u in joiners:
            enrollment_set_role(user=u, course=people["intro"], role=Role.STUDENT)
        outcomes: list[str] = []
        start = threading.Barrier(len(joiners))

        def join(user):
            start.wait()
            try:
                services.group_join(group=group, user=user)
                outcomes.append("in")
            except services.CommunityError:
                outcomes.append("full")
            finally:
                connection.close()

        threads = [threading.Thread(target=join, args=(u,)) for u in joiners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        group.refresh_from_db()
        assert sorted(outcomes) == ["full"] * 6 + ["in"] * 2
        assert group.member_count == group.memberships.count() == 3


@override_settings(STUDIO_FRAGMENT_CACHE_SECONDS=600)
class CachedPostsTests(ForumCase):
    """The posts of a thread page are a cached fragment: every change shows at once, each kind of viewer gets its
    own, and none holds a CSRF token."""

    def setUp(self):
        super().setUp()
        from django.core.cache import cache

        cache.clear()

    def page(self, who, thread):
        self.client.force_login(who)
        return self.client.get(f"/courses/intro-python/forum/{thread.pk}/").content.decode()

    def test_changes_show_at_once_and_viewers_do_not_share_buttons(self):
        thread = self.start()
        self.reply(thread, self.peer, "first answer")
        assert "Hide post" in self.page(self.grader, thread)  # the team's version, now cached
        student_view = self.page(self.peer, thread)
        assert "Hide post" not in student_view and "Mark as answer" not in student_view
        assert "Mark as answer" in self.page(self.student, thread)  # the asker's
        post = Post.objects.latest("id")
        self.client.force_login(self.peer)
        self.client.post(f"/courses/intro-python/forum/{thread.pk}/posts/{post.pk}/edit/", {"body": "edited answer"})
        assert "edited answer" in self.page(self.peer, thread)
        self.client.force_login(self.student)
        resp = self.client.post(f"/courses/intro-python/forum/{thread.pk}/posts/", {"answer": str(post.pk)})
        assert resp.status_code == 302
        assert 'class="post answer"' in self.page(self.peer, thread)
        self.client.force_login(self.grader)
        self.client.post(f"/courses/intro-python/forum/{thread.pk}/posts/", {"hide": str(post.pk)})
        assert "edited answer" not in self.page(self.peer, thread)
        team_view = self.page(self.grader, thread)
        assert "Show post" in team_view
        fragment = team_view.split('<form id="post-actions"')[0]
        assert "csrfmiddlewaretoken" not in fragment.split("<article", 1)[1]

    def test_the_buttons_form_checks_who_presses(self):
        thread = self.start()
        self.reply(thread, self.peer, "an answer")
        post = Post.objects.latest("id")
        self.client.force_login(self.mute)
        url = f"/courses/intro-python/forum/{thread.pk}/posts/"
        assert self.client.post(url, {"hide": str(post.pk)}).status_code == 403
        assert self.client.post(url, {"answer": str(post.pk)}).status_code == 403
        assert self.client.post(url, {"answer": "x"}).status_code == 400
