"""The one HTTP client of Learning Studio's parts: httpx, sync and async alike, made here with what every call
between our parts wants. No proxy is taken from the environment (the calls go to the hub, its services and the
portal, at addresses the operator configured; tornado's client, used before, never took one either); every call
has a timeout; and the TLS context (the system's CAs) is made once per process, not once per client."""

from __future__ import annotations

import ssl
from functools import cache

import httpx

Error = httpx.HTTPError  # no answer (refused, reset, timed out) or, after raise_for_status(), an error status


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def client(timeout: float, **kwargs) -> httpx.Client:
    return httpx.Client(timeout=timeout, trust_env=False, verify=_tls(), **kwargs)


def async_client(timeout: float, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, trust_env=False, verify=_tls(), **kwargs)
