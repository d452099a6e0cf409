#!/usr/bin/env bash
# Make sure the services the tests need are up: PostgreSQL on 127.0.0.1:5432.
# On a machine without PostgreSQL installed this prints a note and the
# PostgreSQL tests skip; under CI=true those tests fail instead of skipping.
set -u
if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      for version in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      done
      for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
  fi
  pg_isready -h 127.0.0.1 -p 5432 || echo "note: PostgreSQL is not reachable on 127.0.0.1:5432"
else
  echo "note: PostgreSQL client tools not found; PostgreSQL tests will skip (fail under CI=true)"
fi
exit 0
