"""Run code in a learner's real kernel, as their browser would: REST to start it, the websocket to execute."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlparse

import websocket

IDLE_AFTER_REPLY = 30  # seconds to wait for the output of a request that has been answered


def run_in_kernel(
    visitor, server_url: str, code: str, timeout: float = 150, *, kernel: str = "", keep: bool = False
) -> dict:
    """Execute ``code`` in a kernel of the server at ``server_url`` (…/user/<name>/); return its output.

    A new kernel unless ``kernel`` names a running one; it is shut down afterwards unless ``keep``.
    Returns ``{"stdout": str, "stderr": str, "error": ename or None, "status": "ok"|"error"|"dead", "kernel": id}``;
    ``iopub_lost`` is set when the kernel replied but its output did not all arrive.
    """
    http = visitor.http
    path = urlparse(server_url).path
    xsrf = http.cookies.get("_xsrf", path=path) or ""
    if not kernel:
        resp = http.post(f"{server_url}api/kernels", json={"name": "python3"}, headers={"X-XSRFToken": xsrf})
        resp.raise_for_status()
        kernel = resp.json()["id"]
    cookies = "; ".join(f"{c.name}={c.value}" for c in http.cookies if path.startswith(c.path))
    ws_url = server_url.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels"
    ws = websocket.create_connection(ws_url, cookie=cookies, timeout=timeout, suppress_origin=True)
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "buffers": [],
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            }
        )
    )
    out = {"stdout": "", "stderr": "", "error": None, "evalue": "", "status": "dead", "kernel": kernel}
    # The reply (shell channel) and the output (iopub) travel apart: the reply can come first. Like any Jupyter
    # client, read until the kernel says on iopub that it is idle again after this request.
    replied = idle = False
    try:
        while not (replied and idle):
            if replied:
                ws.settimeout(IDLE_AFTER_REPLY)
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind == "error":
                out["error"], out["evalue"] = content["ename"], content["evalue"]
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "execute_reply":
                out["status"], replied = content["status"], True
    except (websocket.WebSocketException, OSError):
        out["iopub_lost"] = replied  # replied but never said idle: its output may be incomplete
        # otherwise the kernel (or its connection) died: status stays "dead"
    finally:
        ws.close()
        if not keep:
            http.delete(f"{server_url}api/kernels/{kernel}", headers={"X-XSRFToken": xsrf})
    return out
