"""The portal on a real PostgreSQL server when DATABASE_URL is set: migrations, import and set-up, twice."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib

import psycopg
import pytest

from tests import services
from tests.conftest import COURSE_CONTENT, ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database_url():
    if os.geteuid() != 0:
        pytest.skip("installing or starting PostgreSQL needs root")
    url, name = services.create_database()
    yield url
    services.drop_database(name)


def test_setup_on_postgres_is_idempotent(database_url):
    data = tempfile.mkdtemp(prefix="studio-portal-pg-")
    secret = os.path.join(data, "hub-secret")
    with open(secret, "w") as f:
        f.write("hub-secret\n")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STUDIO_PORTAL_DATA_DIR": data,
        "DJANGO_SETTINGS_MODULE": "studio_portal.settings.production",
    }
    cmd = [
        sys.executable,
        "-m",
        "django",
        "studio_setup",
        "--content",
        str(COURSE_CONTENT),
        "--hub-secret-file",
        secret,
        "--hub-callback",
        "http://127.0.0.1:8000/hub/oauth_callback",
        "--demo-passwords",
        os.path.join(data, "passwords.txt"),
    ]
    for _ in range(2):
        result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL")
        courses = conn.execute("SELECT count(*) FROM catalog_coursepage").fetchone()[0]
        lessons = conn.execute("SELECT count(*) FROM catalog_lessonpage").fetchone()[0]
        enrollments = conn.execute("SELECT count(*) FROM courses_enrollment").fetchone()[0]
        clients = conn.execute("SELECT redirect_uris FROM oauth2_provider_application").fetchall()
    expected_lessons = len(tomllib.loads((COURSE_CONTENT / "intro-python" / "course.toml").read_text())["lessons"])
    assert (courses, lessons, enrollments) == (1, expected_lessons, 4)
    assert clients == [("http://127.0.0.1:8000/hub/oauth_callback",)]
