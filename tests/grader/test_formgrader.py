"""A course's formgrader behind the grading service: started on first use, formgrader only, stopped when idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from studio_grader.courses import CourseSpace
from studio_grader.formgrader import Formgraders
from studio_grader.service import formgrader_exchange_call
from tornado.httpclient import AsyncHTTPClient

from tests.conftest import COURSE_CONTENT


def test_started_on_first_use_serves_formgrader_only_and_stops_when_idle(tmp_path):
    space = CourseSpace(tmp_path, "intro-python", content_dir=COURSE_CONTENT)
    folder = space.prepare()

    async def scenario():
        formgraders = Formgraders("/services/grading/")
        client = AsyncHTTPClient()
        try:
            fg = await formgraders.get("intro-python", folder)
            assert fg.url.startswith("http://127.0.0.1:")
            assert fg.url.endswith("/services/grading/formgrader/intro-python/")
            assert (await formgraders.get("intro-python", folder)) is fg  # one per course
            auth = {"Authorization": f"token {fg.token}"}
            status = await client.fetch(fg.url + "formgrader/api/status", headers=auth)
            assert status.code == 200
            # Nothing but formgrader: no JupyterLab, no terminals; and nothing without its token.
            for path in ("lab", "terminals/api", "api/terminals"):
                resp = await client.fetch(fg.url + path, headers=auth, raise_error=False)
                assert resp.code == 404, path
            anonymous = await client.fetch(fg.url + "formgrader/api/status", raise_error=False, follow_redirects=False)
            assert anonymous.code in (302, 403)
            assert formgraders.stop_idle(3600) == []
            assert formgraders.stop_idle(0) == ["intro-python"] and not fg.alive()
            again = await formgraders.get("intro-python", folder)  # the next request starts it again
            assert again is not fg and again.alive()
        finally:
            formgraders.stop()

    asyncio.run(scenario())


CANARY_CONFIG = "open({canary!r}, 'w').write('student code ran in formgrader')\n"


def test_formgrader_serves_its_own_course_only_and_reads_no_students_config(tmp_path, monkeypatch):
    """nbgrader's start page takes ``?path=`` and re-initialises formgrader from that folder, running its
    nbgrader_config.py: a student submits such a file, a grader opens one link, and student code would run on the
    trusted side. Here the argument is refused, and the process holds nothing of the service's secrets."""
    for name in ("JUPYTERHUB_API_TOKEN", "STUDIO_GRADES_TOKEN", "STUDIO_GRADEBOOK_URL"):
        monkeypatch.setenv(name, f"secret-of-the-service-{name}")
    space = CourseSpace(tmp_path, "intro-python", content_dir=COURSE_CONTENT)
    folder = space.prepare()
    other = CourseSpace(tmp_path, "data-science").prepare()
    canary = tmp_path / "canary"
    for planted in (folder / "submitted" / "student1" / "ps01", other):
        planted.mkdir(parents=True, exist_ok=True)
        (planted / "nbgrader_config.py").write_text(CANARY_CONFIG.format(canary=str(canary)))

    async def scenario():
        formgraders = Formgraders("/services/grading/", exchange_url="http://127.0.0.1:1/fx/")
        client = AsyncHTTPClient()
        try:
            fg = await formgraders.get("intro-python", folder)
            auth = {"Authorization": f"token {fg.token}"}
            for path in ("submitted/student1/ps01", str(folder / "submitted/student1/ps01"), "../data-science", ""):
                resp = await client.fetch(fg.url + f"formgrader/?path={path}", headers=auth, raise_error=False,
                                          follow_redirects=False)  # fmt: skip
                assert resp.code == 400, (path, resp.code)
            start = await client.fetch(fg.url + "formgrader/", headers=auth, follow_redirects=False, raise_error=False)
            assert start.code == 302 and start.headers["Location"].endswith("/formgrader/manage_assignments")
            page = await client.fetch(fg.url + "formgrader/manage_assignments", headers=auth)
            assert page.code == 200
            assert not canary.exists(), "a student's nbgrader_config.py ran in formgrader"
            raw = Path(f"/proc/{fg.proc.pid}/environ").read_text().split("\0")
            environ = dict(item.split("=", 1) for item in raw if "=" in item)
            assert not [k for k, v in environ.items() if "secret-of-the-service" in v], environ
            assert environ["STUDIO_FORMGRADER_EXCHANGE_URL"] == "http://127.0.0.1:1/fx/intro-python/"
            assert environ["HOME"].startswith(str(tmp_path / ".formgrader"))
        finally:
            formgraders.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("method", "path", "query", "allowed"),
    [
        ("GET", "api/assignments", {"course": [b"intro-python"]}, "course=intro-python"),
        ("GET", "api/assignments", {}, "course=intro-python"),
        ("GET", "api/assignments", {"course": [b"data-science"]}, None),
        ("GET", "api/assignments", {"course": [b"intro-python", b"data-science"]}, None),
        ("GET", "api/submissions", {"course": [b"intro-python"], "assignment": [b"ps01"]},
         "course=intro-python&assignment=ps01"),
        ("GET", "api/submissions", {"mine": [b"1"]}, None),
        ("GET", "api/submissions", {"course": [b"data-science"]}, None),
        ("PUT", "api/assignments/intro-python/ps01", {}, ""),
        ("PUT", "api/assignments/data-science/ps01", {}, None),
        ("DELETE", "api/assignments/intro-python/ps01", {}, ""),
        ("GET", "api/assignments/intro-python/ps01", {}, None),  # fetching as a student: not formgrader's
        ("GET", "api/collect/intro-python/ps01", {"before_duedate": [b"1"]}, "before_duedate=1"),
        ("GET", "api/collect/data-science/ps01", {}, None),
        ("GET", "api/submissions/intro-python/ps01/student1/abc", {}, ""),
        ("GET", "api/submissions/intro-python/../data-science/student1", {}, None),
        ("GET", "api/submissions/data-science/ps01/student1/abc", {}, None),
        ("PUT", "api/feedback/intro-python/ps01/student1/abc", {}, ""),
        ("PUT", "api/feedback/data-science/ps01/student1/abc", {}, None),
        ("GET", "api/feedback/intro-python/ps01/student1/abc", {}, None),
        ("POST", "api/submissions/intro-python/ps01", {}, None),
        ("PUT", "api/source/intro-python/ps01", {}, None),
    ],
)  # fmt: skip
def test_what_a_formgrader_may_ask_of_the_exchange(method, path, query, allowed):
    assert formgrader_exchange_call("intro-python", method, path, query) == allowed
