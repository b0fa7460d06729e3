#!/usr/bin/env bash
# Install Debian's Chromium for dfrec's browser tests (tests/serve), when it is missing.
# Root: apt-get directly; otherwise sudo when it works without a password prompt. Without
# either, say how to install it: the browser tests then skip locally, and fail under CI=true.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium || command -v chromium-browser)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing and this is not a Debian/Ubuntu system: install Chromium with your package manager" \
       "(the browser tests in tests/serve need it)" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
if [ "$(id -u)" = "0" ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "chromium is missing; install it as root: apt-get update && apt-get install -y chromium" \
       "(the browser tests in tests/serve need it; they skip without it, and fail under CI=true)" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Wait up to 10 minutes for a dpkg/apt lock another process holds (unattended upgrades on a
# fresh machine, a second set-up running beside this one) instead of failing at once.
LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${LOCK_WAIT[@]}" update -qq
$SUDO apt-get "${LOCK_WAIT[@]}" install -y -qq chromium >/dev/null
echo "chromium: $(command -v chromium)"
