#!/usr/bin/env bash
# Set up, lint and type-check, then run the harness's own tests (in parallel on every core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/ruff check smoke tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest -n auto "$@"
