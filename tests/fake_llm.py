"""A local stand-in for an LLM provider that speaks OpenAI's chat-completions wire protocol over HTTP.

``POST /v1/chat/completions`` answers with what the next queued behaviour says: a JSON completion, a stream of
server-sent events, 429 with Retry-After, 500, a hang, an unreadable body. Every request is recorded (headers and
JSON body) for the test to read. Runs on 127.0.0.1 in a thread of its own.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque

from tornado import web
from tornado.httpserver import HTTPServer


class _Completions(web.RequestHandler):
    def initialize(self, fake: FakeLLM):
        self.fake = fake

    async def post(self):
        body = json.loads(self.request.body)
        self.fake.requests.append({"headers": dict(self.request.headers), "body": body})
        kind, text = self.fake.behaviours.popleft() if self.fake.behaviours else ("ok", "A hint.")
        if kind == "429":
            self.set_status(429)
            self.set_header("Retry-After", text or "0")
            return self.finish({"error": {"message": "rate limited", "type": "rate_limit_error"}})
        if kind == "500":
            self.set_status(500)
            return self.finish({"error": {"message": "server error"}})
        if kind == "hang":
            await asyncio.sleep(float(text))
        if kind == "garbage":
            return self.finish("this is not JSON")
        if body.get("stream") and kind != "json":
            self.set_header("Content-Type", "text/event-stream")
            for i, piece in enumerate(text.split(" ")):
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": {"content": (" " if i else "") + piece}, "finish_reason": None}],
                }
                self.write(f"data: {json.dumps(chunk)}\n\n")
                await self.flush()
            self.write('data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n')
            return self.finish("data: [DONE]\n\n")
        self.finish(
            {
                "id": "c1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        )


class FakeLLM:
    def __init__(self):
        self.requests: list[dict] = []
        self.behaviours: deque[tuple[str, str]] = deque()
        self.port = 0
        self._ready = threading.Event()

    def queue(self, *behaviours: tuple[str, str]) -> None:
        self.behaviours.extend(behaviours)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeLLM:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _serve(self) -> None:
        async def main():
            server = HTTPServer(web.Application([(r"/v1/chat/completions", _Completions, {"fake": self})]))
            sockets = __import__("tornado.netutil").netutil.bind_sockets(0, "127.0.0.1")
            server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop.wait()
            server.stop()

        asyncio.run(main())

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
