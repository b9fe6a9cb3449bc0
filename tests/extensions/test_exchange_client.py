"""The nbgrader exchange plugin's own checks: a dead service, a missing token, unsafe names sent back to it."""

from __future__ import annotations

import base64

import pytest
from embedded import free_port
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeError

from studio_ext.exchange import FetchAssignment, List


def _fetch(tmp_path, **kwargs) -> FetchAssignment:
    coursedir = CourseDirectory(course_id="intro", assignment_id="ps1", root=str(tmp_path))
    return FetchAssignment(coursedir=coursedir, assignment_dir=str(tmp_path), **kwargs)


def test_a_dead_service_is_a_plain_message(tmp_path):
    fetch = _fetch(tmp_path, url=f"http://127.0.0.1:{free_port()}/services/exchange/", token="t", timeout=5)
    with pytest.raises(ExchangeError, match="cannot be reached"):
        fetch.start()
    assert not (tmp_path / "ps1").exists()


def test_missing_url_or_token_say_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDIO_EXCHANGE_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    with pytest.raises(ExchangeError, match="STUDIO_EXCHANGE_URL"):
        _fetch(tmp_path).start()
    with pytest.raises(ExchangeError, match="JUPYTERHUB_API_TOKEN"):
        _fetch(tmp_path, url="http://127.0.0.1:1/").start()


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/escape.txt", "a/../../escape.txt", ".bashrc"])
def test_unsafe_names_from_the_service_are_not_written(tmp_path, name):
    fetch = _fetch(tmp_path / "home", url="http://127.0.0.1:1/", token="t")
    with pytest.raises(ExchangeError, match="unsafe name"):
        fetch.write_files(tmp_path / "home" / "ps1", {name: base64.b64encode(b"x").decode()})
    assert not list(tmp_path.rglob("escape.txt")) and not list(tmp_path.rglob(".bashrc"))


def test_inbound_and_cached_are_incompatible_and_submissions_are_not_removable(tmp_path):
    coursedir = CourseDirectory(course_id="intro", root=str(tmp_path))
    with pytest.raises(ExchangeError, match="incompatible"):
        List(coursedir=coursedir, inbound=True, cached=True, url="http://127.0.0.1:1/", token="t").start()
    with pytest.raises(ExchangeError, match="cannot be removed"):
        List(coursedir=coursedir, cached=True, remove=True, url="http://127.0.0.1:1/", token="t").start()
