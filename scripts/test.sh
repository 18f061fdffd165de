#!/usr/bin/env bash
# Install, then run the whole test suite; database tests run on SQLite and on PostgreSQL
# (postgresql://postgres@127.0.0.1:5432 unless CITYCREDIT_TEST_PG says otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's Chromium (never a downloaded browser); fonts render Chinese.
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  fi
fi
if [[ "${CITYCREDIT_TEST_DATABASES:-sqlite,postgresql}" == *postgresql* ]]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    # The machine normally starts PostgreSQL; start the image's cluster if it is down.
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
# Two invocations, both always run, either failing fails the script: the main suite in
# parallel without the Spark tests, then the Spark suite on its own (one shared local[2]
# session, no xdist: each worker would start its own JVM).
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
main=0
.venv/bin/python -m pytest -n 2 -q -m "not spark" "$@" || main=$?
spark=0
.venv/bin/python -m pytest -q -m spark -p no:xdist "$@" || spark=$?
if [ "$spark" = 5 ] && [ "$#" -gt 0 ]; then
  spark=0  # the paths given hold no Spark test (pytest: "no tests collected")
fi
if [ "$main" != 0 ] || [ "$spark" != 0 ]; then
  echo "tests failed: main suite exit $main, Spark suite exit $spark" >&2
  exit 1
fi
