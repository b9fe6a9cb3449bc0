"""The email outbox: notifications marked ``pending`` are mailed by one background thread per portal process,
never by the request that caused them. Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED, so several
gunicorn workers (or ``manage.py send_notifications``) never send one twice; a failed send is retried on the next
wake-up after a wait that doubles with each failure in a row (studio_wire.outbox.Backoff, every sender's), at most
MAX_ATTEMPTS times for one notification. A process that dies leaves its pending rows for the next one."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import close_old_connections, connection, transaction
from studio_wire.outbox import Backoff

from .models import Notification

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BATCH = 50
IDLE_SECONDS = 30.0  # how often a sleeping outbox looks again (retries, rows left by another process)

_wake = threading.Event()
_stop = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def wake() -> None:
    """Have this process's outbox thread send what is pending (starting the thread the first time)."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="studio-outbox", daemon=True)
            _thread.start()
    _wake.set()


def stop() -> None:
    """End this process's outbox thread at its next wake-up (a test run, before its database goes)."""
    _stop.set()
    _wake.set()


def _run() -> None:
    backoff = Backoff(first=5.0, most=IDLE_SECONDS * 10)  # studio_wire.outbox's, as every sender's
    retry_in = None  # after a failure: only the backoff's wait ends (a new notification does not)
    while True:
        if retry_in is None:
            _wake.wait(timeout=IDLE_SECONDS)
        else:
            _stop.wait(timeout=retry_in)
        _wake.clear()
        if _stop.is_set():
            return
        retry_in = None
        try:
            while True:
                tried, failed = send_pending()
                if failed:  # the mail server is unwell: wait longer each time before trying again
                    retry_in = backoff.failed()
                    break
                backoff.reset()
                if not tried:
                    break
        except Exception:
            log.exception("outbox: sending notifications failed")
            retry_in = backoff.failed()
        finally:
            connection.close()
            close_old_connections()


def _message(n: Notification) -> EmailMessage:
    link = f"\n\n{settings.PORTAL_URL}{n.url}" if n.url else ""
    body = f"Hello {n.user.get_short_name() or n.user.username},\n\n{n.text}{link}\n\n— Learning Studio"
    return EmailMessage(f"[Learning Studio] {n.text}"[:150], body, to=[n.user.email])


def send_pending(limit: int = BATCH) -> tuple[int, int]:
    """Mail up to ``limit`` pending notifications; returns (tried, failed)."""
    with transaction.atomic():
        pending = Notification.objects.filter(email=Notification.Email.PENDING).select_related("user").order_by("id")
        batch = list(pending.select_for_update(skip_locked=True, of=("self",))[:limit])
        if not batch:
            return 0, 0
        failed = 0
        with get_connection(fail_silently=False) as mailer:
            for n in batch:
                try:
                    mailer.send_messages([_message(n)])
                    n.email = Notification.Email.SENT
                except Exception as e:  # the server refused or is gone: count it, keep the rest going
                    failed += 1
                    n.email_attempts += 1
                    if n.email_attempts >= MAX_ATTEMPTS:
                        n.email = Notification.Email.FAILED
                    log.warning(
                        "outbox: mail to %s failed (%d/%d): %s", n.user.email, n.email_attempts, MAX_ATTEMPTS, e
                    )
        Notification.objects.bulk_update(batch, ["email", "email_attempts"])
    return len(batch), failed
