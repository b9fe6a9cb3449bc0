"""Who calls a hub-managed service: the caller's JupyterHub token, asked of the hub (cached), with its groups."""

from __future__ import annotations

from jupyterhub.services.auth import HubAuth
from tornado import web


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
