"""Registering OAuth clients."""

from __future__ import annotations

from django.db import transaction
from oauth2_provider.models import get_application_model


@transaction.atomic
def hub_client_register(*, client_id: str, client_secret: str, redirect_uri: str, name: str = "JupyterHub"):
    """Create or update the hub's confidential client: authorization code, exactly one callback URL, RS256.

    First-party, so users are not asked to consent (``skip_authorization``).
    """
    if not client_secret or not redirect_uri.startswith(("http://", "https://")) or " " in redirect_uri:
        raise ValueError("a client secret and one absolute http(s) callback URL are required")
    Application = get_application_model()
    app, _ = Application.objects.update_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": redirect_uri,
            "post_logout_redirect_uris": "",
            "skip_authorization": True,
            "algorithm": Application.RS256_ALGORITHM,
            "client_secret": client_secret,
        },
    )
    return app
