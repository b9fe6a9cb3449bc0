"""Portal tests run on real PostgreSQL, the production database: this machine's server on 127.0.0.1, or one the
set-up installs (apt) and starts. ``STUDIO_TEST_PORTAL_DB=sqlite`` keeps them on SQLite, the embedded default's
database; so does running without root when no ``DATABASE_URL`` is given (nothing could be installed)."""

from __future__ import annotations

import os

import dj_database_url
import pytest
from django.conf import settings
from django.db import connections

from tests import services


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    url, name = os.environ.get("DATABASE_URL", ""), None
    if not url and os.environ.get("STUDIO_TEST_PORTAL_DB", "postgres") != "sqlite" and os.geteuid() == 0:
        url, name = services.create_database()
    if url:
        # In place: Django's connection handler holds this very dict. The test database is test_<name>.
        default = settings.DATABASES["default"]
        default.clear()
        default.update(dj_database_url.parse(url))
        connections.configure_settings(settings.DATABASES)  # Django's defaults for the keys a URL leaves out
        connections.close_all()
        if hasattr(connections._connections, "default"):
            del connections["default"]  # a SQLite wrapper made before now
        _as_if_started_on_postgres()
    yield
    if name:
        connections.close_all()
        services.psql(f"DROP DATABASE IF EXISTS test_{name} WITH (FORCE)")  # left by an interrupted run
        services.drop_database(name)


def _as_if_started_on_postgres() -> None:
    """What Django's apps set up at start only when the database is PostgreSQL: Wagtail search's weights."""
    from modelsearch.backends.database.postgres import weights

    if not weights.BOOSTS_WEIGHTS:
        weights.set_weights()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis for the portal's production cache, sessions, rate limits and leaderboards."""
    if os.geteuid() != 0 and not services._listening(6379):
        pytest.skip("installing or starting Redis needs root")
    return services.ensure_redis()
