"""Each course's formgrader, served by the grading service: the list of courses a caller grades, the proxy to a
course's formgrader (its pages' scripts allowed by nonce only), and formgrader's exchange calls (its own course
only)."""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import secrets
from urllib.parse import quote, urlencode

from jupyterhub.utils import url_path_join
from studio_wire import http
from tornado import web

from studio_hub.exchange.policy import Action, courses_of, may

from .handlers import BaseHandler

log = logging.getLogger("studio.grading")

# Headers not passed on between the browser and a course's formgrader.
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "cookie",
    "set-cookie",
    "authorization",
    "upgrade",
    "te",
    "trailer",
}


class IndexHandler(BaseHandler):
    @web.authenticated
    def get(self):
        groups = self.groups()
        courses = sorted(c for c in courses_of(groups) if may(groups, Action.COLLECT, c))
        base = self.settings["prefix"]
        items = ""
        for c in courses:
            progress = self.grading.progress(c)
            items += (
                f'<li><a href="{html.escape(url_path_join(base, "formgrader", c, "formgrader"))}/">'
                f"{html.escape(c)}</a>: {progress['graded']} graded, {progress['queued']} waiting</li>"
            )
        body = f"<ul>{items}</ul>" if courses else "<p>You grade no course.</p>"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Grading</title></head>"
            f"<body><h1>Formgrader</h1>{body}</body></html>"
        )


class FormgraderExchangeHandler(BaseHandler):
    """A course's formgrader holds no hub token: what it needs of the exchange it asks here with its own token, and
    only its own course's release, collect and feedback calls go on, with this service's token."""

    SUPPORTED_METHODS = ("GET", "PUT", "DELETE")

    async def forward(self, course: str, rest: str):
        if not self.is_formgrader_of(course):
            raise web.HTTPError(403, f"only {course}'s formgrader calls here")
        query = formgrader_exchange_call(course, self.request.method, rest, self.request.query_arguments)
        if query is None:
            raise web.HTTPError(
                403,
                f"a formgrader may not {self.request.method} {rest} (not {course}'s, or not "
                "release, collect or feedback)",
            )
        url = self.grading.exchange_url.rstrip("/") + "/" + quote(rest, safe="/") + (f"?{query}" if query else "")
        body = self.request.body if self.request.method == "PUT" else None
        try:
            async with http.async_client(600) as client:
                resp = await client.request(
                    self.request.method,
                    url,
                    content=body,
                    headers={
                        "Authorization": f"token {self.settings['service_token']}",
                        "Content-Type": "application/json",
                    },
                )
        except http.Error as e:
            raise web.HTTPError(502, f"the exchange did not answer: {e}") from None
        self.set_status(resp.status_code, resp.reason_phrase)
        self.set_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
        self.finish(resp.content or b"")

    get = put = delete = forward


# What a course's formgrader may ask of the exchange (studio_ext.exchange's release, list, collect and feedback
# calls), by method and path; {c} is its own course, {i} any id. Listings are narrowed to its course below.
FORMGRADER_EXCHANGE_CALLS = [
    ("GET", "api/assignments"),
    ("PUT", "api/assignments/{c}/{i}"),
    ("DELETE", "api/assignments/{c}/{i}"),
    ("GET", "api/collect/{c}/{i}"),
    ("GET", "api/submissions"),
    ("GET", "api/submissions/{c}/{i}/{i}/{i}"),
    ("PUT", "api/feedback/{c}/{i}/{i}/{i}"),
]
LISTING_ARGUMENTS = ("assignment", "student", "before_duedate")


def formgrader_exchange_call(course: str, method: str, path: str, arguments: dict[str, list[bytes]]) -> str | None:
    """The query to send on if ``course``'s formgrader may make this call, else None."""
    for allowed_method, pattern in FORMGRADER_EXCHANGE_CALLS:
        regex = re.escape(pattern).replace(r"\{c\}", re.escape(course)).replace(r"\{i\}", r"[^/]+")
        if method == allowed_method and re.fullmatch(regex, path) and ".." not in path.split("/"):
            break
    else:
        return None
    if "{c}" in pattern:
        return urlencode({k: v[-1] for k, v in arguments.items() if k == "before_duedate"})
    # A listing: its own course's, never "mine" (the service's own) or another's.
    if [v.decode() for v in arguments.get("course", [])] not in ([], [course]) or "mine" in arguments:
        return None
    kept = {k: v[-1].decode() for k, v in arguments.items() if k in LISTING_ARGUMENTS}
    return urlencode({"course": course, **kept})


class FormgraderProxy(BaseHandler):
    """A course's formgrader, for its graders and instructors only; only formgrader's own paths go through."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD")

    @web.authenticated
    async def proxy(self, course: str, rest: str):
        self.require(Action.COLLECT, course)
        parts = rest.split("/")
        if parts[0] != "formgrader" or any(p in (".", "..") for p in parts):
            raise web.HTTPError(404, "only formgrader's pages are here")
        if "path" in self.request.query_arguments:
            # nbgrader's start page would re-initialise formgrader from that folder (its formgrader refuses too).
            raise web.HTTPError(400, f"formgrader serves {course}'s course folder only")
        space = self.grading.space(course)
        try:
            fg = await self.formgraders.get(course, space.folder, space.owner)
        except RuntimeError as e:  # FormgraderUnavailable, or it did not start
            raise web.HTTPError(503, str(e)) from None
        url = fg.url + quote(rest, safe="/") + (f"?{self.request.query}" if self.request.query else "")
        # Formgrader's pages are never answered "not modified": each carries a nonce of its own response, and a
        # page reloaded from the browser's cache under a new response's policy would run none of its scripts.
        page = parts[1:2] != ["static"]
        headers = {
            k: v
            for k, v in self.request.headers.get_all()
            if k.lower() not in HOP_HEADERS and not (page and k.lower() in CONDITIONAL_HEADERS)
        }
        headers["Authorization"] = f"token {fg.token}"
        body = self.request.body if self.request.method in ("POST", "PUT") else None
        try:
            async with http.async_client(600) as client:  # redirects are formgrader's, for the browser
                resp = await client.request(self.request.method, url, headers=headers, content=body)
        except http.Error as e:
            raise web.HTTPError(502, f"formgrader of {course} did not answer: {e}") from None
        self.set_status(resp.status_code, resp.reason_phrase)
        seen = set()
        for k, v in resp.headers.multi_items():  # the body comes decoded: content-encoding is a hop header here
            if k.lower() in HOP_HEADERS or k.lower() == "content-security-policy":
                continue
            # Replacing this handler's own defaults (its Content-Type is text/html), repeating what repeats.
            (self.add_header if k.lower() in seen else self.set_header)(k, v)
            seen.add(k.lower())
        body = resp.content or b""
        if resp.headers.get("Content-Type", "").startswith("text/html"):
            nonce = secrets.token_urlsafe(18)
            body = nonce_scripts(body, nonce)
            self.set_header("Content-Security-Policy", formgrader_csp(nonce))
            self.clear_header("Etag")
            self.set_header("Cache-Control", "no-store")
            self.xsrf_token  # noqa: B018 -- sets the _xsrf cookie formgrader's scripts send back
        else:
            self.set_header("Content-Security-Policy", FORMGRADER_CSP_OTHER)
        self.finish(body or None)  # a 304 (formgrader's ETag) has no body, not even an empty one

    get = post = put = delete = head = proxy

    def compute_etag(self):
        return None  # formgrader's own, passed on (never one of a page with a nonce)

    def check_xsrf_cookie(self):
        """Formgrader's static files (nbgrader's own, the same for every course) are read without the xsrf token
        JupyterHub asks of cookie-authenticated requests that are not navigations: its stylesheet's fonts are
        fetched in CORS mode, which carries none (they showed as empty boxes). Everything else is checked."""
        rest = self.path_args[1] if len(self.path_args) > 1 else ""
        if self.request.method in ("GET", "HEAD") and rest.startswith("formgrader/static/") and ".." not in rest:
            return
        super().check_xsrf_cookie()


CONDITIONAL_HEADERS = ("if-none-match", "if-modified-since")
# Formgrader's pages: only formgrader's own scripts run (each gets this response's nonce), and its three inline
# handlers; images only from here or data:, nothing fetched elsewhere; framed by this hub's pages only.
FORMGRADER_HANDLERS = ("toggle_name(true);", "toggle_name(false);", "toggleAllNames()")
_HANDLER_HASHES = " ".join(
    "'sha256-" + base64.b64encode(hashlib.sha256(h.encode()).digest()).decode() + "'" for h in FORMGRADER_HANDLERS
)
FORMGRADER_CSP_OTHER = "default-src 'none'; frame-ancestors 'self'"


def formgrader_csp(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'nonce-{nonce}' 'unsafe-hashes' {_HANDLER_HASHES}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )


def nonce_scripts(html: bytes, nonce: str) -> bytes:
    """Formgrader's own ``<script>`` elements with the nonce: every one of a page, except in a submission view,
    where only those before the student's notebook (none of the notebook's can be formgrader's)."""
    from ..render import notebook_start  # formgrader's pages: where nbgrader (and nbconvert) are installed

    cut = notebook_start(html)
    head, rest = html[:cut], html[cut:]
    return re.sub(rb"<script\b", b'<script nonce="' + nonce.encode() + b'"', head, flags=re.I) + rest
