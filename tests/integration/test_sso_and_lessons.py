"""The walking skeleton end to end with real processes: portal login → OAuth (PKCE) → hub → spawn → lesson."""

from __future__ import annotations

import html
import os
import sqlite3
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tests.integration.client import Visitor

pytestmark = pytest.mark.integration

LESSON_COPY = Path("intro-python/lessons/01-values-and-names.ipynb")


def home_of(stack, username: str) -> Path:
    return Path("/home") / f"{stack.learner_prefix}{username}"


def hub_groups(stack) -> dict[str, set[str]]:
    db = sqlite3.connect(f"file:{stack.hub_dir / 'jupyterhub.sqlite'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT u.name, g.name FROM users u"
        " JOIN user_group_map m ON m.user_id = u.id JOIN groups g ON g.id = m.group_id"
    ).fetchall()
    groups: dict[str, set[str]] = {}
    for user, group in rows:
        groups.setdefault(user, set()).add(group)
    return groups


def hub_admins(stack) -> set[str]:
    db = sqlite3.connect(f"file:{stack.hub_dir / 'jupyterhub.sqlite'}?mode=ro", uri=True)
    return {name for (name,) in db.execute("SELECT name FROM users WHERE admin = 1")}


def test_student_logs_in_once_and_lands_in_jupyterlab_on_the_lesson(stack):
    v = Visitor(stack)
    assert v.login("student1").url == f"{stack.portal_url}/"
    t0 = time.monotonic()
    resp = v.open_lesson("intro-python", "values-and-names")
    ready = time.monotonic() - t0
    print(f"\nlogin-to-JupyterLab-ready: {ready:.1f} s (stack start {stack.started_in:.1f} s)")
    assert resp.status_code == 200
    assert resp.url == f"{stack.user_url('student1')}lab/tree/{LESSON_COPY}"
    assert '"appName": "JupyterLab"' in resp.text
    steps = [r.url for r in resp.trail]
    authorize = next(u for u in steps if u.startswith(f"{stack.portal_url}/o/authorize/"))
    query = parse_qs(urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]  # PKCE
    assert any(u.startswith(f"{stack.hub_url}/hub/oauth_callback?code=") for u in steps)
    assert all(r.request.method == "GET" for r in resp.trail)  # nothing was posted to the hub: no password

    home = home_of(stack, "student1")
    copy = home / LESSON_COPY
    assert copy.read_bytes() == (stack.var / "content" / LESSON_COPY).read_bytes()
    st = home.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid != 0
    assert copy.stat().st_uid == st.st_uid  # written by the learner's own server, as the learner


def test_second_open_keeps_the_students_edits(stack):
    v = Visitor(stack)
    v.login("student1")
    v.open_lesson("intro-python", "values-and-names")
    copy = home_of(stack, "student1") / LESSON_COPY
    edited = copy.read_text().replace("Values and names", "Values and names (my notes)")
    copy.write_text(edited)
    resp = v.open_lesson("intro-python", "values-and-names")
    assert resp.url.endswith(f"/lab/tree/{LESSON_COPY}")
    assert copy.read_text() == edited


def lesson_updates_reach_learners(stack, read_copy, write_copy) -> None:
    """The course team changes a lesson (its content as `make demo` syncs it): a learner who never changed their copy
    gets the new version at the next open; one who did keeps theirs, finds the new one beside it, and is told so.
    ``read_copy(visitor, user, rel)`` / ``write_copy(visitor, user, rel, text)``: the learner's copy, wherever their
    home is."""
    import json

    from tests.conftest import new_account

    rel = "intro-python/lessons/06-strings.ipynb"
    source = stack.var / "content" / rel
    original = source.read_bytes()
    visitors = {}
    for user in ("keeper", "changer"):
        visitors[user] = v = Visitor(stack)
        v.login(user, new_account(stack, user, course="intro-python"))
        assert v.open_lesson("intro-python", "strings").url.endswith(f"/lab/tree/{rel}")
    keeper, changer = visitors["keeper"], visitors["changer"]
    mine = read_copy(changer, "changer", rel).replace("# Strings", "# Strings (my notes)", 1)
    write_copy(changer, "changer", rel, mine)
    try:
        nb = json.loads(original)
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "## New in this version"})
        source.write_text(json.dumps(nb))  # as studio_hub.content writes it: 0644, the learners' to read
        kept = keeper.open_lesson("intro-python", "strings")
        assert kept.url.endswith(f"/lab/tree/{rel}") and "New in this version" in read_copy(keeper, "keeper", rel)
        told = changer.open_lesson("intro-python", "strings")
        assert told.status_code == 200 and "This lesson was updated" in told.text, told.text[:500]
        assert "06-strings.updated.ipynb" in told.text
        assert read_copy(changer, "changer", rel) == mine
        assert "New in this version" in read_copy(changer, "changer", rel.replace(".ipynb", ".updated.ipynb"))
        again = changer.open_lesson("intro-python", "strings")
        assert again.url.endswith(f"/lab/tree/{rel}")  # told once
    finally:
        source.write_bytes(original)


def test_a_changed_lesson_reaches_learners_as_nbgitpuller_merges(stack):
    def read_copy(v, user: str, rel: str) -> str:
        return (home_of(stack, user) / rel).read_text()

    def write_copy(v, user: str, rel: str, text: str) -> None:
        (home_of(stack, user) / rel).write_text(text)  # the file keeps its owner and mode

    lesson_updates_reach_learners(stack, read_copy, write_copy)


def test_hub_groups_and_admins_mirror_portal_roles(stack):
    for username in ("student1", "grader1", "instructor1"):
        v = Visitor(stack)
        v.login(username)
        assert v.follow(f"{stack.hub_url}/hub/home").url == f"{stack.hub_url}/hub/home"
    groups = hub_groups(stack)
    assert groups["student1"] == {"students-intro-python"}
    assert groups["grader1"] == {"graders-intro-python"}
    assert groups["instructor1"] == {"instructors-intro-python", "portal-staff"}
    assert "instructor1" in hub_admins(stack) and "student1" not in hub_admins(stack)


def test_two_portal_users_differing_in_case_are_two_hub_users(stack):
    """Attack: the portal has "casey"; a user named "Casey" (an admin made it, or an LMS sent it) logs in. The hub
    must not take them for casey: another server on another origin (host names ignore case), another home, another
    Unix account."""
    from tests.conftest import new_account

    homes, origins = {}, set()
    for username in ("casey", "Casey"):
        v = Visitor(stack)
        v.login(username, new_account(stack, username, course="intro-python"))
        resp = v.follow(f"{stack.hub_url}/hub/spawn")
        assert resp.status_code == 200 and f"/user/{username}/" in resp.url, (username, resp.url)
        assert resp.url.startswith(stack.user_url(username)), resp.url
        homes[username] = v
        origins.add(urlparse(resp.url).hostname.lower())
    assert len(origins) == 2, origins
    groups = hub_groups(stack)
    assert groups["casey"] == groups["Casey"] == {"students-intro-python"}
    from studio_hub.spawner import account_name

    accounts = {account_name(stack.learner_prefix, name) for name in ("casey", "Casey")}
    assert len(accounts) == 2 and all(Path("/home", a).is_dir() for a in accounts)


def test_wrong_password_gets_no_session_and_no_hub_login(stack):
    v = Visitor(stack)
    resp = v.login("student2", "not-the-password")
    assert "didn't match" in resp.text and "sessionid" not in v.http.cookies
    resp = v.follow(f"{stack.hub_url}/hub/home")
    assert resp.url.startswith(f"{stack.portal_url}/accounts/login/")  # the hub sent them to log in at the portal


def test_tampered_oauth_state_is_refused(stack):
    v = Visitor(stack)
    v.login("student3")  # nobody else logs student3 into the hub
    assert "student3" not in _hub_users(stack)
    to_portal = v.http.get(f"{stack.hub_url}/hub/oauth_login", allow_redirects=False)
    to_hub = v.http.get(to_portal.headers["Location"], allow_redirects=False)
    callback = urlparse(to_hub.headers["Location"])
    query = {k: vals[0] for k, vals in parse_qs(callback.query).items()}
    query["state"] = query["state"][:-4] + "AAAA"
    resp = v.http.get(f"{stack.hub_url}/hub/oauth_callback?{urlencode(query)}", allow_redirects=False)
    assert resp.status_code == 400
    assert "jupyterhub-hub-login" not in v.http.cookies
    assert "student3" not in _hub_users(stack)


def _hub_users(stack) -> set[str]:
    db = sqlite3.connect(f"file:{stack.hub_dir / 'jupyterhub.sqlite'}?mode=ro", uri=True)
    return {name for (name,) in db.execute("SELECT name FROM users")}


def test_student_cannot_open_another_courses_lesson(stack):
    v = Visitor(stack)
    v.login("student1")
    resp = v.open_lesson("data-science", "tables")
    assert resp.status_code == 403 and "You are not enrolled in Data Science Basics" in resp.text
    # Going around the portal, straight to the extension in their own server, is refused as well.
    v.open_lesson("intro-python", "values-and-names")  # make sure the server runs
    resp = v.follow(f"{stack.user_url('student1')}studio/lessons/data-science/notebooks/tables.ipynb")
    assert resp.status_code == 403 and "not enrolled in the course 'data-science'" in html.unescape(resp.text)
    assert not (home_of(stack, "student1") / "data-science").exists()


@pytest.mark.parametrize(
    "path",
    [
        "intro-python/lessons/%2e%2e/%2e%2e/data-science/notebooks/tables.ipynb",
        "intro-python/..%2f..%2fdata-science/notebooks/tables.ipynb",
        "%2e%2e/data-science/notebooks/tables.ipynb",
    ],
)
def test_lesson_path_with_dotdot_is_refused(stack, path):
    v = Visitor(stack)
    v.login("student1")
    v.open_lesson("intro-python", "values-and-names")
    before = sorted(str(p) for p in home_of(stack, "student1").rglob("*.ipynb"))
    resp = v.raw_get(f"{stack.user_url('student1')}studio/lessons/{path}")
    # The proxy resolves %2e%2e segments as browsers do (WHATWG URLs), so some of these arrive as a plain path
    # into another course (403); the rest reach the extension with '..' in them (400). Never a copy.
    assert resp.status_code in (400, 403, 404), resp.status_code
    assert not (home_of(stack, "student1") / "data-science").exists()
    assert sorted(str(p) for p in home_of(stack, "student1").rglob("*.ipynb")) == before


def test_logging_out_of_hub_and_portal(stack):
    v = Visitor(stack)
    v.login("student2")
    assert v.follow(f"{stack.hub_url}/hub/home").url == f"{stack.hub_url}/hub/home"
    # Hub logout (JupyterLab's File → Log Out): ends the hub session, continues at the portal's logout page.
    resp = v.follow(f"{stack.hub_url}/hub/logout")
    assert resp.url == f"{stack.portal_url}/accounts/logout/" and "Log out of Learning Studio?" in resp.text
    assert "jupyterhub-hub-login" not in v.http.cookies
    # Portal logout: ends the portal session, passes through the hub's logout, ends on "you are logged out".
    resp = v.http.post(
        f"{stack.portal_url}/accounts/logout/", data={"csrfmiddlewaretoken": v.http.cookies["csrftoken"]}
    )
    assert resp.url == f"{stack.portal_url}/accounts/logout/" and "You are logged out" in resp.text
    assert any(r.url.startswith(f"{stack.hub_url}/hub/logout") for r in resp.history)
    # Now the hub sends them to the portal's login form again.
    assert v.follow(f"{stack.hub_url}/hub/home").url.startswith(f"{stack.portal_url}/accounts/login/")


def test_hub_secrets_are_readable_by_their_owner_only(stack):
    for name in ("oauth_client_secret", "crypt_key", "proxy_auth_token", "jupyterhub_cookie_secret"):
        assert stat.S_IMODE((stack.hub_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(stack.hub_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(stack.passwords_file.stat().st_mode) == 0o600
    if os.geteuid() == 0:
        learner = f"{stack.learner_prefix}student1"
        import subprocess

        peek = subprocess.run(
            ["runuser", "-u", learner, "--", "cat", str(stack.hub_dir / "oauth_client_secret")], capture_output=True
        )
        assert peek.returncode != 0


def test_student_who_enrolls_while_their_server_runs_can_open_the_lesson_seconds_later(stack):
    from studio_hub.config import REFRESH_SECONDS

    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('latecomer', 'l@example.org', 'late-pw-123')",
    )
    v = Visitor(stack)
    v.login("latecomer", "late-pw-123")
    assert v.follow(f"{stack.hub_url}/hub/spawn").url.startswith(f"{stack.user_url('latecomer')}lab")
    lesson = f"{stack.user_url('latecomer')}studio/lessons/intro-python/lessons/01-values-and-names.ipynb"
    refused = v.follow(lesson)
    assert refused.status_code == 403 and "reload this page in a few seconds" in refused.text
    enrolled = v.http.post(
        f"{stack.portal_url}/courses/intro-python/enroll/", data={"csrfmiddlewaretoken": v.http.cookies["csrftoken"]}
    )
    assert "You are enrolled in Introduction to Python" in enrolled.text
    time.sleep(REFRESH_SECONDS + 0.5)  # the hub re-reads roles from the portal once its copy is this old
    resp = v.open_lesson("intro-python", "values-and-names")
    assert resp.status_code == 200 and resp.url.endswith(f"/lab/tree/{LESSON_COPY}")
    assert (home_of(stack, "latecomer") / LESSON_COPY).exists()
    assert hub_groups(stack)["latecomer"] == {"students-intro-python"}


def test_learners_keep_working_while_the_portal_is_down(stack):
    from studio_hub.config import REFRESH_SECONDS

    v = Visitor(stack)
    v.login("student1")
    v.open_lesson("intro-python", "values-and-names")
    stack.stop("portal")
    try:
        time.sleep(REFRESH_SECONDS + 0.5)  # the next hub request wants fresh roles from the (dead) portal
        assert v.http.get(f"{stack.hub_url}/hub/home").status_code == 200
        contents = v.http.get(f"{stack.user_url('student1')}api/contents/intro-python/lessons")
        assert contents.status_code == 200
        assert hub_groups(stack)["student1"] == {"students-intro-python"}  # kept, not wiped
        assert "Portal unreachable while refreshing student1" in (stack.log_dir / "hub.log").read_text()
    finally:
        stack.start_portal()
