"""Credit checks while a large submission is being stored (PostgreSQL, a database of its own).

A department's 250,000-row penalty file goes through the fast intake in another process (one
transaction, ~40 s); meanwhile this process runs a credit check through the service layer every
50 ms and times each. Until session 8 every event-writing transaction took one advisory lock,
so every check waited for the whole submission to commit; outbox writers no longer wait for
each other (kernel.outbox). No target in an issue: the figures are for docs/benchmarks.md.

Every `--read-every` checks it also times one step of an outbox consumer's gap-aware read
(`kernel.outbox.read_unread`, batch 5,000, its cursor kept as a consumer keeps it): while the
submission is in flight its uncommitted events lie in the index range such a read scans.

    .venv/bin/python benchmarks/checks_during_intake.py [--rows 250000]
Last line: checks, p50_ms, p99_ms, max_ms, over_1s, intake_s, reads, read_p50_ms, read_max_ms.
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
    ap.add_argument("--read-every", type=int, default=20, help="checks between outbox reads")
    args = ap.parse_args()
    from citycredit.accounts.service import department_principal
    from citycredit.checks.service import run_check
    from citycredit.kernel.outbox import read_unread
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
            with c.engine.connect() as conn:
                high_water = int(conn.scalar(text("SELECT COALESCE(MAX(id), 0) FROM outbox")))
            gaps: list[dict[str, object]] = []
            reads: list[float] = []
            t0 = time.perf_counter()
            latencies: list[float] = []
            while child.poll() is None:
                start = time.perf_counter()
                sid = subjects[len(latencies) % len(subjects)]
                run_check(c, actor, subject_id=sid, matter=matter)
                latencies.append((time.perf_counter() - start) * 1000)
                if len(latencies) % args.read_every == 0:
                    start = time.perf_counter()
                    with c.uow() as uow:
                        step = read_unread(uow.session, high_water, gaps, limit=5000)
                    reads.append((time.perf_counter() - start) * 1000)
                    high_water, gaps = step.high_water, step.gaps
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
        f"over_1s={sum(x > 1000 for x in ordered)} intake_s={seconds:.1f} "
        f"reads={len(reads)} read_p50_ms={sorted(reads)[len(reads) // 2]:.1f} "
        f"read_max_ms={max(reads):.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
