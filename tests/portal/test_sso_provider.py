"""The portal as an OpenID Connect provider, driven the way the hub's GenericOAuthenticator drives it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

from django.core.management import call_command
from jwcrypto import jwk, jwt

from studio_portal.sso.services import hub_client_register
from tests.portal.base import HUB_CALLBACK, HUB_CLIENT_ID, HUB_SECRET, CatalogTestCase

SCOPE = "openid profile email courses"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class ProviderTests(CatalogTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        hub_client_register(client_id=HUB_CLIENT_ID, client_secret=HUB_SECRET, redirect_uri=HUB_CALLBACK)

    def authorize(self, *, redirect_uri=HUB_CALLBACK, challenge: str | None = None, state="st4te", **extra):
        params = {
            "response_type": "code",
            "client_id": HUB_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            **extra,
        }
        if challenge:
            params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        return self.client.get("/o/authorize/?" + urlencode(params))

    def code_for(self, user) -> tuple[str, str]:
        self.client.force_login(user)
        verifier, challenge = pkce_pair()
        resp = self.authorize(challenge=challenge)
        assert resp.status_code == 302, resp.content
        location = urlparse(resp["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == HUB_CALLBACK
        query = parse_qs(location.query)
        assert query["state"] == ["st4te"]
        return query["code"][0], verifier

    def token(self, code: str, verifier: str, secret: str = HUB_SECRET):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": HUB_CALLBACK,
            "client_id": HUB_CLIENT_ID,
            "client_secret": secret,
            "code_verifier": verifier,
        }
        return self.client.post("/o/token/", data)

    def test_code_flow_with_pkce_gives_signed_id_token_and_roles(self):
        code, verifier = self.code_for(self.student)
        resp = self.token(code, verifier)
        assert resp.status_code == 200, resp.content
        tokens = resp.json()
        # The ID token is RS256-signed with the key published at the JWKS endpoint.
        jwks = jwk.JWKSet.from_json(self.client.get("/o/.well-known/jwks.json").content)
        id_token = jwt.JWT(jwt=tokens["id_token"], key=jwks, algs=["RS256"])
        claims = json.loads(id_token.claims)
        assert claims["aud"] == HUB_CLIENT_ID and claims["preferred_username"] == "student1"
        assert json.loads(id_token.header)["alg"] == "RS256"
        info = self.client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
        assert info["preferred_username"] == "student1" and info["email"] == "s1@example.org"
        assert info["name"] == "Sam"
        assert info["courses"] == {"intro-python": "student"}
        assert info["groups"] == ["students-intro-python"]

    def test_roles_map_to_hub_groups_and_staff_to_portal_staff(self):
        for user, groups in [
            (self.grader, ["graders-intro-python"]),
            (self.instructor, ["students-data-science", "instructors-intro-python", "portal-staff"]),
            (self.outsider, []),
        ]:
            code, verifier = self.code_for(user)
            access = self.token(code, verifier).json()["access_token"]
            info = self.client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access}").json()
            with self.subTest(user=user.username):
                assert sorted(info["groups"]) == sorted(groups)
                assert info["is_staff"] is user.is_staff

    def test_discovery_names_our_endpoints(self):
        conf = self.client.get("/o/.well-known/openid-configuration").json()
        assert conf["authorization_endpoint"].endswith("/o/authorize/")
        assert "RS256" in conf["id_token_signing_alg_values_supported"]
        assert "S256" in conf.get("code_challenge_methods_supported", ["S256"])

    def test_anonymous_authorize_goes_to_portal_login(self):
        _, challenge = pkce_pair()
        resp = self.authorize(challenge=challenge)
        assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/?next=")

    def test_unregistered_redirect_uri_is_refused_without_redirecting(self):
        self.client.force_login(self.student)
        _, challenge = pkce_pair()
        for uri in ["http://evil.example/cb", HUB_CALLBACK + "/../x", HUB_CALLBACK + "?x=1", "http://127.0.0.1:8000/"]:
            with self.subTest(uri=uri):
                resp = self.authorize(redirect_uri=uri, challenge=challenge)
                assert resp.status_code == 400
                assert "Location" not in resp

    def test_pkce_is_required(self):
        self.client.force_login(self.student)
        resp = self.authorize()  # no code_challenge
        assert resp.status_code == 302
        query = parse_qs(urlparse(resp["Location"]).query)
        assert "code" not in query and query["error"] == ["invalid_request"]

    def test_wrong_verifier_is_refused(self):
        code, _ = self.code_for(self.student)
        resp = self.token(code, pkce_pair()[0])
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"

    def test_code_used_twice_is_refused(self):
        code, verifier = self.code_for(self.student)
        assert self.token(code, verifier).status_code == 200
        again = self.token(code, verifier)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    def test_wrong_client_secret_is_refused(self):
        code, verifier = self.code_for(self.student)
        assert self.token(code, verifier, secret="guess").status_code == 401

    def test_register_command_keeps_exactly_one_callback(self):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".secret") as f:
            f.write("rotated-secret\n")
            f.flush()
            call_command(
                "register_hub_client",
                secret_file=f.name,
                redirect_uri="https://hub.example.org/hub/oauth_callback",
                stdout=open("/dev/null", "w"),  # noqa: SIM115
            )
        from oauth2_provider.models import Application

        app = Application.objects.get(client_id=HUB_CLIENT_ID)
        assert app.redirect_uris == "https://hub.example.org/hub/oauth_callback"
        assert app.client_type == Application.CLIENT_CONFIDENTIAL and app.skip_authorization
        assert app.algorithm == Application.RS256_ALGORITHM
        assert app.client_secret != "rotated-secret"  # stored hashed
        assert Application.objects.count() == 1

    def test_register_command_reads_the_secret_from_the_environment_the_hub_shares(self):
        from unittest import mock

        from django.core.management.base import CommandError

        callback = HUB_CALLBACK
        with mock.patch.dict("os.environ", {"STUDIO_HUB_OAUTH_CLIENT_SECRET": "shared-in-env"}):
            call_command("register_hub_client", redirect_uri=callback, stdout=io.StringIO())
        assert self.token(*self.code_for(self.student), secret="shared-in-env").status_code == 200
        assert self.token(*self.code_for(self.student)).status_code == 401  # the old secret no longer works
        with (
            mock.patch.dict("os.environ", {"STUDIO_HUB_OAUTH_CLIENT_SECRET": ""}),
            self.assertRaisesMessage(CommandError, "set STUDIO_HUB_OAUTH_CLIENT_SECRET"),
        ):
            call_command("register_hub_client", redirect_uri=callback, stdout=io.StringIO())
