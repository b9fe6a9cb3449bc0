"""What every hub-managed service of ours shares (the exchange, grading and hints services): a traitlets
application that starts, serves and stops one way (:mod:`.app`), and a handler base that knows the caller from their
JupyterHub token and answers errors as JSON (:mod:`.handlers`)."""

from .app import ServiceApp
from .handlers import ApiHandler, HealthHandler, JSONErrors, RequestError, decode_files, json_body, token_owner

__all__ = [
    "ApiHandler",
    "HealthHandler",
    "JSONErrors",
    "RequestError",
    "ServiceApp",
    "decode_files",
    "json_body",
    "token_owner",
]
