"""manage.py register_hub_client --client-id ID [--secret-file FILE] --redirect-uri URL

The secret is read from FILE, or else from $STUDIO_HUB_OAUTH_CLIENT_SECRET (docker-compose's .env), the same
variable the hub reads.
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studio_portal.sso.services import hub_client_register

SECRET_ENV = "STUDIO_HUB_OAUTH_CLIENT_SECRET"


class Command(BaseCommand):
    help = "Register (or update) JupyterHub as the portal's confidential OAuth client with exactly one callback URL."

    def add_arguments(self, parser):
        parser.add_argument("--client-id", default="learning-studio-hub")
        parser.add_argument("--secret-file", type=Path, help="file holding the client secret (default: from env)")
        parser.add_argument(
            "--redirect-uri", required=True, help="the hub's callback, e.g. http://host/hub/oauth_callback"
        )

    def handle(self, *args, client_id, secret_file, redirect_uri, **options):
        try:
            if secret_file:
                secret = Path(secret_file).read_text().strip()
            else:
                secret = os.environ.get(SECRET_ENV, "").strip()
                if not secret:
                    raise ValueError(f"give --secret-file or set {SECRET_ENV}")
            hub_client_register(client_id=client_id, client_secret=secret, redirect_uri=redirect_uri)
        except (OSError, ValueError) as e:
            raise CommandError(str(e)) from e
        self.stdout.write(f"registered OAuth client {client_id!r} → {redirect_uri}")
