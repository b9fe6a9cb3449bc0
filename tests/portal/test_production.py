"""The portal as production runs it: gunicorn with two workers, production settings, real PostgreSQL and Redis.

Sessions and the cache live in Redis; rate limits are counted there, so both workers share them; CSRF is enforced
(Django's test client skips it, a real browser session does not); the Content-Security-Policy is sent; emails
leave from the outbox after the response.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import redis
import requests
from embedded import free_port, wait_for_http

from tests import services
from tests.conftest import COURSE_CONTENT, ROOT

pytestmark = pytest.mark.integration
REDIS_DB = 11


@pytest.fixture(scope="module")
def portal(tmp_path_factory, redis_url):
    if os.geteuid() != 0:
        pytest.skip("installing or starting PostgreSQL needs root")
    database_url, name = services.create_database()
    data = tmp_path_factory.mktemp("portal-production")
    store = redis.Redis.from_url(f"{redis_url}/{REDIS_DB}")
    store.flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STUDIO_PORTAL_DATA_DIR": str(data),
        "STUDIO_REDIS_URL": f"{redis_url}/{REDIS_DB}",
        "DJANGO_SETTINGS_MODULE": "studio_portal.settings.production",
        "STUDIO_PORTAL_SECRET_KEY": "p" * 50,
        "STUDIO_LOGIN_RATE": "6/h",
    }
    for key in ("STUDIO_SMTP_HOST", "STUDIO_SENTRY_DSN"):
        env.pop(key, None)
    secret = data / "hub-secret"
    secret.write_text("hub-secret\n")
    setup = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "studio_setup",
            "--content",
            str(COURSE_CONTENT),
            "--hub-secret-file",
            str(secret),
            "--hub-callback",
            "http://127.0.0.1:8000/hub/oauth_callback",
            "--demo-passwords",
            str(data / "passwords.txt"),
            "--collectstatic",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    port = free_port()
    log = data / "gunicorn.log"
    with open(log, "w") as out:
        gunicorn = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        proc = subprocess.Popen(
            [*gunicorn, "studio_portal.wsgi:application"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, log)
        passwords = dict(line.split(":", 1) for line in (data / "passwords.txt").read_text().splitlines())
        yield {"url": f"http://127.0.0.1:{port}", "passwords": passwords, "data": data, "redis": store}
    finally:
        proc.terminate()
        proc.wait(20)
        store.flushdb()
        services.drop_database(name)


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text[:300]
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def log_in(portal, username: str) -> requests.Session:
    s = requests.Session()
    token = csrf(s, f"{portal['url']}/accounts/login/")
    resp = s.post(
        f"{portal['url']}/accounts/login/",
        timeout=10,
        allow_redirects=False,
        data={"username": username, "password": portal["passwords"][username], "csrfmiddlewaretoken": token},
    )
    assert resp.status_code == 302, resp.text[:500]
    return s


def test_health_reports_postgres_and_redis(portal):
    assert requests.get(f"{portal['url']}/healthz", timeout=10).json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
    }


def test_sessions_live_in_redis(portal):
    s = log_in(portal, "student1")
    session_keys = [k for k in portal["redis"].scan_iter("*sessions*")]
    assert session_keys, "no session in Redis"
    assert any(s.cookies["sessionid"].encode() in k for k in session_keys)
    assert "Signed in as" in s.get(f"{portal['url']}/notifications/", timeout=10).text


def test_csrf_is_enforced_on_posts(portal):
    s = log_in(portal, "student1")
    url = f"{portal['url']}/courses/intro-python/forum/new/"
    resp = s.post(url, data={"title": "no token", "body": "x"}, timeout=10, allow_redirects=False)
    assert resp.status_code == 403
    token = csrf(s, f"{portal['url']}/courses/intro-python/forum/")
    resp = s.post(
        url,
        data={"title": "Why does range stop early?", "body": "cc @grader1", "csrfmiddlewaretoken": token},
        timeout=10,
        allow_redirects=False,
    )
    assert resp.status_code == 302, resp.text[:500]
    thread = s.get(portal["url"] + resp.headers["Location"], timeout=10)
    assert "Why does range stop early?" in thread.text
    assert "script-src 'self'" in thread.headers["Content-Security-Policy"]
    # The mention's email is written by the outbox thread after the response (no SMTP set: files in DATA_DIR/mail).
    mail_dir = portal["data"] / "mail"
    for _ in range(50):
        mails = list(mail_dir.glob("*.log")) if mail_dir.exists() else []
        if any("student1 mentioned you" in m.read_text() for m in mails):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the mention's email was not written")


def test_login_attempts_are_limited_across_workers(portal):
    url = f"{portal['url']}/accounts/login/"
    for key in portal["redis"].scan_iter("*rl:*"):
        portal["redis"].delete(key)  # the other tests' log-ins from this address
    codes = []
    for _ in range(8):
        s = requests.Session()  # a new connection each time: gunicorn's two workers both answer some
        token = csrf(s, url)
        resp = s.post(
            url,
            data={"username": "student2", "password": "wrong", "csrfmiddlewaretoken": token},
            timeout=10,
            allow_redirects=False,
        )
        codes.append(resp.status_code)
    assert codes[:6] == [200] * 6 and codes[6:] == [429, 429], codes  # 200: the form again, with an error
    assert any(portal["redis"].scan_iter("*rl:*")), "rate-limit counts are not in Redis"
    # The right password is refused too while the limit holds: guessing gains nothing.
    s = requests.Session()
    token = csrf(s, url)
    resp = s.post(
        url,
        data={"username": "student2", "password": portal["passwords"]["student2"], "csrfmiddlewaretoken": token},
        timeout=10,
        allow_redirects=False,
    )
    assert resp.status_code == 429 and "Too many requests" in resp.text
