"""Email: SMTP when ``STUDIO_SMTP_HOST`` is set; else each message is written to a file under DATA_DIR/mail, so the
embedded default works (and can be read) without a mail server. Mail leaves from the notifications outbox, never
from a request."""

from .env import DATA_DIR, EMAIL_FROM, SMTP_HOST, SMTP_PASSWORD, SMTP_PORT, SMTP_TLS, SMTP_USER

DEFAULT_FROM_EMAIL = SERVER_EMAIL = EMAIL_FROM
if SMTP_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS = SMTP_HOST, SMTP_PORT, SMTP_TLS
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = SMTP_USER, SMTP_PASSWORD
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
