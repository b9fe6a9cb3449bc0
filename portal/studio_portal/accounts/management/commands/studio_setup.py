"""manage.py studio_setup — everything a first (or any later) start of the portal needs, in one process."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Migrate the database, import the course content, register the hub's OAuth client and (optionally) "
        "seed the demo accounts. Safe to run again: every step is idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--content", type=Path, required=True, help="course content folder")
        parser.add_argument("--hub-secret-file", type=Path, help="default: $STUDIO_HUB_OAUTH_CLIENT_SECRET")
        parser.add_argument("--hub-callback", required=True)
        parser.add_argument("--hub-client-id", default="learning-studio-hub")
        parser.add_argument("--demo-passwords", type=Path, help="seed the demo accounts, passwords in this file")
        parser.add_argument("--collectstatic", action="store_true")

    def handle(self, *args, **o):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("import_courses", o["content"])
        call_command(
            "register_hub_client",
            client_id=o["hub_client_id"],
            secret_file=o["hub_secret_file"],
            redirect_uri=o["hub_callback"],
        )
        if o["demo_passwords"]:
            call_command("seed_demo", passwords_file=o["demo_passwords"])
        if o["collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
