"""The scheduler's due check and the job log's purge, on a year of job runs (PostgreSQL).

The job log (`job_runs`) gains a run per job per interval: ~14,000 runs a day with the platform's
jobs (deliveries, sharing fan-out and the merge-delay check every 30 s …). Every scheduler tick
(each lane, every `job_interval_seconds`) asks each job for its newest successful run. This
script fills a database of its own (random name, created and dropped) with --days of runs at the
registered jobs' own intervals (5 % failed), untimed, with SQL `generate_series`; then:

- `due_check_ms`: `kernel.jobs.due_jobs` over every registered job (one lane's tick reads all
  of its jobs; this is both lanes' work), p50 and p99 over --repeat calls;
- with --old-index the same on the index the table had before migration 0038 (the job name
  alone), for comparison;
- `purge_s`: the first `job_runs_purge` with the default 90-day retention (it deletes every
  run older than that but each job's newest success), then `due_check_ms` again.

No issue sets a target; the limit printed is one scheduler interval's share: the due check of
every job should take well under 1 % of `job_interval_seconds` (60 s) — 600 ms.

    .venv/bin/python benchmarks/jobs.py [--days 365] [--repeat 50] [--old-index]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk

LIMIT_MS = 600.0


def _fill(url: str, days: int, now: datetime) -> int:
    """Runs at each registered job's interval over `days` (every 20th failed), untimed."""
    from citycredit.db.migrate import upgrade
    from citycredit.kernel.jobs import registered_jobs

    engine = create_engine(url)
    upgrade(engine)
    start = now - timedelta(days=days)
    with engine.begin() as conn:
        for job in registered_jobs():
            step = max(int(job.interval.total_seconds()), 30)
            conn.execute(
                text(
                    "INSERT INTO job_runs (job, started_at, finished_at, status, detail) "
                    "SELECT :job, :start + n * make_interval(secs => :step), "
                    ":start + n * make_interval(secs => :step) + interval '1 second', "
                    "CASE WHEN n % 20 = 7 THEN 'failed' ELSE 'ok' END, '{}'::jsonb "
                    "FROM generate_series(0, :count - 1) AS n"
                ),
                {"job": job.name, "start": start, "step": step, "count": days * 86400 // step},
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) job_runs"))
        rows = int(conn.execute(text("SELECT count(*) FROM job_runs")).scalar_one())
    engine.dispose()
    return rows


def _old_index(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_job_runs_job_status_started"))
        conn.execute(text("CREATE INDEX ix_job_runs_job ON job_runs (job)"))
        conn.execute(text("ANALYZE job_runs"))
    engine.dispose()


def _due_check(c: object, repeat: int) -> tuple[float, float, int]:
    from citycredit.kernel.jobs import due_jobs

    times, due = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        due = len(due_jobs(c))  # type: ignore[arg-type]
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return statistics.median(times), p99, due


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--old-index", action="store_true", help="the index before migration 0038")
    args = ap.parse_args()
    from citycredit.kernel.jobs import purge_job_runs
    from citycredit.shared.clock import FixedClock

    now = datetime.now(UTC).replace(microsecond=0)
    with _bulk.workspace("jobs") as (url, data_dir):
        t = time.perf_counter()
        rows = _fill(url, args.days, now)
        _bulk.say(f"job_runs={rows} days={args.days} fill_s={time.perf_counter() - t:.1f}")
        if args.old_index:
            _old_index(url)
        c = _bulk.make_container(url, data_dir, clock=FixedClock(now))
        try:
            p50, p99, due = _due_check(c, args.repeat)
            _bulk.say(f"before purge: due_check_p50_ms={p50:.2f} p99_ms={p99:.2f} due={due}")
            t = time.perf_counter()
            purged = purge_job_runs(c)
            purge_s = time.perf_counter() - t
            p50b, p99b, _ = _due_check(c, args.repeat)
        finally:
            c.dispose()
    index = "old (job)" if args.old_index else "0038 (job, status, started_at)"
    _bulk.say(f"index={index} deleted={purged['deleted']} after purge: p50_ms={p50b:.2f}")
    print(
        f"job_runs={rows} due_check_ms={p99:.2f} ratio={LIMIT_MS / p99:.1f} "
        f"purge_s={purge_s:.1f} due_check_after_purge_ms={p99b:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
