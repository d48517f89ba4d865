#!/usr/bin/env bash
# Installs Debian's Chromium for the PWA's end-to-end tests, if it is missing.
# The browser comes from the distribution's packages; test tools never download one.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
else
  echo "install-browser: Chromium is missing and cannot be installed here;" \
       "the browser tests will be skipped (they fail under CI=true)." >&2
fi
