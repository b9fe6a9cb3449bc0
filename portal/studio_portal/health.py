"""``/healthz``: is this portal able to serve? Used by docker-compose's health check and by load balancers."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as e:  # any failure means "not healthy"; the reason goes to the log, not to the caller
        log.warning("health: database: %s", e)
        checks["database"] = "unavailable"
    try:
        cache.set("studio:healthz", 1, 5)
        checks["cache"] = "ok" if cache.get("studio:healthz") == 1 else "unavailable"
    except Exception as e:
        log.warning("health: cache: %s", e)
        checks["cache"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
