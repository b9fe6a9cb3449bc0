"""/healthz: what docker-compose's health check and load balancers ask."""

from __future__ import annotations

from unittest import mock

from django.db.utils import OperationalError
from django.test import TestCase


class HealthTests(TestCase):
    def test_ok_when_database_and_cache_answer(self):
        resp = self.client.get("/healthz")
        assert resp.status_code == 200
        assert resp.json() == {"status": "ok", "database": "ok", "cache": "ok"}
        assert "no-cache" in resp["Cache-Control"]

    def test_unavailable_database_is_a_503_without_details(self):
        with mock.patch("studio_portal.health.connection.cursor", side_effect=OperationalError("db password xyz")):
            resp = self.client.get("/healthz")
        assert resp.status_code == 503
        assert resp.json() == {"status": "unavailable", "database": "unavailable", "cache": "ok"}
        assert b"xyz" not in resp.content

    def test_unavailable_cache_is_a_503(self):
        with mock.patch("studio_portal.health.cache.set", side_effect=ConnectionError("redis down")):
            resp = self.client.get("/healthz")
        assert resp.status_code == 503 and resp.json()["cache"] == "unavailable"

    def test_only_get(self):
        assert self.client.post("/healthz").status_code == 405
