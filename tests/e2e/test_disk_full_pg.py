"""G25 on a real full disk, in CI: the PostgreSQL drill of benchmarks/disk_full.py as a test.

A small tmpfs (root mounts it; otherwise ``sudo -n``; if neither works the test fails and says
why) becomes the tablespace of the drill's own database on the shared server. Department files
are submitted over the API until PostgreSQL cannot extend a table file (SQLSTATE 53100): that
answer and the same file again are 507 ``storage_full``; one CRITICAL alert; ``/healthz`` says
the disk is full; the records are exactly those stored before (nothing partial). The tmpfs is
grown: the same file is stored in full, once; by then exactly one ``system_alarms`` row holds the
incident — both failures, the operation, resolved — and ``/healthz`` is clear. The database,
the tablespace and the mount are removed whatever happens (`disk_full.drill`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import disk_full

WITH_PG = "postgresql" in os.environ.get("CITYCREDIT_TEST_DATABASES", "sqlite,postgresql")
PG_SERVER = os.environ.get("CITYCREDIT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
pytestmark = [
    pytest.mark.db,
    pytest.mark.slow,
    pytest.mark.skipif(not WITH_PG, reason="PostgreSQL is not among the test databases"),
]


def _mounts() -> str:
    return Path("/proc/mounts").read_text(encoding="utf-8")


def test_a_real_full_disk_under_postgresql_answers_507_stores_one_alarm_and_recovers() -> None:
    before = _mounts()
    started = time.monotonic()
    try:
        r = disk_full.drill(size_mb=24, rows=1000, max_files=40, server=PG_SERVER, log=print)
    except disk_full.DrillSetupError as exc:
        pytest.fail(f"the disk-full drill needs to mount a tmpfs (root or sudo -n): {exc}")
    seconds = time.monotonic() - started
    print(" ".join(f"{k}={v}" for k, v in r.items()), f"test_seconds={seconds:.1f}")
    assert r["files_stored"] >= 1, r  # the database worked before the disk filled up
    # full: 507 storage_full, twice; one CRITICAL alert; the health flag
    assert r["status_full"] == 507 and r["error"] == "storage_full", r
    assert r["status_again"] == 507 and r["alerts"] == 1 and r["healthz_storage_full"], r
    # nothing partial: exactly the records of the files stored before
    assert r["records_after_full"] == r["records_before"], r
    assert r["alarm_rows_while_full"] in (0, 1), r  # stored at once if the database took it
    # space freed: the same file in full, once; the alarm stored, one row, resolved
    assert r["status_after_freeing"] == 200 and r["new_after_freeing"] == 1000, r
    assert r["records_after"] == r["records_before"] + 1000, r
    assert r["alarm_rows"] == 1 and r["alarm_kind"] == "storage_full", r
    assert r["alarm_failures"] == 2 and r["alarm_where"] == "POST /api/v1/submissions", r
    assert r["alarm_resolved"] and not r["healthz_after_freeing"], r
    assert r["ok"], r
    # cleaned up: no tmpfs of the drill left mounted, its database dropped
    assert _mounts().count("cc-diskfull-") == before.count("cc-diskfull-")
    left = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SELECT datname FROM pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "cc_bench_diskfull_" not in left
    assert seconds < 60, f"the drill took {seconds:.1f} s"
