"""Opening an assignment from the portal: ``/studio/assignments/<course>/<assignment>`` on the learner's server.

The portal's "Open in JupyterLab" goes through the hub's user-redirect (log in, start the server) to here. A learner
with no copy of the assignment yet gets it fetched through the exchange, exactly as nbgrader's ``fetch_assignment``
(or the Assignment List) would put it: ``~/<assignment>/``; one who has a copy keeps it untouched. Then its first
notebook opens in JupyterLab.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .lessons import COURSE_RE, Lessons


def fetch(course: str, assignment: str, home: Path) -> None:
    """nbgrader's fetch_assignment through the hub's exchange, into ``home/<assignment>``."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.abc.exchange import ExchangeError

    from .exchange import FetchAssignment

    coursedir = CourseDirectory(course_id=course, assignment_id=assignment)
    try:
        FetchAssignment(coursedir=coursedir, assignment_dir=str(home)).start()
    except ExchangeError as e:
        status = 404 if "(HTTP 404)" in str(e) else 403 if "(HTTP 403)" in str(e) else 503
        raise web.HTTPError(status, f"Could not fetch {assignment}: {e}") from None


class AssignmentHandler(JupyterHandler):
    auth_resource = "contents"

    @property
    def lessons(self) -> Lessons:
        return self.settings["studio_lessons"]

    @web.authenticated
    @authorized("write")  # opening an assignment may fetch it into the home folder
    async def get(self, course: str, assignment: str):
        from .exchange import SAFE_PART  # nbgrader's: imported when an assignment is opened, not at every start

        if not (COURSE_RE.match(course) and SAFE_PART.fullmatch(assignment)):
            raise web.HTTPError(404, "There is no such assignment")
        await self.lessons.check_member(course)
        home = Path(self.contents_manager.root_dir)
        folder = home / assignment
        if not folder.exists():
            await asyncio.to_thread(fetch, course, assignment, home)
            self.log.info("studio_ext: fetched %s/%s into the learner's home", course, assignment)
        elif not folder.is_dir():
            raise web.HTTPError(
                409, f"{assignment} in your files is not a folder: move or rename it, then open the assignment again."
            )
        notebooks = sorted(p.name for p in folder.glob("*.ipynb"))
        target = f"{assignment}/{notebooks[0]}" if notebooks else assignment
        self.redirect(url_path_join(self.base_url, "lab", "tree", quote(target)))


def handlers(base_url: str) -> list[tuple[str, type]]:
    return [(url_path_join(base_url, r"studio/assignments/([^/]+)/([^/]+)"), AssignmentHandler)]
