"""Portal tests: Django's test database on the run's PostgreSQL (see tests/portal_database.py), and a real Redis."""

from __future__ import annotations

import os

import pytest

from tests import services


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis for the portal's production cache, sessions, rate limits and leaderboards."""
    if os.geteuid() != 0 and not services._listening(6379):
        pytest.skip("installing or starting Redis needs root")
    return services.ensure_redis()
