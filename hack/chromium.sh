#!/usr/bin/env bash
# Prints the path of a Chromium for the console's browser test (tests/console.rs),
# installing Debian's `chromium` and `chromium-driver` packages with apt-get when
# /usr/bin/chromium or /usr/bin/chromedriver is missing. Idempotent: with both
# present it installs nothing. Needs root (CI runs as root) for the install.
#
# Only the machine's configured Debian package sources are used: no browser
# build is downloaded from anywhere else.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

log() { echo "chromium: $*" >&2; }

if [ ! -x "$CHROMIUM" ] || [ ! -x "$DRIVER" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "$CHROMIUM or $DRIVER is missing and this is not root: run as root, or install the Debian packages chromium and chromium-driver"
    exit 1
  fi
  log "installing chromium and chromium-driver with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
fi

for binary in "$CHROMIUM" "$DRIVER"; do
  if [ ! -x "$binary" ]; then
    log "$binary is still missing after the install"
    exit 1
  fi
done
echo "$CHROMIUM"
