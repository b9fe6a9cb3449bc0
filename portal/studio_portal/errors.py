"""Error pages the portal answers with itself."""

from __future__ import annotations

from django.shortcuts import render


def rate_limited(request, exception=None):
    """django-ratelimit's RATELIMIT_VIEW: too many requests, said plainly, with a 429."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response
