"""The test suite's settings: fast hashing, in-memory email, a temporary data folder, and the test run's database."""

import os
import tempfile

# Before base reads it: tests never touch a developer's var/portal (keys, database, static files).
os.environ.setdefault("STUDIO_PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="studio-portal-test-"))

from .base import *  # noqa: E402, F403

# The portal's tests run on PostgreSQL when the test run made one (tests/portal_database.py), else on SQLite.
if os.environ.get("STUDIO_TEST_DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["STUDIO_TEST_DATABASE_URL"])}

DEBUG = False
STUDIO_DASHBOARD_CACHE_SECONDS = 0  # every request computes: the tests change data between requests
STUDIO_FRAGMENT_CACHE_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 -- WhiteNoise warns about a missing one
