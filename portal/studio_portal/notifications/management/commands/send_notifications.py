"""manage.py send_notifications: mail every pending notification now (for cron, or after an outage)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from studio_portal.notifications.outbox import send_pending


class Command(BaseCommand):
    help = "Send the emails of pending notifications (the portal's workers do this on their own, off the request path)."

    def handle(self, *args, **options):
        sent = failed = 0
        while True:
            tried, bad = send_pending()
            sent, failed = sent + tried - bad, failed + bad
            if not tried or bad:
                break
        self.stdout.write(f"{sent} sent, {failed} failed")
