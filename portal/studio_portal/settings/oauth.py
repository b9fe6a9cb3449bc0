"""The OAuth2 / OpenID Connect provider (django-oauth-toolkit) that JupyterHub logs in through."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .env import DATA_DIR, private_file


def _new_rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# The RS256 signing key for ID tokens: generated on first start, kept in the data folder, never committed.
OIDC_RSA_PRIVATE_KEY = private_file(DATA_DIR / "oidc_rsa_key.pem", _new_rsa_key)

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": OIDC_RSA_PRIVATE_KEY,
    "PKCE_REQUIRED": True,
    "OAUTH2_VALIDATOR_CLASS": "studio_portal.sso.validators.StudioOAuth2Validator",
    "SCOPES": {
        "openid": "Sign you in with your Learning Studio account",
        "profile": "Your name and username",
        "email": "Your email address",
        "courses": "Your courses and your role in each",
    },
    "DEFAULT_SCOPES": ["openid"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 14 * 24 * 3600,
    "ROTATE_REFRESH_TOKEN": True,
}
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
