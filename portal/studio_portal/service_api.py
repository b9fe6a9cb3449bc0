"""The portal's service APIs (grades from the grading service, learning events from the hints service): a bearer
token per purpose, each accepted for its purpose only and checked in constant time, and JSON bodies of bounded
size. The hints service, which parses learners' input and may call an outside model, holds the events token only:
it cannot write grades."""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

from django.conf import settings
from django.http import JsonResponse

MAX_BODY = 5 * 2**20


# Purpose → the setting holding its token, and the file the hub keeps it in when the setting is empty.
PURPOSES = {
    "grades": ("GRADES_TOKEN", "STUDIO_GRADES_TOKEN_FILE"),
    "events": ("EVENTS_TOKEN", "STUDIO_EVENTS_TOKEN_FILE"),
}


def service_token(purpose: str) -> str:
    """The token for ``purpose``: its setting ($STUDIO_GRADES_TOKEN, $STUDIO_EVENTS_TOKEN), or the file the hub keeps
    it in ($STUDIO_GRADES_TOKEN_FILE, $STUDIO_EVENTS_TOKEN_FILE)."""
    setting, file_variable = PURPOSES[purpose]
    if getattr(settings, setting, ""):
        return getattr(settings, setting)
    path = os.environ.get(file_variable, "")
    try:
        return Path(path).read_text().strip() if path else ""
    except OSError:
        return ""


def refused(request, what: str) -> JsonResponse | None:
    """Why this service call is refused (a response), or None when its token (``what``'s own: grades or events) is
    right and its body fits."""
    expected = service_token(what)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected:
        return JsonResponse({"message": f"the portal takes no {what}: no service token is set"}, status=503)
    if scheme.lower() != "bearer" or not token:
        return JsonResponse({"message": "send the service's token: Authorization: Bearer <token>"}, status=401)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return JsonResponse({"message": f"this token may not send {what}"}, status=403)
    if len(request.body) > MAX_BODY:
        return JsonResponse({"message": f"at most {MAX_BODY // 2**20} MiB of {what} at once"}, status=413)
    return None


def json_list(request, key: str) -> list:
    """``body[key]``, a list; ValueError with a message for anything else."""
    try:
        data = json.loads(request.body)
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f'send {{"{key}": [...]}}')
    return data[key]
