"""Learning Studio's Jupyter server extensions (they run inside the learner's server)."""

from . import assignments, hints
from .lessons import Lessons, handlers

__version__ = "0.1.0"


def _jupyter_server_extension_points():
    return [{"module": "studio_ext"}]


def _load_jupyter_server_extension(serverapp):
    lessons = Lessons(parent=serverapp, log=serverapp.log)
    serverapp.web_app.settings["studio_lessons"] = lessons
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", handlers(base_url) + assignments.handlers(base_url))
    serverapp.log.info("studio_ext: lessons from %s", lessons.content_dir or "(no content folder configured)")
    hints.setup(serverapp)
