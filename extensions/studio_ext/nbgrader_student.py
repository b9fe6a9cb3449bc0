"""nbgrader's student side in a learner's server (assignment list, fetch, submit, validate), loaded on first use.

nbgrader's own server extensions import all of nbgrader when the server starts (nbconvert, SQLAlchemy, its apps):
45 MiB of every idle learner's server under gVisor and ~1.7 s of its start, for pages most sessions never open.
This extension, enabled instead of those two (extensions/jupyter-config/zz-studio-ext.json), registers the same
URLs. The version check the JupyterLab extension makes is answered from the package's metadata; the first request
to any other of them imports nbgrader's handlers and sets them up exactly as nbgrader's loaders do, and from then
on nbgrader's own handler classes serve every request. Without nbgrader installed it adds nothing.
"""

from __future__ import annotations

import importlib
import json
from importlib.metadata import PackageNotFoundError, version

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

ASSIGNMENT_LIST = "nbgrader.server_extensions.assignment_list.handlers"
VALIDATE = "nbgrader.server_extensions.validate_assignment.handlers"
SERVERAPP = "studio_nbgrader_serverapp"


def _jupyter_server_extension_points():
    return [{"module": "studio_ext.nbgrader_student"}]


def _set_up_nbgrader(settings: dict) -> None:
    """What nbgrader's two loaders put in the web app's settings, once."""
    if "assignment_list_manager" in settings:
        return
    serverapp = settings[SERVERAPP]
    assignments = importlib.import_module(ASSIGNMENT_LIST)
    manager = assignments.AssignmentList(parent=serverapp)
    manager.root_dir = serverapp.root_dir
    settings["root_dir"] = serverapp.root_dir
    settings["assignment_list_manager"] = manager
    serverapp.log.info("nbgrader's student extensions loaded on first use")


def on_first_use(module: str, name: str) -> type[JupyterHandler]:
    """A handler class standing for nbgrader's ``module.name``: constructing it builds nbgrader's handler instead."""

    class Deferred(JupyterHandler):
        def __new__(cls, application, request, **kwargs):
            _set_up_nbgrader(application.settings)
            handler = getattr(importlib.import_module(module), name)
            return handler(application, request, **kwargs)  # not a Deferred: Python does not __init__ it again

    Deferred.__name__ = Deferred.__qualname__ = f"Deferred{name}"
    return Deferred


class VersionHandler(JupyterHandler):
    """nbgrader's version check, without importing nbgrader: the same answer, from the installed package's metadata."""

    @web.authenticated
    def get(self):
        asked, installed = self.get_argument("version"), version("nbgrader")
        if asked == installed:
            result = {"success": True}
        else:
            message = (f"The version of the Assignment List labextension does not match the server extension; the "
                       f"labextension version is {asked} while the server version is {installed}.")  # fmt: skip
            self.log.error(message)
            result = {"success": False, "message": message}
        self.finish(json.dumps(result))


ROUTES = [
    ("/assignments", on_first_use(ASSIGNMENT_LIST, "AssignmentListHandler")),
    ("/assignments/validate", on_first_use(VALIDATE, "ValidateAssignmentHandler")),
    ("/assignments/(?P<action>fetch|submit|fetch_feedback)", on_first_use(ASSIGNMENT_LIST, "AssignmentActionHandler")),
    ("/courses", on_first_use(ASSIGNMENT_LIST, "CourseListHandler")),
    ("/nbgrader_version", VersionHandler),
]


def _load_jupyter_server_extension(serverapp):
    try:
        version("nbgrader")
    except PackageNotFoundError:
        serverapp.log.info("studio_ext.nbgrader_student: nbgrader is not installed; no assignment list")
        return
    web_app = serverapp.web_app
    web_app.settings[SERVERAPP] = serverapp
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [(url_path_join(base_url, pattern), handler) for pattern, handler in ROUTES])
