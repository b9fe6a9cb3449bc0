"""The handler base of our hub-managed services: the caller known from their JupyterHub token (asked of the hub
through ``HubAuth``, cached), JSON bodies in, JSON errors out."""

from __future__ import annotations

import base64
import binascii
import json

from jupyterhub.services.auth import HubAuth
from studio_wire.schema import problem
from tornado import web


class RequestError(Exception):
    """A request the service refuses, with the status to answer (400 unless said) and a message for the caller.
    ``headers``: extra response headers (``Retry-After``)."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def json_body(body: bytes, schema: dict | None = None) -> dict:
    """A request's JSON object (matching ``schema``, one of studio_wire's, if given), or RequestError (400) saying
    what is wrong with it."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise RequestError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    wrong = problem(schema, data) if schema is not None else None
    if wrong:
        raise RequestError(wrong)
    return data


def decode_files(data: dict) -> dict[str, bytes]:
    """``{"files": {path: base64}}`` decoded; the paths are checked where they are used."""
    files = data.get("files")
    if not isinstance(files, dict):
        raise RequestError('"files" must be an object {path: base64}')
    try:
        return {name: base64.b64decode(content, validate=True) for name, content in files.items()}
    except (binascii.Error, TypeError, ValueError):
        raise RequestError("a file's content is not base64") from None


async def token_owner(hub_auth: HubAuth, authorization: str, service: str) -> dict:
    """The hub's model of the token in an ``Authorization: token ...`` header: a service's, or a user's with their
    groups. 401 without a token; 403 for a token the hub does not know, one without access to ``service``, or a
    user's token that may not read its owner's groups."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise web.HTTPError(401, "send your JupyterHub token: Authorization: token <token>")
    model = await hub_auth.user_for_token(token.strip(), sync=False)
    if not model:
        raise web.HTTPError(403, "this token is not one the hub knows")
    if not hub_auth.check_scopes(hub_auth.access_scopes, model):
        raise web.HTTPError(403, f"this token may not use the {service} (needs {hub_auth.access_scopes})")
    if model.get("kind") == "service":
        return model
    if model.get("kind", "user") != "user":
        raise web.HTTPError(403, "this token is not a user's token the hub knows")
    if "groups" not in model:
        # The hub shows a user's groups only to tokens allowed to read them (read:users:groups!user, which every
        # learner's server token has): the token of someone's own server or terminal does.
        raise web.HTTPError(403, "this token may not read its owner's groups (needs read:users:groups!user)")
    return model


class JSONErrors:
    """Errors answered as ``{"status", "message"}``: a RequestError's own status and words, an HTTPError's message,
    else the status's reason (never a traceback)."""

    def send_error(self, status_code: int = 500, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, RequestError):
            status_code = error.status
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, RequestError):
            self.set_status(error.status)
            for name, value in error.headers.items():
                self.set_header(name, value)
            message = str(error)
        elif isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        else:
            message = self._reason
        self.finish({"status": self.get_status(), "message": message})


class ApiHandler(JSONErrors, web.RequestHandler):
    """A route of a service's API: ``self.user`` is the caller (a user with their groups, or
    ``{"name": "service:<name>", "service": "<name>"}``), known before any method runs."""

    user: dict

    def initialize(self, app, hub_auth: HubAuth | None = None, **kwargs) -> None:
        self.app = app
        self.hub_auth = hub_auth if hub_auth is not None else app.hub_auth
        for name, value in kwargs.items():
            setattr(self, name, value)

    async def prepare(self) -> None:
        model = await token_owner(self.hub_auth, self.request.headers.get("Authorization", ""), self.app.title)
        if model.get("kind") == "service":
            self.user = {"name": f"service:{model['name']}", "groups": [], "service": model["name"]}
        else:
            self.user = model

    def body(self, schema: dict | None = None) -> dict:
        """The request's JSON object; with ``schema`` (one of studio_wire's), one that matches it, or RequestError
        (400) saying where it does not."""
        return json_body(self.request.body, schema)


class HealthHandler(ApiHandler):
    """``GET api/health``: the one route anyone may call (the hub's health checks). Only this handler skips
    authentication, whatever another route's path ends with."""

    async def prepare(self) -> None:
        pass

    def get(self) -> None:
        self.finish({"ok": True, **self.app.health()})
