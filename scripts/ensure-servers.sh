#!/usr/bin/env bash
# The reliability tests run on PostgreSQL and Redis. When none answers on the configured address, the suite
# starts throwaway servers from Debian's binaries (tests/servers.py); install those binaries if missing.
set -euo pipefail
have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; }
have_redis() { command -v redis-server >/dev/null; }
if have_postgres && have_redis; then
  exit 0
fi
packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing ${packages[*]} for the reliability tests (apt-get; the services are not started)..."
  apt-get update -qq
  # policy-rc.d keeps the packages from starting system services: the tests start their own servers.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null || status=$?
  [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
  exit "${status:-0}"
else
  echo "Missing ${packages[*]}: install them (sudo apt-get install ${packages[*]}) for the reliability tests." >&2
  exit 1
fi
