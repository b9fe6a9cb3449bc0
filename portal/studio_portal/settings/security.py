"""Rate limits (django-ratelimit, counted in the cache: Redis in production) and the Content-Security-Policy
(django-csp). The portal's own pages load nothing inline and nothing from elsewhere."""

from csp.constants import NONE, SELF

from .env import API_RATE, HUB_URL, LOGIN_RATE, POST_RATE

STUDIO_LOGIN_RATE, STUDIO_POST_RATE, STUDIO_API_RATE = LOGIN_RATE, POST_RATE, API_RATE
RATELIMIT_VIEW = "studio_portal.errors.rate_limited"  # a 429 page, not django-ratelimit's 403

CONTENT_SECURITY_POLICY = {
    # Wagtail's and Django's admin pages use inline scripts; staff only, behind their own login.
    "EXCLUDE_URL_PREFIXES": ["/cms/", "/django-admin/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        # Logging in through SSO ends in a redirect to the hub: browsers check form targets' redirects too.
        "form-action": [SELF, HUB_URL],
    },
}
