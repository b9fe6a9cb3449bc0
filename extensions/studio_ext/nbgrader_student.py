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

from .hints import event_from

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
            handler = getattr(importlib.import_module(module), name)(application, request, **kwargs)
            if request.method == "POST" and name in ("ValidateAssignmentHandler", "AssignmentActionHandler"):
                _report_when_done(handler, application.settings)
            return handler  # not a Deferred: Python does not __init__ it again

    Deferred.__name__ = Deferred.__qualname__ = f"Deferred{name}"
    return Deferred


def _report_when_done(handler, settings: dict) -> None:
    """A validation or a submission from the learner's JupyterLab is a learning event (studio_ext.hints)."""
    hints = settings.get("studio_hints")
    if hints is None:
        return
    finish, send = handler.on_finish, handler.finish
    answer: dict = {}

    def finish_and_keep(chunk=None):
        if isinstance(chunk, (str, bytes)):
            try:
                answer.update(json.loads(chunk))
            except ValueError:
                pass
        return send(chunk)

    handler.finish = finish_and_keep

    def arg(name: str) -> str:
        value = handler.get_argument(name, "")
        if not value:  # nbgrader's front end may send JSON instead of form fields
            try:
                value = (handler.get_json_body() or {}).get(name, "")
            except web.HTTPError:
                value = ""
        return value if isinstance(value, str) else ""

    def on_finish():
        finish()
        try:
            action = handler.path_kwargs.get("action") or "validate"
            if action not in ("validate", "submit"):
                return
            # nbgrader answers 200 with {"success": ..., "value": ...}; a validation passes with nothing failed.
            value = answer.get("value")
            failed = isinstance(value, dict) and any(value.get(k) for k in ("failed", "changed", "errors"))
            event = {"kind": action, "ok": handler.get_status() == 200 and answer.get("success") is True and not failed}
            if action == "validate":
                event["path"] = arg("path")
            else:
                event["assignment"], event["course"] = arg("assignment_id"), arg("course_id")
            hints.report([e for e in [event_from(event)] if e])
        except Exception as e:  # noqa: BLE001 -- reporting never breaks what the learner did
            handler.log.warning("studio_ext: could not report %s: %s", handler.request.path, e)

    handler.on_finish = on_finish


class VersionHandler(JupyterHandler):
    """nbgrader's version check, without importing nbgrader: the same answer, from the installed package's metadata."""

    @web.authenticated
    def get(self):
        asked, installed = self.get_argument("version"), version("nbgrader")
        if asked == installed:
            result = {"success": True}
        else:
            message = (
                f"The version of the Assignment List labextension does not match the server extension; the "
                f"labextension version is {asked} while the server version is {installed}."
            )
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
