#!/bin/sh
# First start: initdb (password auth), then the roles and databases `hub` and `portal`, passwords from the
# environment (passed to psql as variables, never spliced into SQL). Later starts: just serve.
set -eu
: "${POSTGRES_PASSWORD:?}" "${STUDIO_HUB_DB_PASSWORD:?}" "${STUDIO_PORTAL_DB_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  for db in hub portal; do
    if [ "$db" = hub ]; then pw=$STUDIO_HUB_DB_PASSWORD; else pw=$STUDIO_PORTAL_DB_PASSWORD; fi
    psql -v ON_ERROR_STOP=1 -q -U postgres -v name="$db" -v pw="$pw" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pw';
CREATE DATABASE :"name" OWNER :"name";
SQL
  done
  # The hub's grading service gives each course's gradebook a role of its own (its schema and nothing else), so a
  # course's formgrader holds no credential to the hub's tables or another course's grades.
  psql -v ON_ERROR_STOP=1 -q -U postgres -c 'ALTER ROLE hub CREATEROLE'

  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "initialised $PGDATA with databases hub and portal"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
