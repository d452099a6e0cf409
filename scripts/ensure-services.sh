#!/usr/bin/env bash
# Make sure what the tests need is here: PostgreSQL on 127.0.0.1:5432 and
# Debian's Chromium for the browser tests (installed with apt-get when we
# are root). Where either is missing the tests that need it skip with a
# reason; under CI=true they fail instead of skipping.
set -u
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Chromium for the browser tests (apt-get install chromium)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
    || echo "note: could not install chromium"
fi
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
