"""Learners' servers are not on the hub's origin (issue 15, item 4), in headless Chromium against the real stack.

A learner controls everything their own server serves (its files, their notebooks' trust, the server itself). The
attack: student1 signs a notebook whose output carries script, and an admin opens it in JupyterLab on student1's
server. The script tries to read the admin's hub cookies and pages and to act on the hub as the admin. Each learner's
server is served from an origin of its own (<name>.localhost), so none of it works.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_lesson_in_browser import page  # noqa: F401 -- the browser fixture
from tests.e2e.test_portal_in_browser import log_in
from tests.integration.client import Visitor
from tests.integration.kernel import run_in_kernel

pytestmark = pytest.mark.e2e

ADMIN = "instructor1"  # portal staff: a hub admin
NOTE = "planted-by-student1"

# What the learner's script tries, as the admin's browser; it reports each result in window.__attack.
ATTACK = """
async (hub) => {
  const r = {origin: location.origin, cookie: document.cookie};
  const attempt = async (name, f) => { try { r[name] = await f(); } catch (e) { r[name] = 'blocked: ' + e.name; } };
  await attempt('read_api', async () => {
    const x = await fetch(hub + '/hub/api/user', {credentials: 'include'});
    return x.status + ' ' + (await x.text()).slice(0, 200);
  });
  await attempt('new_token', async () => (await fetch(hub + '/hub/api/users/ADMIN/tokens', {
    method: 'POST', credentials: 'include', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({note: 'NOTE'})})).status);
  await attempt('new_token_simple', async () => (await fetch(hub + '/hub/api/users/ADMIN/tokens', {
    method: 'POST', credentials: 'include', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
    body: JSON.stringify({note: 'NOTE'})})).type);
  await attempt('hub_api_on_own_host', async () => (await fetch('/hub/api/user', {credentials: 'include'})).status);
  await attempt('read_hub_page', () => (READ_HUB_PAGE)(hub));
  await attempt('frame_hub_page', () => new Promise((resolve, reject) => {
    const frame = document.createElement('iframe');
    frame.onload = () => { try { resolve(frame.contentDocument.body.innerText.slice(0, 200)); }
                           catch (e) { reject(e); } };
    frame.src = hub + '/hub/token';
    document.body.appendChild(frame);
    setTimeout(() => reject(new Error('no load')), 15000);
  }));
  return r;
}
"""
READ_HUB_PAGE = """
async (hub) => (await (await fetch(hub + '/hub/token', {credentials: 'include'})).text()).slice(0, 2000)
"""
ATTACK = ATTACK.replace("ADMIN", ADMIN).replace("NOTE", NOTE).replace("READ_HUB_PAGE", READ_HUB_PAGE)


def _admin_tokens(stack) -> list[str]:
    v = Visitor(stack)
    v.login(ADMIN)
    v.follow(f"{stack.hub_url}/hub/home")
    xsrf = v.http.cookies.get("_xsrf", path="/hub/")
    resp = v.http.get(f"{stack.hub_url}/hub/api/users/{ADMIN}/tokens", headers={"X-XSRFToken": xsrf})
    resp.raise_for_status()
    return [t.get("note") or "" for t in resp.json()["api_tokens"]]


def test_a_page_a_learner_serves_cannot_act_as_a_visiting_admin(stack, page):  # noqa: F811
    # student1 plants a notebook whose output runs the attack, and trusts it with their own server's key.
    learner = Visitor(stack)
    learner.login("student1")
    assert learner.follow(f"{stack.hub_url}/hub/spawn").status_code == 200
    script = f"({ATTACK})({json.dumps(stack.hub_url)}).then(r => {{ window.__attack = r; }});"
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": "a",
                "metadata": {},
                "execution_count": 1,
                "source": "1",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"text/html": f"<b>hello</b><script>{script}</script>"},
                    }
                ],
            }
        ],
    }
    out = run_in_kernel(
        learner,
        stack.user_url("student1"),
        (
            "import json, subprocess\n"
            f"open('welcome.ipynb', 'w').write({json.dumps(json.dumps(notebook))})\n"
            "r = subprocess.run(['jupyter', 'trust', 'welcome.ipynb'], capture_output=True, text=True)\n"
            "print(r.returncode, r.stdout, r.stderr)\n"
        ),
    )
    assert out["stdout"].startswith("0"), out

    # The admin, logged in to the portal and the hub, opens it on student1's server.
    page.set_default_timeout(90_000)
    log_in(page, stack, ADMIN, stack.passwords[ADMIN])
    page.goto(f"{stack.hub_url}/hub/home")
    page.goto(f"{stack.user_url('student1')}lab/tree/welcome.ipynb")
    page.get_by_role("button", name="Authorize").click()  # the hub asks, as for any server not one's own
    page.wait_for_function("() => window.__attack !== undefined", timeout=120_000)
    r = page.evaluate("() => window.__attack")

    # The script ran (the notebook is trusted), on student1's own origin, not the hub's.
    assert r["origin"] == stack.user_url("student1").split("/user/")[0], r
    hub_cookies = {c["name"]: c["value"] for c in page.context.cookies(f"{stack.hub_url}/hub/")}
    assert "jupyterhub-hub-login" in hub_cookies and "_xsrf" in hub_cookies  # the admin is logged in to the hub
    assert hub_cookies["_xsrf"] not in r["cookie"], r  # … but the learner's page cannot see the hub's cookies
    assert r["read_api"].startswith("blocked"), r  # cross-origin: the hub's answer is not the page's to read
    assert r["read_hub_page"].startswith("blocked"), r  # nor are the hub's pages (a token page, the admin panel)
    assert r["frame_hub_page"].startswith("blocked"), r
    assert r["hub_api_on_own_host"] in (403, 404) or str(r["hub_api_on_own_host"]).startswith("blocked"), r
    assert NOTE not in _admin_tokens(stack), r  # nothing was done on the hub as the admin

    # Control: the same script on the hub's own origin reads the hub's pages; the origin is what stops it above.
    page.goto(f"{stack.hub_url}/hub/home")
    same_origin = page.evaluate(f"({READ_HUB_PAGE})({json.dumps(stack.hub_url)})")
    assert "<title>JupyterHub</title>" in same_origin, same_origin[:300]
