"""Badges from rules, and the opt-in leaderboard: in the database (embedded default) and as Redis sorted sets
(production), rebuilt when Redis lost them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.contrib.auth import get_user_model
from django.test import override_settings

from studio_portal.analytics.services import events_ingest
from studio_portal.community import services as community
from studio_portal.courses.models import Role
from studio_portal.courses.services import enrollment_set_role
from studio_portal.gamification import leaderboard
from studio_portal.gamification.models import Award
from studio_portal.gamification.rules import Facts, earned, longest_run
from studio_portal.grades.services import grades_store
from studio_portal.notifications.models import Notification
from tests.portal.base import CatalogTestCase, enrolled

NOW = datetime.now(UTC)


def grade(student, assignment, score, max_score=4.0):
    return {
        "course": "intro-python",
        "assignment": assignment,
        "student": student,
        "state": "graded",
        "score": score,
        "max_score": max_score,
        "submission": f"{student}-{assignment}-{score}",
        "graded_at": NOW.timestamp(),
    }


def badges(user) -> list[str]:
    return sorted(Award.objects.filter(user=user).values_list("badge", flat=True))


class BadgeTests(CatalogTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.peer = enrolled("student2", cls.intro, "s2@example.org")

    def test_first_submission_and_perfect_score_once_each(self):
        grades_store(grades=[grade("student1", "ps01-values-and-names", 2.0)])
        assert badges(self.student) == ["first-submission"]
        grades_store(grades=[grade("student1", "ps01-values-and-names", 4.0)])
        grades_store(grades=[grade("student1", "ps01-values-and-names", 4.0), grade("student1", "ps02-functions", 4)])
        assert badges(self.student) == ["first-submission", "perfect-score"]
        texts = list(
            Notification.objects.filter(user=self.student, kind="badge").order_by("id").values_list("text", flat=True)
        )
        assert texts == [
            "You earned the badge “First submission” in Introduction to Python",
            "You earned the badge “Perfect score” in Introduction to Python",
        ]

    def test_a_seven_day_streak(self):
        def day(n):
            return {
                "id": f"d{n}",
                "kind": "execute",
                "student": "student1",
                "course": "intro-python",
                "exercise": "e",
                "ok": True,
                "time": (NOW - timedelta(days=n)).timestamp(),
            }

        events_ingest(events=[day(n) for n in (0, 1, 2, 3, 4, 5, 8)])  # six days, a gap, one more
        assert "streak-7" not in badges(self.student)
        events_ingest(events=[day(6)])
        assert "streak-7" in badges(self.student)

    def test_helping_a_peer_is_answering_someone_elses_question(self):
        own = community.thread_create(course=self.intro, author=self.peer, title="Mine", body="q")
        reply = community.post_create(thread=own, author=self.peer, body="solved it myself")
        community.answer_mark(thread=own, post=reply, by=self.peer)
        assert "helped-a-peer" not in badges(self.peer)
        theirs = community.thread_create(course=self.intro, author=self.student, title="Help", body="q")
        reply = community.post_create(thread=theirs, author=self.peer, body="use return")
        community.answer_mark(thread=theirs, post=reply, by=self.student)
        assert badges(self.peer) == ["helped-a-peer"]


def test_rules():
    today = NOW.date()
    assert longest_run(frozenset(today - timedelta(days=n) for n in (0, 1, 2, 5, 6))) == 3
    assert earned(Facts()) == set()
    assert earned(
        Facts(
            graded=1, perfect=1, answers_for_peers=2, active_days=frozenset(today - timedelta(days=n) for n in range(7))
        )
    ) == {"first-submission", "perfect-score", "streak-7", "helped-a-peer"}


class LeaderboardTests(CatalogTestCase):
    """Run once on the database, and once more on Redis (below)."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        User = get_user_model()
        cls.people = [User.objects.create_user(f"player{i}", "", "pw") for i in range(3)]
        for p in cls.people:
            enrollment_set_role(user=p, course=cls.intro, role=Role.STUDENT)

    def join(self, who, leave=False):
        self.client.force_login(who)
        with self.captureOnCommitCallbacks(execute=True):
            resp = self.client.post("/courses/intro-python/leaderboard/membership/", {"leave": "1"} if leave else {})
        assert resp.status_code == 302

    def test_only_those_who_opt_in_are_ranked_by_points(self):
        with self.captureOnCommitCallbacks(execute=True):
            ps1 = "ps01-values-and-names"
            grades_store(grades=[grade("player0", ps1, 2.0), grade("player1", ps1, 4.0), grade("player2", ps1, 3.0)])
        for p in self.people[:2]:
            self.join(p)
        page = self.client.get("/courses/intro-python/leaderboard/").content.decode()
        # player1: 100 for a full assignment + 2 badges; player0: 50 + 1 badge; player2 never joined.
        assert page.index("player1") < page.index("player0") and "player2" not in page
        assert leaderboard.top(self.intro.pk) == [(self.people[1].pk, 140), (self.people[0].pk, 70)]
        assert "in place 1" in page and "First submission" in page  # player1 is looking
        with self.captureOnCommitCallbacks(execute=True):
            grades_store(grades=[grade("player0", "ps02-functions", 4.0)])  # overtakes
        assert leaderboard.rank(self.intro.pk, self.people[0].pk) == 1
        self.join(self.people[0], leave=True)
        assert leaderboard.top(self.intro.pk) == [(self.people[1].pk, 140)]
        assert leaderboard.rank(self.intro.pk, self.people[0].pk) is None

    def test_only_the_courses_people_see_it(self):
        self.client.force_login(self.outsider)
        assert self.client.get("/courses/intro-python/leaderboard/").status_code == 403
        assert self.client.post("/courses/intro-python/leaderboard/membership/").status_code == 403


@pytest.fixture(scope="class")
def redis_board(request, redis_url):
    url = f"{redis_url}/12"
    redis.Redis.from_url(url).flushdb()
    request.cls.redis = redis.Redis.from_url(url)
    with override_settings(REDIS_URL=url):
        yield
    redis.Redis.from_url(url).flushdb()


@pytest.mark.usefixtures("redis_board")
class RedisLeaderboardTests(LeaderboardTests):
    def test_the_board_is_a_sorted_set_rebuilt_when_lost(self):
        with self.captureOnCommitCallbacks(execute=True):
            grades_store(grades=[grade("player0", "ps01-values-and-names", 4.0)])
        self.join(self.people[0])
        key = f"studio:leaderboard:{self.intro.pk}"
        assert self.redis.zscore(key, self.people[0].pk) == 140.0
        self.redis.delete(key)  # Redis restarted without persistence
        assert leaderboard.top(self.intro.pk) == [(self.people[0].pk, 140)]
        assert self.redis.zcard(key) == 1
