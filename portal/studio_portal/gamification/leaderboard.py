"""A course's opt-in leaderboard. Points live on each opt-in row (the truth); in production a Redis sorted set per
course mirrors them, so the top and anyone's rank are one O(log n) call each, and it is rebuilt from the rows when
Redis lost it. Without Redis (the embedded default) the rows are read directly."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from .models import LeaderboardOptIn


@cache
def _client(url: str):
    import redis

    return redis.Redis.from_url(url)


def _redis():
    return _client(settings.REDIS_URL) if settings.REDIS_URL else None


def _key(course_id: int) -> str:
    return f"studio:leaderboard:{course_id}"


def _ensure(r, course_id: int) -> None:
    if not r.exists(_key(course_id)):
        rows = dict(LeaderboardOptIn.objects.filter(course_id=course_id).values_list("user_id", "points"))
        if rows:
            r.zadd(_key(course_id), rows)


def put(course_id: int, user_id: int, points: int) -> None:
    if (r := _redis()) is not None:
        _ensure(r, course_id)
        r.zadd(_key(course_id), {user_id: points})


def remove(course_id: int, user_id: int) -> None:
    if (r := _redis()) is not None:
        r.zrem(_key(course_id), user_id)


def top(course_id: int, n: int = 20) -> list[tuple[int, int]]:
    """(user id, points), best first; ties in the order people joined the board."""
    if (r := _redis()) is not None:
        _ensure(r, course_id)
        return [(int(u), int(p)) for u, p in r.zrevrange(_key(course_id), 0, n - 1, withscores=True)]
    rows = LeaderboardOptIn.objects.filter(course_id=course_id).order_by("-points", "created", "id")
    return list(rows.values_list("user_id", "points")[:n])


def rank(course_id: int, user_id: int) -> int | None:
    """1 for the first place; None for someone not on the board."""
    if (r := _redis()) is not None:
        _ensure(r, course_id)
        place = r.zrevrank(_key(course_id), user_id)
        return None if place is None else place + 1
    mine = LeaderboardOptIn.objects.filter(course_id=course_id, user_id=user_id).first()
    if mine is None:
        return None
    return LeaderboardOptIn.objects.filter(course_id=course_id, points__gt=mine.points).count() + 1
