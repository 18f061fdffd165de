#!/usr/bin/env bash
# Install, then start the platform on http://127.0.0.1:8000 over an embedded SQLite database.
# The first start creates a synthetic Yulin city (tokens are written to var/dev-tokens.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/citycredit serve "$@"
