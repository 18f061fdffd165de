"""Credit checks while a large submission is being stored (PostgreSQL, a database of its own).

A department's 250,000-row penalty file goes through the fast intake in another process (one
transaction, ~40 s); meanwhile this process runs a credit check through the service layer every
50 ms and times each. Until session 8 every event-writing transaction took one advisory lock,
so every check waited for the whole submission to commit; outbox writers no longer wait for
each other (kernel.outbox). No target in an issue: the figures are for docs/benchmarks.md.

    .venv/bin/python benchmarks/checks_during_intake.py [--rows 250000]
Last line: checks, p50_ms, p99_ms, max_ms, over_1s, intake_s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk
import _server
import intake


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between checks")
    args = ap.parse_args()
    from citycredit.accounts.service import department_principal
    from citycredit.checks.service import run_check
    from citycredit.lists import default_lists

    with _bulk.workspace("during", keep=False, reuse=None) as (url, data_dir):
        c = intake.container(url, data_dir)
        try:
            intake.setup(c, args.rows)
            path = data_dir / "penalties.csv"
            intake.write_file(path, args.rows)
            actor = department_principal(c, intake.DEPT)
            with c.engine.connect() as conn:
                subjects = list(conn.scalars(text("SELECT subject_id FROM subjects LIMIT 100")))
            matter = next(iter(default_lists().matters.values())).code
            for sid in subjects[:5]:  # warm: catalog, lists, prepared statements
                run_check(c, actor, subject_id=sid, matter=matter)
            code = f"import intake; intake.child({url!r}, {str(data_dir)!r}, {str(path)!r})"
            child = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=Path(__file__).resolve().parent,
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            t0 = time.perf_counter()
            latencies: list[float] = []
            while child.poll() is None:
                start = time.perf_counter()
                sid = subjects[len(latencies) % len(subjects)]
                run_check(c, actor, subject_id=sid, matter=matter)
                latencies.append((time.perf_counter() - start) * 1000)
                time.sleep(args.interval)
            seconds = time.perf_counter() - t0
            out = child.stdout.read().decode() if child.stdout else ""
            if child.returncode != 0:
                raise SystemExit(f"the intake failed:\n{out[-2000:]}")
            print(f"intake {out.strip().splitlines()[-1][:300]}", flush=True)
        finally:
            c.dispose()
    ordered = sorted(latencies)
    print(
        f"checks={len(ordered)} p50_ms={ordered[len(ordered) // 2]:.1f} "
        f"p99_ms={_server.nearest_rank(ordered, 99):.1f} max_ms={ordered[-1]:.1f} "
        f"over_1s={sum(x > 1000 for x in ordered)} intake_s={seconds:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
