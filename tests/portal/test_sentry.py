"""sentry-sdk in the portal's production settings, against a local endpoint speaking Sentry's envelope protocol.

The portal runs in a process of its own (production settings, as gunicorn loads them); a view raises; what
arrives at ``POST /api/<project>/envelope/`` is parsed as Sentry's servers would. Without a DSN nothing starts.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ROOT

SCRIPT = """
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.urls import clear_url_caches, path
from studio_portal import urls

def boom(request):
    raise RuntimeError("portal test error 7f3a")

urls.urlpatterns.insert(0, path("boom/", boom))
clear_url_caches()
resp = Client(raise_request_exception=False).get("/boom/", SERVER_NAME="127.0.0.1",
                                                 HTTP_COOKIE="sessionid=secret-session-value")
print(resp.status_code, settings.SENTRY)
import sentry_sdk
sentry_sdk.flush(10)
"""


class Envelopes(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(({"path": self.path, **dict(self.headers)}, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "0"}')

    def log_message(self, *args):
        pass


def items(envelope: bytes) -> list[tuple[dict, dict]]:
    """An envelope's items: a header line, then (item header, payload) pairs; payloads sized by ``length``."""
    lines = envelope.split(b"\n", 1)
    rest, out = lines[1] if len(lines) > 1 else b"", []
    while rest.strip():
        header_line, rest = rest.split(b"\n", 1)
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :].lstrip(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        out.append((header, json.loads(payload) if payload.strip().startswith(b"{") else {}))
    return out


@pytest.fixture
def sentry_server():
    Envelopes.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def run_portal(tmp_path, **env) -> str:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio_portal.settings.production",
        "STUDIO_PORTAL_DATA_DIR": str(tmp_path),
        "STUDIO_PORTAL_SECRET_KEY": "x" * 50,
        **env,
    }
    environ.pop("STUDIO_SENTRY_DSN", None) if "STUDIO_SENTRY_DSN" not in env else None
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT / "portal", env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_an_error_reaches_sentry_without_personal_data(sentry_server, tmp_path):
    port = sentry_server.server_address[1]
    out = run_portal(
        tmp_path, STUDIO_SENTRY_DSN=f"http://publickey@127.0.0.1:{port}/42", STUDIO_SENTRY_ENVIRONMENT="ci"
    )
    assert out == "500 True"
    events = [(h, e) for h, body in Envelopes.received for ih, e in items(body) if ih.get("type") == "event"]
    assert len(events) == 1, Envelopes.received
    headers, event = events[0]
    assert headers["path"] == "/api/42/envelope/" and "sentry_key=publickey" in headers["X-Sentry-Auth"]
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == "portal test error 7f3a"
    assert event["environment"] == "ci" and event["transaction"] == "/boom/", (
        event.get("transaction"),
        event.get("request"),
    )
    raw = b"".join(body for _, body in Envelopes.received)
    assert b"secret-session-value" not in raw, "no cookies (send_default_pii is off)"


def test_without_a_dsn_nothing_is_sent(sentry_server, tmp_path):
    assert run_portal(tmp_path) == "500 False"
    assert Envelopes.received == []
