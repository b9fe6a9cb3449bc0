"""Hints and learning events, from the learner's server to the hub's hints service.

The learner's JupyterLab asks here; this extension collects what the hint is about from the notebook (the answer
cell's code, its latest error, the visible test below it and how it failed, and, asking the learner's own kernel,
what the failing assertion's left side gave) and forwards it with the server's hub token. It holds no keys, no
solutions, no hidden tests: those stay with the service.

Events (cell runs, hints asked, validations, submissions) wait in this server's outbox (studio_wire.outbox: a SQLite
file in the learner's Jupyter data folder, so a restarted server still sends them) and are sent in batches off the
request path: reporting never waits for the service, and when the service is down the outbox keeps the latest
``buffer_size`` and counts what it dropped.

    POST studio/hints/hint     {path, cell_id, more?, kernel_id?, notebook?}   the next hint (the service's answer)
    POST studio/hints/events   {events: [{kind, path?, cell_id?, ok?, ename?, code?}]}   202, buffered
    GET  studio/hints/status   {buffered, sent, dropped, refused, failed_sends}
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import os
import time
from pathlib import PurePosixPath

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from studio_wire import http
from studio_wire.events import CODE_LENGTH, FROM_LEARNER, problem
from studio_wire.outbox import Outbox, check
from studio_wire.traceback import frames
from tornado import web
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _error(cell: dict) -> dict | None:
    for output in cell.get("outputs") or []:
        if output.get("output_type") == "error":
            return {
                "ename": str(output.get("ename", "")),
                "evalue": str(output.get("evalue", "")),
                "traceback": [str(x) for x in output.get("traceback") or []][:200],
            }
    return None


def where(path: str, lessons=None) -> dict:
    """What a notebook path says of its exercises: a lesson's copy (``<course>/lessons/<name>.ipynb``, ``lessons``:
    studio_ext.lessons.Lessons) names its course, and its exercises are the lesson's (``assignment``: the lesson's
    name); any other notebook's are the assignment of its folder, where nbgrader puts a fetched assignment."""
    lesson = lessons.lesson_of(path) if lessons is not None else None
    if lesson:
        return {"course": lesson[0], "assignment": lesson[1], "notebook": lesson[1]}
    p = PurePosixPath(path)
    return {"assignment": p.parent.name, "notebook": p.stem} if p.parent.name else {"notebook": p.stem}


def collect(nb: dict, cell_id: str, path: str, lessons=None) -> dict:
    """The hint request for the answer cell ``cell_id`` of this notebook: code, latest error, the failing test."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise web.HTTPError(400, "the notebook has no cells")
    index = next((i for i, c in enumerate(cells) if isinstance(c, dict) and c.get("id") == cell_id), None)
    if index is None:
        raise web.HTTPError(404, f"no cell {cell_id!r} in {path}")
    answer = cells[index]
    meta = answer.get("metadata", {}).get("nbgrader", {})
    if answer.get("cell_type") != "code" or not meta.get("solution") or not meta.get("grade_id"):
        raise web.HTTPError(400, "hints are for exercise answer cells (nbgrader solution cells)")
    body = {
        **where(path, lessons),
        "exercise": meta["grade_id"],
        "code": _text(answer),
        "answer_count": answer.get("execution_count"),
    }
    error = _error(answer)
    for test in cells[index + 1 :]:
        test_meta = test.get("metadata", {}).get("nbgrader", {})
        if test.get("cell_type") != "code" or not test_meta.get("grade") or test_meta.get("solution"):
            break
        failed = _error(test)
        if failed and error is None:
            error = failed
            body["test"] = {"source": _text(test), "count": test.get("execution_count")}
    if error:
        body["error"] = error
    return body


def failing_assertion(body: dict) -> str:
    """The failing visible ``assert`` line, from the traceback's frame in the test cell."""
    test = body.get("test") or {}
    if (body.get("error") or {}).get("ename") != "AssertionError" or not test.get("source"):
        return ""
    lines = test["source"].splitlines()
    for count, number in frames("\n".join(body["error"]["traceback"])):
        if count == test.get("count") and 0 < number <= len(lines) and lines[number - 1].strip().startswith("assert"):
            return lines[number - 1].strip()
    return ""


def probe_expression(assertion: str) -> str:
    """What to ask the kernel: the left side of ``assert <left> == / is <right>``; "" for anything else."""
    try:
        test = ast.parse(assertion).body[0].test
    except (SyntaxError, IndexError, AttributeError):
        return ""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
        return ast.unparse(test.left)
    return ""


class Hints(LoggingConfigurable):
    """This server's link to the hub's hints service."""

    service_url = Unicode(
        config=True,
        help="""The hints service. Default: $STUDIO_HINTS_URL (set by the hub);
        empty: no hints (the button says so). Example: c.Hints.service_url = "http://127.0.0.1:8085/services/hints/"
        """,
    )
    timeout = Float(20.0, config=True, help="Seconds to wait for a hint (default 20). Example: c.Hints.timeout = 30")
    probe_timeout = Float(
        2.0,
        config=True,
        help="""Seconds the learner's kernel may take to say what a failing
        assertion's left side is (default 2; it is interrupted after). 0: never ask. Example: c.Hints.probe_timeout = 1
        """,
    )
    buffer_size = Int(
        2000,
        config=True,
        help="Events kept while the service is away; older ones are dropped and "
        "counted (default 2000). Example: c.Hints.buffer_size = 500",
    )
    flush_interval = Float(
        2.0,
        config=True,
        help="Seconds between sends of waiting events; and the first wait before trying again after a failed "
        "send (default 2).",
    )
    batch_size = Int(200, config=True, help="Events per send at most (default 200).")

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("STUDIO_HINTS_URL", "")

    outbox_path = Unicode(
        config=True,
        help="""Where events wait to be sent (a SQLite file). Default: studio/events-<user>.sqlite in Jupyter's
        data folder. Example: c.Hints.outbox_path = "/home/jovyan/.local/share/jupyter/studio/events.sqlite"
        """,
    )

    @default("outbox_path")
    def _default_outbox_path(self) -> str:
        user = os.environ.get("JUPYTERHUB_USER") or "local"
        return os.path.join(jupyter_data_dir(), "studio", f"events-{user}.sqlite")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.client = http.async_client(self.timeout)
        self.outbox = Outbox(
            self.outbox_path,
            self._deliver,
            name="learning events",
            batch=self.batch_size,
            first_wait=self.flush_interval,
            max_wait=60.0,
            max_kept=self.buffer_size,
        )

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"token {os.environ.get('JUPYTERHUB_API_TOKEN', '')}",
            "Content-Type": "application/json",
        }

    async def ask(self, body: dict) -> tuple[int, dict]:
        if not self.service_url:
            return 503, {"message": "Hints are not available on this server."}
        try:
            resp = await self.client.post(
                url_path_join(self.service_url, "api/hint"),
                content=json.dumps(body),
                headers=self._headers(),
                timeout=self.timeout,
            )
        except http.Error as e:
            self.log.warning("studio_ext: the hints service did not answer: %s", e)
            return 503, {"message": "The hints service is not answering right now. Try again in a minute."}
        if not resp.content:
            self.log.warning("studio_ext: the hints service answered HTTP %s with nothing", resp.status_code)
            return 503, {"message": "The hints service is not answering right now. Try again in a minute."}
        try:
            data = json.loads(resp.content)
        except ValueError:
            return 502, {"message": "The hints service answered with something unreadable."}
        return resp.status_code, data if isinstance(data, dict) else {"message": "unexpected answer"}

    async def probe(self, kernel_manager, kernel_id: str | None, expression: str) -> str | None:
        """``repr(expression)`` in the learner's own kernel, if it is idle (their code, their sandbox)."""
        if not kernel_id or not expression or self.probe_timeout <= 0 or kernel_id not in kernel_manager:
            return None
        kernel = kernel_manager.get_kernel(kernel_id)
        if getattr(kernel, "execution_state", "idle") != "idle":
            return None  # never queue behind (or interrupt) the learner's own run
        client = kernel.client()
        client.start_channels()
        try:
            msg_id = client.execute("", silent=True, store_history=False, user_expressions={"got": expression})
            deadline = time.monotonic() + self.probe_timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    await ensure_async(kernel.interrupt_kernel())  # the probe's own run, stuck: stop it
                    return None
                try:
                    reply = await asyncio.wait_for(ensure_async(client.get_shell_msg(timeout=left)), left + 0.5)
                except Exception:  # noqa: BLE001 -- a timeout, queue.Empty and kin: try until the deadline
                    continue
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    got = reply["content"].get("user_expressions", {}).get("got", {})
                    return got.get("data", {}).get("text/plain") if got.get("status") == "ok" else None
        finally:
            client.stop_channels()

    def report(self, events: list[dict]) -> int:
        """Put events into the outbox for the sender; never waits for the service. Returns how many were taken."""
        taken = events[: self.buffer_size]
        if taken:
            self.outbox.put_many(taken)
        return len(taken)

    async def flush(self) -> bool:
        """Send what waits now (before a hint is asked: the runs so far count as tries)."""
        return await self.outbox.flush() if self.service_url else False

    async def _deliver(self, events: list[dict]) -> None:
        if not self.service_url:
            raise RuntimeError("no hints service on this server")
        resp = await self.client.post(
            url_path_join(self.service_url, "api/events"),
            content=json.dumps({"events": events}),
            headers=self._headers(),
            timeout=10,
        )
        check(resp)


def event_from(item: dict, lessons=None) -> dict | None:
    """What leaves this server of one event: no code unless the course keeps it (the service decides), a hash."""
    if isinstance(item, dict):  # null or "" is no value (the front end and nbgrader's handlers send both)
        item = {k: v for k, v in item.items() if v is not None and v != ""}
    if problem(FROM_LEARNER, item):  # studio_wire.events: the same schema the hints service checks
        return None
    event = {"kind": item["kind"], "time": time.time()}
    if item.get("path", "").endswith(".ipynb"):
        event.update(where(item["path"], lessons))
    event.update({k: item[k] for k in ("exercise", "ename", "course", "assignment", "ok", "rung") if k in item})
    if "code" in item:
        event["code_hash"] = hashlib.sha256(item["code"].encode("utf-8", "replace")).hexdigest()[:32]
        event["code"] = item["code"][:CODE_LENGTH]
    return event


class HintsHandler(APIHandler):
    auth_resource = "contents"

    @property
    def hints(self) -> Hints:
        return self.settings["studio_hints"]


class HintHandler(HintsHandler):
    @web.authenticated
    @authorized("read")
    async def post(self):
        data = self.get_json_body() or {}
        path, cell_id = data.get("path"), data.get("cell_id")
        if not isinstance(path, str) or not path.endswith(".ipynb") or not isinstance(cell_id, str):
            raise web.HTTPError(400, '"path" (a notebook) and "cell_id" (its answer cell) are required')
        nb = data.get("notebook")
        if not isinstance(nb, dict):  # the saved notebook, when the front end did not send its live copy
            model = await ensure_async(self.contents_manager.get(path, content=True, type="notebook"))
            nb = json.loads(json.dumps(model["content"]))
        lessons = self.settings.get("studio_lessons")
        body = collect(nb, cell_id, path, lessons)
        body["more"] = bool(data.get("more"))
        expression = probe_expression(failing_assertion(body))
        got = await self.hints.probe(self.kernel_manager, data.get("kernel_id"), expression) if expression else None
        if got is not None:
            body.setdefault("test", {})["got"] = got
        # The runs reported so far reach the service first: they count as tries that unlock a more specific hint.
        self.hints.report(
            [e for e in [event_from({"kind": "hint-asked", "path": path, "exercise": body["exercise"]}, lessons)] if e]
        )
        await self.hints.flush()
        status, answer = await self.hints.ask(body)
        self.set_status(status)
        self.finish(answer)


class EventsHandler(HintsHandler):
    @web.authenticated
    @authorized("read")
    def post(self):
        data = self.get_json_body() or {}
        raw = data.get("events")
        if not isinstance(raw, list):
            raise web.HTTPError(400, '"events" must be a list')
        lessons = self.settings.get("studio_lessons")
        events = [e for e in (event_from(item, lessons) for item in raw) if e is not None]
        taken = self.hints.report(events)
        self.set_status(202)
        self.finish({"buffered": taken, "rejected": len(raw) - len(events)})


class StatusHandler(HintsHandler):
    @web.authenticated
    @authorized("read")
    def get(self):
        stats = self.hints.outbox.stats()
        self.finish(
            {
                "buffered": stats["pending"],
                "sent": stats["sent"],
                "dropped": stats["dropped"],
                "refused": stats["refused"],
                "failed_sends": stats["failed_deliveries"],
                "service": bool(self.hints.service_url),
            }
        )


def setup(serverapp) -> Hints:
    hints = Hints(parent=serverapp, log=serverapp.log)
    serverapp.web_app.settings["studio_hints"] = hints
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "studio/hints/hint"), HintHandler),
            (url_path_join(base, "studio/hints/events"), EventsHandler),
            (url_path_join(base, "studio/hints/status"), StatusHandler),
        ],
    )
    PeriodicCallback(hints.outbox.tick, hints.flush_interval * 1000).start()  # the outbox's sender, on a timer
    return hints
