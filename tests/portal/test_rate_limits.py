"""Rate limits (django-ratelimit): logins per address and per username, and the service API per address."""

from __future__ import annotations

from django.core.cache import cache
from django.test import override_settings

from tests.portal.base import CatalogTestCase


@override_settings(STUDIO_LOGIN_RATE="3/h", STUDIO_API_RATE="2/h", GRADES_TOKEN="t")
class RateLimitTests(CatalogTestCase):
    def setUp(self):
        cache.clear()

    def login(self, username, password="wrong", ip="10.0.0.1"):
        return self.client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)

    def test_logins_are_limited_per_address(self):
        codes = [self.login(name).status_code for name in ("a", "b", "c", "d")]
        assert codes == [200, 200, 200, 429]
        assert self.login("student1", "pw-student1").status_code == 429  # even the right password, from there
        assert self.login("student1", "pw-student1", ip="10.0.0.2").status_code == 302  # elsewhere: fine

    def test_logins_are_limited_per_username_from_many_addresses(self):
        codes = [self.login("student1", ip=f"10.0.1.{n}").status_code for n in range(4)]
        assert codes == [200, 200, 200, 429]
        assert self.login("grader1", "pw-grader1", ip="10.0.1.9").status_code == 302

    def test_reading_the_login_page_is_not_limited(self):
        assert {self.client.get("/accounts/login/").status_code for _ in range(6)} == {200}

    def test_the_grades_api_is_limited_per_address(self):
        def put():
            return self.client.put(
                "/api/grades/", '{"grades": []}', content_type="application/json", HTTP_AUTHORIZATION="Bearer t"
            )

        assert [put().status_code for _ in range(3)] == [200, 200, 429]
