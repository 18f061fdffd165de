#!/usr/bin/env bash
# Create .venv with Python 3.11 and install citycredit with its dev tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "citycredit needs Python 3.11 (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
# PDF credit reports: Chinese fonts, and harfbuzz's subsetter (without it WeasyPrint subsets the
# CJK fonts with fontTools: ~12 s per PDF instead of ~0.3 s). Pango comes with the base system.
# SoftHSM2: the PKCS#11 token the tests keep the ledger key in (G19; production uses an HSM).
missing=""
for pkg in fonts-noto-cjk libharfbuzz-subset0 libpangoft2-1.0-0 softhsm2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.citycredit-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # constraints.txt: the tested versions (scripts/lock.sh); a fresh clone installs what CI and
  # the benchmarks ran, not whatever was released since.
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
  echo "$want" > "$stamp"
fi
