"""Logging in to the hub through the portal (OpenID Connect), and staying logged in when the portal is down."""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from tornado.httpclient import HTTPClientError


class PortalOAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator against the portal, whose roles become hub groups on login and on every refresh.

    Refreshing asks the portal for the user's current roles. If the portal cannot be reached (or answers with a
    server error), the user keeps the groups they have and a warning is logged: learners keep working while the
    portal is down, and their roles catch up on the next refresh after it is back. A portal that answers "no"
    (expired or revoked token) still ends the hub session, as in GenericOAuthenticator.
    """

    def normalize_username(self, username: str) -> str:
        """The portal's username exactly. JupyterHub lowercases names by default, but the portal's usernames are
        case-sensitive: "Ada" and "ada" are two people there and would be one hub user (one server, one home, one
        set of grades) here. Hub and portal compare names the same way: exactly."""
        return self.username_map.get(username, username)

    async def refresh_user(self, user, handler=None, **kwargs):
        try:
            return await super().refresh_user(user, handler, **kwargs)
        except HTTPClientError as e:
            if e.code < 500 and e.code != 599:  # 599: tornado's "no response" (refused, timed out)
                raise
            error = e
        except OSError as e:  # connection refused, DNS, reset
            error = e
        self.log.warning("Portal unreachable while refreshing %s (%s); keeping their current groups", user.name, error)
        return True
