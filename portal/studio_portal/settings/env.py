"""Every environment variable the portal reads, in one place (all prefixed ``STUDIO_``, plus DATABASE_URL)."""

from __future__ import annotations

import os
from pathlib import Path


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def private_file(path: Path, create) -> str:
    """Return the content of ``path``; the first time, write ``create()`` to it (mode 0600, exclusive)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    value = create()
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


DATA_DIR = Path(env("STUDIO_PORTAL_DATA_DIR", str(Path.cwd() / "var" / "portal"))).resolve()
HUB_URL = env("STUDIO_HUB_URL", "http://127.0.0.1:8000").rstrip("/")
# The hub's grading service (its pages: each course's formgrader), on an origin of its own under the hub's host
# (studio_hub.origins: <name>--service.<host>).
_scheme, _, _host = HUB_URL.partition("://")
GRADING_URL = env("STUDIO_GRADING_PUBLIC_URL") or f"{_scheme}://grading--service.{_host}/services/grading/"
DATABASE_URL = env("DATABASE_URL")
REDIS_URL = env("STUDIO_REDIS_URL")  # production: cache and sessions in Redis; unset: local memory, DB sessions
ALLOWED_HOSTS = env_list("STUDIO_PORTAL_ALLOWED_HOSTS", "127.0.0.1,localhost")
SECRET_KEY = env("STUDIO_PORTAL_SECRET_KEY")
HTTPS = env("STUDIO_PORTAL_HTTPS") == "1"
GRADES_TOKEN = env("STUDIO_GRADES_TOKEN")
EVENTS_TOKEN = env("STUDIO_EVENTS_TOKEN")
PORTAL_URL = env("STUDIO_PORTAL_URL", "http://127.0.0.1:8001").rstrip("/")  # the portal's public address (emails)
SMTP_HOST = env("STUDIO_SMTP_HOST")  # unset: emails are written to files under DATA_DIR/mail (the embedded default)
SMTP_PORT = int(env("STUDIO_SMTP_PORT", "587") or 587)
SMTP_USER = env("STUDIO_SMTP_USER")
SMTP_PASSWORD = env("STUDIO_SMTP_PASSWORD")
SMTP_TLS = env("STUDIO_SMTP_TLS", "1") == "1"  # STARTTLS
EMAIL_FROM = env("STUDIO_EMAIL_FROM", "Learning Studio <noreply@localhost>")
LOGIN_RATE = env("STUDIO_LOGIN_RATE", "10/m")  # login attempts per client address, and per username
POST_RATE = env("STUDIO_POST_RATE", "10/m")  # forum posts, replies and new groups per person
API_RATE = env("STUDIO_API_RATE", "600/m")  # calls to the portal's service APIs per client address
SENTRY_DSN = env("STUDIO_SENTRY_DSN")  # unset: no error reporting
SENTRY_ENVIRONMENT = env("STUDIO_SENTRY_ENVIRONMENT", "production")
SENTRY_TRACES_SAMPLE_RATE = float(env("STUDIO_SENTRY_TRACES_SAMPLE_RATE", "0") or 0)
