"""A browserless user of the real stack: logs in at the portal and follows the hub's redirects."""

from __future__ import annotations

import time

import requests
from demo_cohort import BrowserSession as _Session  # a browser's cookies on *.localhost


class Visitor:
    def __init__(self, stack):
        self.stack = stack
        self.http = _Session()

    def login(self, username: str, password: str | None = None) -> requests.Response:
        portal = self.stack.portal_url
        self.http.get(f"{portal}/accounts/login/").raise_for_status()
        password = self.stack.passwords[username] if password is None else password
        data = {"username": username, "password": password, "csrfmiddlewaretoken": self.http.cookies["csrftoken"]}
        return self.http.post(f"{portal}/accounts/login/", data=data)

    def follow(self, url: str, timeout: float = 120) -> requests.Response:
        """GET ``url`` following redirects, waiting on the hub's spawn-pending page while a server starts.

        The returned response's ``trail`` lists every response on the way (redirects included), in order.
        """
        resp = self.http.get(url)
        trail = [*resp.history, resp]
        deadline = time.monotonic() + timeout
        while "/hub/spawn-pending/" in resp.url and time.monotonic() < deadline:
            time.sleep(0.5)
            resp = self.http.get(resp.url)
            trail += [*resp.history, resp]
        resp.trail = trail
        return resp

    def raw_get(self, url: str) -> requests.Response:
        """GET ``url`` exactly as written: no dot-segment clean-up (requests would resolve ``%2e%2e`` first)."""
        prepared = self.http.prepare_request(requests.Request("GET", url))
        prepared.url = url
        return self.http.send(prepared, allow_redirects=False)

    def open_lesson(self, course: str, lesson: str) -> requests.Response:
        return self.follow(f"{self.stack.portal_url}/{course}/{lesson}/open/")


def learner_in_lesson(stack, username: str, course: str, lesson: str) -> Visitor:
    """A visitor logged in as ``username`` whose server runs, with ``lesson`` open."""
    v = Visitor(stack)
    v.login(username)
    resp = v.open_lesson(course, lesson)
    assert resp.status_code == 200, f"{username} could not open {course}/{lesson}: {resp.status_code}"
    return v
