"""Settings shared by every environment; secrets and hosts come from ``settings.env``."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.management.utils import get_random_secret_key

from .email import *  # noqa: F403
from .env import (
    ALLOWED_HOSTS,
    DATA_DIR,
    DATABASE_URL,
    EVENTS_TOKEN,
    GRADES_TOKEN,
    GRADING_URL,
    HUB_URL,
    PORTAL_URL,
    REDIS_URL,
    SECRET_KEY,
    private_file,
)
from .oauth import *  # noqa: F403
from .security import *  # noqa: F403

PACKAGE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = SECRET_KEY or private_file(DATA_DIR / "secret_key", get_random_secret_key)
DEBUG = False
ALLOWED_HOSTS = ALLOWED_HOSTS

PORTAL_URL = PORTAL_URL  # links in emails
REDIS_URL = REDIS_URL  # production: leaderboards as Redis sorted sets (cache and sessions: settings/production.py)
# The hub's public address: "Open in JupyterLab" sends learners there.
STUDIO_HUB_URL = HUB_URL
# The grading service's pages: the course team's "Open formgrader" links.
STUDIO_GRADING_URL = GRADING_URL
# The hub's grading service sends grades with this token (else it is read from $STUDIO_GRADES_TOKEN_FILE).
GRADES_TOKEN = GRADES_TOKEN
# The hub's hints service sends learning events with this one (else read from $STUDIO_EVENTS_TOKEN_FILE); it may
# not send grades, nor the grading service events.
EVENTS_TOKEN = EVENTS_TOKEN

INSTALLED_APPS = [
    "studio_portal.catalog",
    "studio_portal.courses",
    "studio_portal.grades",
    "studio_portal.community",
    "studio_portal.notifications",
    "studio_portal.analytics",
    "studio_portal.gamification",
    "studio_portal.sso",
    "studio_portal.accounts",
    "oauth2_provider",
    "csp",
    "django_ratelimit",
    "wagtail.contrib.redirects",
    "wagtail.contrib.routable_page",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "studio_portal.urls"
WSGI_APPLICATION = "studio_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studio_portal.notifications.context_processors.unread",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)
    if DATABASE_URL
    else {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "portal.sqlite3",
        # The embedded default's gunicorn workers write at once (grades, assignment records, learning events, pages):
        # a write transaction takes the lock when it begins and waits up to 20 s for it (a deferred one that
        # turns into a writer fails at once with "database is locked"); WAL lets pages read meanwhile.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]  # the portal's own stylesheet (not an app's)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"

# Course dashboards are computed at most this often, and kept in the cache meanwhile.
STUDIO_DASHBOARD_CACHE_SECONDS = 60
# Rendered forum posts are kept this long (their cache keys change whenever a thread or its posts do).
STUDIO_FRAGMENT_CACHE_SECONDS = 600
WAGTAIL_SITE_NAME = "Learning Studio"
WAGTAILADMIN_BASE_URL = PORTAL_URL

# Without Redis (the embedded default) rate limits are counted in each process's memory: per worker, not shared.
# Production sets STUDIO_REDIS_URL, and the counts are shared (settings/production.py).
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "pdf", "txt", "zip"]
