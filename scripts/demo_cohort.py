"""The demo's cohort: classmates whose work makes the dashboards, leaderboard, at-risk list and analytics show real
figures at first look. Everything goes through the platform's own paths:

- accounts and forum threads: the portal's services (``manage.py seed_cohort``);
- each student logs in through the portal's single sign-on to the hub and takes a hub token of their own, as their
  JupyterLab would hold one; with it they fetch assignments from the exchange and submit them, and the grading
  service grades each submission for real in its sandbox and sends the grade to the portal;
- their learning events (cells run, exercises checked, hints, validations) reach the portal's event API with the
  events token, as the hints service forwards them, dated over the last two weeks.

``student1``–``student3`` are left untouched, to try things. Run once per demo folder (a marker file says it ran).
"""

from __future__ import annotations

import base64
import json
import random
import time
import tomllib
from datetime import UTC, datetime, timedelta
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from urllib.parse import urlparse

import requests

COURSE = "intro-python"
ASSIGNMENTS = ("ps01-values-and-names", "ps02-functions", "ps03-conditionals")
# How each classmate works: per assignment, "right" (the solution), "half" (the first answer only), "wrong" (as
# fetched: every answer raises), "fetched" (fetched, not submitted), None (not even fetched); days of the last two
# weeks they were active (0 = today); how often a run of theirs fails; hints asked per active day.
PROFILES = {
    "ada": (("right", "right", "right"), range(0, 14), 0.1, 0),
    "ben": (("right", "right", "half"), range(0, 14, 2), 0.3, 1),
    "chloe": (("right", "right", "fetched"), range(0, 10), 0.2, 0),
    "dev": (("right", "half", "right"), range(1, 14, 3), 0.25, 1),
    "emma": (("wrong", "half", None), range(0, 12), 0.6, 3),
    "farid": (("fetched", None, None), range(12, 14), 0.5, 1),
    "grace": (("right", "right", "right"), range(0, 7), 0.15, 0),
    "hugo": (("wrong", None, None), range(9, 14), 0.7, 2),
}


TOKEN_SCOPES = ["read:users:name!user", "read:users:groups!user", "access:services!service=exchange"]


class _LocalhostCookies(DefaultCookiePolicy):
    """Send a cookie set for ``Domain=localhost`` (the hub's session id, shared with learners' origins) back to
    localhost itself, as browsers do; http.cookiejar files a dotless host as ``localhost.local`` and would not."""

    def return_ok_domain(self, cookie, request):
        if cookie.domain == ".localhost" and urlparse(request.get_full_url()).hostname == "localhost":
            return True
        return super().return_ok_domain(cookie, request)


class BrowserSession(requests.Session):
    """A requests session that keeps cookies as a browser does on this machine's ``*.localhost`` origins."""

    def prepare_request(self, request):
        """requests copies the cookies into a jar of the default policy for each request: use ours instead."""
        prepared = super().prepare_request(request)
        jar = requests.cookies.RequestsCookieJar(_LocalhostCookies())
        jar.update(self.cookies)
        jar.update(requests.cookies.cookiejar_from_dict(request.cookies or {}))
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(jar)
        return prepared


def hub_token(stack, username: str, password: str) -> str:
    """Log ``username`` in at the portal, then at the hub through its single sign-on (no server is started), and
    take a hub token of theirs."""
    http = BrowserSession()
    portal = stack.portal_url
    http.get(f"{portal}/accounts/login/", timeout=30).raise_for_status()
    data = {"username": username, "password": password, "csrfmiddlewaretoken": http.cookies["csrftoken"]}
    http.post(f"{portal}/accounts/login/", data=data, timeout=30).raise_for_status()
    home = http.get(f"{stack.hub_url}/hub/oauth_login", params={"next": "/hub/home"}, timeout=60)
    home.raise_for_status()
    xsrf = http.cookies.get("_xsrf", path="/hub/") or ""
    resp = http.post(
        f"{stack.hub_url}/hub/api/users/{username}/tokens",
        # What their JupyterLab's token may do with the exchange, and no more: who they are, their course groups.
        json={"note": "demo cohort", "expires_in": 3600, "scopes": TOKEN_SCOPES},
        headers={"X-XSRFToken": xsrf},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()["token"]


def answered(released: bytes, source: Path, how: str) -> bytes:
    """The released notebook with its answer cells filled: all with the solution ("right"), the first only
    ("half"), none ("wrong": as fetched, every answer raises)."""
    nb = json.loads(released)
    solutions = {}
    for cell in json.loads(source.read_text())["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            text = "".join(cell["source"])
            solutions[meta["grade_id"]] = "\n".join(line for line in text.splitlines() if "### " not in line)
    wanted = {"right": len(solutions), "half": 1, "wrong": 0}[how]
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions and wanted > 0:
            cell["source"] = solutions[grade_id]
            wanted -= 1
    return json.dumps(nb).encode()


def events_of(username: str, profile: tuple, exercises: dict[str, list[str]], lessons: dict[str, str]) -> list[dict]:
    """Their learning events: each active day the lesson's practice (runs, then its check), some runs of the
    assignment's exercises (some failing) and their checks, hints, a validation. ``exercises``: the answer cells of
    each assignment and lesson; ``lessons``: each assignment's lesson."""
    work, days, failing, hints = profile
    # What they get right is what they submit: every answer ("right"), the first ("half"), none (else).
    solved = {
        a: set(exercises[a][: {"right": len(exercises[a]), "half": 1}.get(how, 0)])
        for a, how in zip(ASSIGNMENTS, work, strict=True)
    }
    rng = random.Random(username)  # the same history at every demo
    now = datetime.now(UTC)
    out = []
    for day in days:
        start = (now - timedelta(days=day)).replace(hour=9 + rng.randrange(8), minute=rng.randrange(60))
        if start > now:
            start = now - timedelta(minutes=30)
        assignment = ASSIGNMENTS[min(len(ASSIGNMENTS) - 1, (13 - day) // 5)]
        lesson = lessons[assignment]
        for exercise in exercises[lesson]:  # the lesson first: its practice, then the check below it
            start -= timedelta(minutes=20)
            for n in range(rng.randrange(1, 4)):
                event = {"kind": "execute", "assignment": lesson, "exercise": exercise, "ok": rng.random() >= failing}
                out.append({**event, "time": (start + timedelta(minutes=2 * n)).timestamp()})
            passed = rng.random() >= failing / 2
            check = {"kind": "check", "assignment": lesson, "exercise": exercise, "ok": passed}
            out.append(
                {
                    **check,
                    **({} if passed else {"ename": "AssertionError"}),
                    "time": (start + timedelta(minutes=8)).timestamp(),
                }
            )
            start += timedelta(minutes=20)
        for n in range(rng.randrange(4, 12)):
            ok = rng.random() >= failing
            exercise = rng.choice(exercises[assignment])
            event = {"kind": "execute", "assignment": assignment, "exercise": exercise, "ok": ok}
            if not ok:
                event["ename"] = rng.choice(["AssertionError", "NameError", "TypeError"])
            out.append({**event, "time": (start + timedelta(minutes=3 * n)).timestamp()})
            # a run without an error is not yet a pass: its tests say
            passed = ok and exercise in solved[assignment] and rng.random() >= failing
            out.append(
                {
                    "kind": "check",
                    "assignment": assignment,
                    "exercise": exercise,
                    "ok": passed,
                    **({} if passed else {"ename": "AssertionError"}),
                    "time": (start + timedelta(minutes=3 * n + 1)).timestamp(),
                }
            )
        for n in range(hints):
            when = (start + timedelta(minutes=2 + 5 * n)).timestamp()
            common = {"assignment": assignment, "exercise": rng.choice(exercises[assignment]), "time": when}
            out += [{"kind": "hint-asked", **common}, {"kind": "hint-shown", "rung": n, **common}]
        out.append(
            {
                "kind": "validate",
                "assignment": assignment,
                "ok": rng.random() >= failing,
                "time": (start + timedelta(minutes=40)).timestamp(),
            }
        )
    return [
        {"id": f"demo-cohort:{username}:{i}", "student": username, "course": COURSE, "notebook": e["assignment"], **e}
        for i, e in enumerate(out)
    ]


def seed(stack, log=print) -> dict:
    """Seed the cohort once (a marker in the demo folder); what was done."""
    marker = stack.var / "demo-cohort-seeded"
    if marker.exists():
        return {}
    passwords_file = stack.var / "demo-cohort-passwords.txt"
    stack.manage("seed_cohort", "--passwords-file", str(passwords_file), "--course", COURSE)
    passwords = dict(line.split(":", 1) for line in passwords_file.read_text().split())
    exchange = stack.hub_settings().exchange_url
    source = stack.source_dir / COURSE / "source"
    listed = tomllib.loads((stack.source_dir / COURSE / "course.toml").read_text())["lessons"]
    lessons = {entry["assignment"]: Path(entry["notebook"]).stem for entry in listed if entry.get("assignment")}
    notebooks = {a: source / a / f"{a}.ipynb" for a in ASSIGNMENTS}
    notebooks |= {
        lessons[a]: stack.source_dir / COURSE / e["notebook"]
        for e in listed
        for a in ASSIGNMENTS
        if e.get("assignment") == a
    }
    exercises = {
        name: [
            c["metadata"]["nbgrader"]["grade_id"]
            for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")
        ]
        for name, path in notebooks.items()
    }
    submitted = 0
    for username, profile in PROFILES.items():
        token = hub_token(stack, username, passwords[username])
        auth = {"Authorization": f"token {token}"}
        released = _wait_released(exchange, auth)
        for assignment, how in zip(ASSIGNMENTS, profile[0], strict=True):
            if how is None or assignment not in released:
                continue
            got = requests.get(f"{exchange}api/assignments/{COURSE}/{assignment}", headers=auth, timeout=60)
            got.raise_for_status()
            if how == "fetched":
                continue
            files = {name: base64.b64decode(data) for name, data in got.json()["files"].items()}
            name = f"{assignment}.ipynb"
            files[name] = answered(files[name], source / assignment / name, how)
            body = {"files": {n: base64.b64encode(d).decode() for n, d in files.items()}}
            requests.post(
                f"{exchange}api/submissions/{COURSE}/{assignment}", json=body, headers=auth, timeout=60
            ).raise_for_status()
            submitted += 1
    events = [e for username, profile in PROFILES.items() for e in events_of(username, profile, exercises, lessons)]
    token = (stack.hub_dir / "events_token").read_text().strip()
    resp = requests.put(
        f"{stack.portal_url}/api/events/",
        json={"events": events},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    resp.raise_for_status()
    marker.write_text(datetime.now(UTC).isoformat())
    done = {"students": len(PROFILES), "submissions": submitted, "events": len(events)}
    log(
        f"[demo] cohort: {done['students']} classmates, {submitted} submissions (graded as they arrive), "
        f"{len(events)} learning events"
    )
    return done


def _wait_released(exchange: str, auth: dict, timeout: float = 300) -> set[str]:
    """The assignments released so far, waiting until the first ones the cohort works on are (the grading service
    publishes them at start)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = requests.get(f"{exchange}api/assignments", params={"course": COURSE}, headers=auth, timeout=30)
        listed.raise_for_status()
        released = {a["assignment_id"] for a in listed.json()["assignments"]}
        if set(ASSIGNMENTS) <= released or time.monotonic() > deadline:
            return released
        time.sleep(2)
