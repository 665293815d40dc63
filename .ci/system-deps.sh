#!/usr/bin/env bash
# Install what the test suite needs from Debian when it is missing, and start PostgreSQL.
# Safe to run again: it only installs what is absent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s chromium-driver >/dev/null 2>&1 || need+=(chromium-driver)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing from Debian: ${need[*]}"
    apt-get update -q
    apt-get install -y -q "${need[@]}"
  else
    echo "Missing Debian packages (${need[*]}) and not root: those tests will be skipped with a reason." >&2
  fi
fi

# Make sure the PostgreSQL cluster is running (the machine starts it; a fresh container may not).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$version" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi
pg_isready -h 127.0.0.1 -p 5432 || echo "PostgreSQL is not reachable at 127.0.0.1:5432." >&2
