#!/usr/bin/env bash
# Known-vulnerability check of the tested dependency set (security goal G38), for a machine that
# can reach the PyPI / OSV vulnerability databases — CI and the platform's own hosts cannot, so
# this is a release step, not a CI step. Exits non-zero on any finding not listed in
# scripts/audit-deps.ignore (one "VULN-ID  reason" per line; every exception needs its reason).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet pip-audit
ignore=()
if [ -f scripts/audit-deps.ignore ]; then
  while read -r id _; do
    [[ -z "$id" || "$id" == \#* ]] || ignore+=(--ignore-vuln "$id")
  done < scripts/audit-deps.ignore
fi
"$scratch/venv/bin/pip-audit" -r constraints.txt --no-deps --disable-pip --strict "${ignore[@]}"
