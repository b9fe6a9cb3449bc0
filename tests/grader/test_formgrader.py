"""A course's formgrader behind the grading service: started on first use, formgrader only, stopped when idle."""

from __future__ import annotations

import asyncio

from studio_grader.courses import CourseSpace
from studio_grader.formgrader import Formgraders
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
