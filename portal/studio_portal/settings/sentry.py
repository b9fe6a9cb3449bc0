"""Errors to Sentry (sentry-sdk), only when a DSN is set: ``STUDIO_SENTRY_DSN``.

No personal data leaves the portal by default (``send_default_pii=False``: no cookies, no user names, no client
addresses); performance tracing is off unless ``STUDIO_SENTRY_TRACES_SAMPLE_RATE`` says otherwise.
"""

from __future__ import annotations


def init_sentry(dsn: str, *, environment: str, traces_sample_rate: float = 0.0) -> bool:
    """Start sentry-sdk for Django; False (and nothing started) without a DSN."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
    )
    return True
