#!/usr/bin/env bash
# Set up, then run the harness's own tests (in parallel on every core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n auto "$@"
