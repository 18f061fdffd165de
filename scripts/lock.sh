#!/usr/bin/env bash
# Re-resolve pyproject.toml's dependencies in a scratch venv and write constraints.txt, the
# tested set that scripts/install.sh installs. Run it to take newer releases on purpose, then
# run .ci/run and the benchmarks before committing the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PY" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --upgrade pip
"$scratch/venv/bin/python" -m pip install --quiet -e '.[dev,spark]'
{
  echo "# The tested set of every package citycredit installs (scripts/install.sh: pip -c)."
  echo "# Regenerate with scripts/lock.sh after changing pyproject.toml; commit both together."
  "$scratch/venv/bin/python" -m pip freeze --exclude-editable
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
