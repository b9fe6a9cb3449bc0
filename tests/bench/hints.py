"""Hint latency and the cost of event reporting, side by side in one run.

    python -m tests.bench.hints [--requests 200] [--runs 200]

0. Three example hints from the tutor, for the record.
1. Server-side hint latency: the hints service's HTTP API (the real service code; who a token belongs to answered
   locally, as the hub would from its cache) for the ``ladder`` and ``tutor`` providers, every request a different
   attempt (no cache), over the course's real exercises and novice mistakes (tests/hub/test_hints_tutor.py).
   Target: p95 <= 100 ms.
2. Event reporting per cell run: a real jupyter_server with the hints extension and a kernel; cells run through
   the kernel's websocket as JupyterLab runs them, with and without the front end's event POST after each run.
   Target: <= 2 ms added per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.websocket import websocket_connect


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def hint_latency(provider: str, n: int) -> list[float]:
    from jupyterhub.services.auth import HubAuth

    from studio_hub.hints import app as service
    from tests.conftest import COURSE_CONTENT
    from tests.hub.test_hints_tutor import CASES

    class LocalAuth(HubAuth):
        async def user_for_token(self, token, sync=True, **kwargs):
            return {"kind": "user", "name": "s1", "groups": ["students-intro-python"], "scopes": ["access"]}

        def check_scopes(self, required, model):
            return {"access"}

    from embedded import free_port

    app = service.HintsService()
    app.initialize(["--source-dir", str(COURSE_CONTENT), "--provider", provider, "--HintsService.rate_limit=1000000"])
    port = free_port()
    server = HTTPServer(served(app, LocalAuth()))
    server.listen(port, "127.0.0.1")
    client = AsyncHTTPClient()
    times = []
    try:
        for i in range(n):
            (assignment, exercise), code, _, _ = CASES[i % len(CASES)]
            body = {
                "assignment": assignment,
                "exercise": exercise,
                "code": f"{code}# try {i}\n",
                "more": i % 3 == 0,
                "error": {"ename": "NameError", "evalue": "name 'x' is not defined", "traceback": []},
            }
            t0 = time.perf_counter()
            resp = await client.fetch(
                f"http://127.0.0.1:{port}/services/hints/api/hint",
                method="POST",
                body=json.dumps(body),
                headers={"Authorization": "token t"},
            )
            times.append((time.perf_counter() - t0) * 1000)
            assert json.loads(resp.body)["provider"].startswith(provider)
    finally:
        server.stop()
    return times


async def run_cells(base: str, token: str, n: int, report: bool) -> tuple[list[float], float]:
    """Run ``n`` cells through the kernel's websocket; with ``report``, POST each run's event as the front end does
    (without waiting for the answer). (each run's time, ms; all of it until the last event was taken, ms per run)."""
    client = AsyncHTTPClient()
    headers = {"Authorization": f"token {token}"}
    kernel = json.loads((await client.fetch(f"{base}/api/kernels", method="POST", body="{}", headers=headers)).body)
    ws = await websocket_connect(f"{base.replace('http', 'ws')}/api/kernels/{kernel['id']}/channels?token={token}")
    session = uuid.uuid4().hex
    times, posts = [], []
    try:
        for i in range(n + 5):
            msg_id = uuid.uuid4().hex
            msg = {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "session": session,
                    "username": "s",
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {
                    "code": f"x = {i} * 2",
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                },
            }
            t0 = time.perf_counter()
            await ws.write_message(json.dumps(msg))
            while True:
                reply = json.loads(await ws.read_message())
                if reply.get("parent_header", {}).get("msg_id") == msg_id and reply["msg_type"] == "execute_reply":
                    break
            if i == 5:  # the first runs warm up
                start = t0
            if i >= 5:
                times.append((time.perf_counter() - t0) * 1000)
            if report:
                event = {
                    "kind": "execute",
                    "path": "ps01-values-and-names/ps01-values-and-names.ipynb",
                    "exercise": "ex1-answer",
                    "ok": True,
                    "code": f"x = {i} * 2",
                }
                sent = client.fetch(
                    f"{base}/studio/hints/events", method="POST", headers=headers, body=json.dumps({"events": [event]})
                )
                posts.append(asyncio.ensure_future(sent))
        await asyncio.gather(*posts)
        per_run = (time.perf_counter() - start) * 1000 / n
    finally:
        ws.close()
        await client.fetch(f"{base}/api/kernels/{kernel['id']}", method="DELETE", headers=headers)
    return times, per_run


async def post_latency(base: str, token: str, n: int) -> list[float]:
    """One event POST at a time, awaited: what the server spends on taking one (ms)."""
    client = AsyncHTTPClient()
    headers = {"Authorization": f"token {token}"}
    event = {
        "kind": "execute",
        "path": "ps01-values-and-names/ps01-values-and-names.ipynb",
        "exercise": "ex1-answer",
        "ok": False,
        "ename": "NameError",
        "code": "print(x)\n" * 20,
    }
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.fetch(
            f"{base}/studio/hints/events", method="POST", headers=headers, body=json.dumps({"events": [event]})
        )
        times.append((time.perf_counter() - t0) * 1000)
    return times


def start_server(root: Path, token: str) -> tuple[subprocess.Popen, str]:
    from embedded import free_port, wait_for_http

    port = free_port()
    env = {**os.environ, "STUDIO_HINTS_URL": f"http://127.0.0.1:{free_port()}/services/hints/"}  # nobody there
    with open(root / "server.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--port={port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={token}",
                "--ServerApp.open_browser=False",
                f"--ServerApp.root_dir={root}",
                "--allow-root",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, root / "server.log")
    return proc, f"http://127.0.0.1:{port}"


def examples() -> None:
    """Three real tutor hints (rung 2): a student's answer, run for real, and what the tutor says of it."""
    import textwrap

    from studio_hub.hints import tutor
    from tests.hub.test_hints_tutor import CASES, ex, run_attempt

    for i in (0, 6, 15):
        (assignment, grade_id), code, _, _ = CASES[i]
        exercise = ex(assignment, grade_id)
        text = tutor.hint(run_attempt(exercise, code), exercise.solution, 2)
        print(f"example: {assignment} {grade_id}\n{textwrap.indent(code, '    ')}  -> {text}\n")


async def main_async(args) -> None:
    examples()
    for provider in ("ladder", "tutor"):
        times = await hint_latency(provider, args.requests)
        print(f"hint_{provider}_p50: {statistics.median(times):.1f} ms")
        print(f"hint_{provider}_p95: {pct(times, 0.95):.1f} ms")
    tutor_p95 = pct(times, 0.95)

    root = Path(tempfile.mkdtemp(prefix="bench-hints-"))
    token = secrets.token_hex(16)
    proc, base = start_server(root, token)
    try:
        # Off, on, off, on: this machine's speed drifts; each side is the mean of its two rounds.
        rounds = [await run_cells(base, token, args.runs, report=r) for r in (False, True, False, True)]
        posts = await post_latency(base, token, args.runs)
    finally:
        proc.terminate()
        proc.wait(10)
    off = statistics.mean([rounds[0][1], rounds[2][1]])
    on = statistics.mean([rounds[1][1], rounds[3][1]])
    added = on - off
    print(f"cell_run_reporting_off: {off:.2f} ms per run")
    print(f"cell_run_reporting_on: {on:.2f} ms per run")
    print(f"cell_run_reporting_off_p95: {pct(rounds[0][0] + rounds[2][0], 0.95):.2f} ms")
    print(f"cell_run_reporting_on_p95: {pct(rounds[1][0] + rounds[3][0], 0.95):.2f} ms")
    print(f"event_post_p50: {statistics.median(posts):.2f} ms")
    print(f"event_post_p95: {pct(posts, 0.95):.2f} ms")
    print(f"reporting_added_per_run: {added:.2f} ms")
    print(
        f"RESULT: hint p95 {tutor_p95:.1f} ms (tutor; target 100 ms), event reporting adds {added:.2f} ms per cell "
        f"run (target 2 ms; one event's POST alone {statistics.median(posts):.2f} ms p50; the service down, events "
        "buffered)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()


def served(app, hub_auth):
    """The service's tornado application, with ``hub_auth`` answering who a token is."""
    app.hub_auth, app.prefix = hub_auth, "/services/hints/"
    return app.make_app()
