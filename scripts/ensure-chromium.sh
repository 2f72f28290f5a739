#!/usr/bin/env bash
# The end-to-end tests drive Debian's Chromium (never a browser downloaded by Playwright). Install it if missing.
set -euo pipefail
CHROMIUM="${DEPOT_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium for the end-to-end tests (apt-get)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "Chromium is missing at $CHROMIUM: install it (sudo apt-get install chromium) or set DEPOT_CHROMIUM." >&2
  exit 1
fi
