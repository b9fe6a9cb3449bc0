"""A pytest plugin (``-p tests.portal_database`` in the pytest options): the portal's tests run on real PostgreSQL,
the production database, set up before Django starts, since some apps (Wagtail search) shape their models after the
database they find at start.

This machine's server on 127.0.0.1 is used, else one is installed (apt) and started; a role and database are made
for the run and dropped after it. ``STUDIO_TEST_PORTAL_DB=sqlite`` keeps SQLite, the embedded default's database;
so does running without root (nothing could be installed). The URL goes to ``STUDIO_TEST_DATABASE_URL``, which only
the test settings read: the portals the integration tests start keep their own databases.
"""

from __future__ import annotations

import os

import pytest

_made: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    if os.environ.get("STUDIO_TEST_DATABASE_URL") or os.environ.get("STUDIO_TEST_PORTAL_DB") == "sqlite":
        return
    if os.geteuid() != 0 or "--collect-only" in args or "--help" in args:
        return
    from tests import services

    url, name = services.create_database()
    os.environ["STUDIO_TEST_DATABASE_URL"] = url
    _made.append(name)


def pytest_unconfigure(config):
    import sys

    from tests import services

    if outbox := sys.modules.get("studio_portal.notifications.outbox"):
        outbox.stop()  # its thread would wake up to a database that is gone

    for name in _made:
        services.psql(f"DROP DATABASE IF EXISTS test_{name} WITH (FORCE)")  # left by an interrupted run
        services.drop_database(name)
    _made.clear()
