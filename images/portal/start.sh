#!/bin/sh
# Every start: migrate, import the courses, register the hub's OAuth client, collect static files (all
# idempotent), then serve.
set -eu
: "${STUDIO_HUB_URL:?set STUDIO_HUB_URL (the hub's public address)}"
python3 -m django studio_setup --content /srv/content --hub-callback "${STUDIO_HUB_URL%/}/hub/oauth_callback" \
  --collectstatic
exec gunicorn --bind 0.0.0.0:8000 --workers "${STUDIO_PORTAL_WORKERS:-2}" --access-logfile - \
  studio_portal.wsgi:application
