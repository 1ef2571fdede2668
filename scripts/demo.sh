#!/usr/bin/env bash
# Set up, then run every smoke suite against the embedded demo target (started for you).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/stripe-smoke run "$@"
