#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: a virtualenv with stripe-smoke installed,
# and a Chromium for the Checkout driver. Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'

# A browser for Playwright: Debian's Chromium where apt is available (Playwright's own
# download needs internet access to its CDN); otherwise `playwright install chromium`.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    .venv/bin/python -m playwright install chromium || echo "No Chromium: install it (apt-get install chromium) or run 'python -m playwright install chromium'." >&2
  fi
fi
