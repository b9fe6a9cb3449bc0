"""studio-warm-server's hand-over, in-process: only the hub's key and a well-formed assignment are taken."""

from __future__ import annotations

import threading
import time

import requests
from embedded import free_port

from studio_ext import warm


def serve(port: int, key: str) -> tuple[threading.Thread, dict]:
    got: dict = {}
    thread = threading.Thread(target=lambda: got.update(warm.wait_for_learner(port, key)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return thread, got


def test_only_the_key_holder_hands_over_a_learner_and_only_once():
    port, key = free_port(), "k-" + "x" * 40
    thread, got = serve(port, key)
    url = f"http://127.0.0.1:{port}{warm.ASSIGN_PATH}"
    good = {"env": {"JUPYTERHUB_USER": "ada"}, "argv": ["--debug"], "home": "/home/learner"}

    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 503
    assert requests.post(url, json=good, headers={"Authorization": "token wrong"}, timeout=5).status_code == 403
    assert requests.post(url, json=good, timeout=5).status_code == 403  # no key at all
    assert (
        requests.post(
            f"http://127.0.0.1:{port}/other", json=good, headers={"Authorization": f"token {key}"}, timeout=5
        ).status_code
        == 403
    )
    for bad in (b"not json", b'{"env": [], "argv": [], "home": "/x"}', b'{"env": {}}'):
        resp = requests.post(url, data=bad, headers={"Authorization": f"token {key}"}, timeout=5)
        assert resp.status_code == 400, bad
    assert not got and thread.is_alive()  # nothing taken yet

    assert requests.post(url, json=good, headers={"Authorization": f"token {key}"}, timeout=5).text == "assigned"
    thread.join(5)
    assert not thread.is_alive() and got == good
    try:  # the port is closed: a second hand-over reaches nobody
        status = requests.post(url, json=good, headers={"Authorization": f"token {key}"}, timeout=2).status_code
    except requests.ConnectionError:
        status = None
    assert status is None


def test_a_new_home_gets_the_shell_files_and_a_used_one_is_left_alone(tmp_path):
    skel, home = tmp_path / "skel", tmp_path / "home"
    skel.mkdir(), home.mkdir()
    (skel / ".bashrc").write_text("# shell")
    warm.furnish_home(home, skel)
    assert (home / ".bashrc").read_text() == "# shell"
    (home / ".bashrc").unlink()
    (home / "work.py").write_text("x = 1")
    warm.furnish_home(home, skel)  # the learner deleted it: not put back
    assert not (home / ".bashrc").exists()
