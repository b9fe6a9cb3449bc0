"""``studio-warm-server``: a learner's Jupyter server started before its learner arrives (the hub's warm pool).

Under gVisor most of a server's start is Python importing Jupyter: ~4.5 s of CPU, against ~1.8 s under runc. A
pooled container runs this command instead of ``jupyterhub-singleuser``. It imports everything that server will
import, then listens on the server's own port for one request from the hub, which carries the learner's
environment (their name, API token, URLs) and arguments. The hub mounts the learner's home before it asks. Then
the listener closes, the process moves into the home and becomes the learner's ``jupyterhub-singleuser``.

The request must carry the key the hub gave this container at creation (``$STUDIO_WARM_KEY``); only the hub can
reach the port anyway (learners' containers cannot reach each other). Once assigned, the key is worthless.
"""

from __future__ import annotations

import hmac
import importlib
import json
import os
import shutil
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

KEY_ENV = "STUDIO_WARM_KEY"
ASSIGN_PATH = "/studio-warm/assign"
MAX_REQUEST = 1 << 20  # an environment and arguments: a few KiB


def preload() -> list[str]:
    """Import the server, the hub's singleuser extension and every enabled server extension; return their names."""
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    importlib.import_module("jupyter_server.serverapp")
    importlib.import_module("jupyterhub.singleuser.extension")
    enabled = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    names = sorted(name for name, on in enabled.items() if on)
    for name in names:
        module = importlib.import_module(name)
        points = getattr(module, "_jupyter_server_extension_points", None)
        if points:
            for point in points():  # imports the extension's app classes too (jupyterlab's LabApp, …)
                importlib.import_module(point["module"])
    return names


def wait_for_learner(port: int, key: str) -> dict:
    """Serve ``port`` until the hub posts an assignment with ``key``; return it (``env``, ``argv``, ``home``)."""
    assignment: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            given = self.headers.get("Authorization", "").removeprefix("token ")
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != ASSIGN_PATH or not hmac.compare_digest(given.encode(), key.encode()):
                return self.answer(403, "not for you")
            if not 0 < length <= MAX_REQUEST:
                return self.answer(400, "no assignment")
            try:
                body = json.loads(self.rfile.read(length))
                env, argv, home = body["env"], body["argv"], body["home"]
                assert isinstance(env, dict) and isinstance(argv, list) and isinstance(home, str)
            except (ValueError, KeyError, AssertionError):
                return self.answer(400, "malformed assignment")
            assignment.update(env=env, argv=argv, home=home)
            self.answer(200, "assigned")

        def do_GET(self):  # noqa: N802
            self.answer(503, "warming up: not a learner's server yet")

        def answer(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # noqa: A002
            print("studio-warm-server:", format % args, file=sys.stderr, flush=True)

    HTTPServer.allow_reuse_address = True
    with HTTPServer(("0.0.0.0", port), Handler) as server:
        while not assignment:
            server.handle_request()
    return assignment


def furnish_home(home: Path, skeleton: Path = Path("/etc/skel")) -> None:
    """A new home gets the shell's start-up files, as ``useradd --create-home`` (or a new Docker volume) gives."""
    if any(home.iterdir()):
        return
    for item in skeleton.iterdir():
        if item.is_file():
            shutil.copy2(item, home / item.name)


def main() -> None:
    key = os.environ.pop(KEY_ENV, "")
    if not key:
        sys.exit(f"studio-warm-server: ${KEY_ENV} is not set; this command is started by the hub's warm pool")
    port = int(os.environ.get("STUDIO_WARM_PORT", "8888"))
    names = preload()
    print(
        f"studio-warm-server: preloaded {len(sys.modules)} modules ({', '.join(names)}); waiting on :{port}",
        file=sys.stderr,
        flush=True,
    )
    assignment = wait_for_learner(port, key)
    os.environ.update({k: str(v) for k, v in assignment["env"].items()})
    home = Path(assignment["home"])
    furnish_home(home)
    os.chdir(home)
    sys.argv = ["jupyterhub-singleuser", *map(str, assignment["argv"])]
    from jupyterhub.singleuser import main as singleuser

    singleuser()


if __name__ == "__main__":
    main()
