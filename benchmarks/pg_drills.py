"""PostgreSQL drills on a private cluster with a larger database (security goals G26, G27).

The shared server on 127.0.0.1:5432 is not touched: the drills run on a cluster of their own,
made by tests/pgcluster.py (the same code the tests run: tests/integration/test_pitr_drill.py,
tests/e2e/test_pg_restart_drill.py) with PostgreSQL 15's binaries, in a temporary directory
that is removed at the end, even on failure.

Setup (untimed): the cluster (``wal_level = replica``, WAL archived by ``archive_command``,
``archive_timeout`` = ``--archive-timeout``), the platform's schema by its migrations, then the
penalty file of `benchmarks/intake.py` (``--records`` rows, 5% bad, 10% natural persons with
sealed ID numbers; half the subjects registered beforehand) through the vectorised intake,
sequenced into the ledger.

1. Point-in-time recovery (G27, `pgcluster.pitr_drill`): a writer stores submissions of
   ``--write-rows`` rows (each sequenced: leaves and a signed checkpoint) while
   ``pg_basebackup`` runs; ``--batch-a`` more submissions; ``ledger verify``; T (the server's
   clock) with the row counts and latest checkpoint at T; ``--batch-b`` submissions; the last
   segment archived, the cluster stopped. The base backup is recovered to T from the archive
   into a new data directory (``restore_command``, ``recovery_target_time``, promote) and
   checked: the submissions before T present and those after absent, every table's count =
   T's, the ledger recomputed to the checkpoint signed last before T, every sealed value
   opened. A failed check ends the benchmark (exit 1).
   * ``pitr_rto_s`` = copying the base backup into place and writing the recovery settings +
     ``pg_ctl start`` until connections are accepted + waiting until the recovery ended and the
     server was promoted. Not counted: fetching the backup from elsewhere, the checks
     (``pitr_verify_s``, printed), starting the application.
   * ``pitr_rpo_s`` = at T, the seconds since the archiver last copied a WAL segment: what was
     committed in that window lived only in the primary's ``pg_wal``, so had the primary been
     lost with its disk at T, recovery from the archive would reach only the end of that
     segment (``pitr_rpo_bytes``: the WAL written after it). ``archive_timeout`` bounds it
     while writes go on. The recovery to T itself lost nothing committed before T (asserted).
2. Restart under load (G26, `pgcluster.restart_drill`), on the recovered cluster (it now
   holds the whole database): ``citycredit serve --workers 2``; a reader (public subject
   search) and a writer (2-row submissions with a department's token) each send a request
   every ``--interval`` s (client timeout 10 s); after ``--warmup`` s ``pg_ctl restart -m
   --mode``; the load runs until the first success after the restart and ``--after`` s more.
   * ``restart_recovery_s`` = from the database accepting connections again until the service
     answered again and failed no more (max(last failed answer, first 2xx of a request sent
     after it) − back); its ratio to G26's 30 s is printed;
   * ``errors_5xx_non_503`` = 5xx answers other than 503 (requests unanswered within 10 s are
     counted apart, ``no_answer``, as are 503s outside the window, ``outside_window``);
   * ``acknowledged_lost`` = writes answered 2xx whose submission or records are missing after
     the restart.

The last line holds the figures:

    pitr_rto_s=… pitr_rpo_s=… restart_recovery_s=… restart_recovery_ratio=…
    errors_5xx_non_503=… acknowledged_lost=…

    .venv/bin/python benchmarks/pg_drills.py [--records 50000] [--write-rows 200]
        [--archive-timeout 60] [--mode fast|immediate]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))

import backup as bench_backup  # benchmarks/backup.py: its write submissions
import intake as bench_intake  # benchmarks/intake.py: the penalty file and the setup

import pgcluster  # tests/pgcluster.py: the private cluster and the drills

DATABASE = "citycredit"


def say(line: str) -> None:
    print(line, flush=True)


def seed(c: Any, records: int, tmp: Path) -> None:
    from citycredit.accounts.service import department_principal
    from citycredit.ingest.service import ingest_submission
    from citycredit.ledger.service import integrate_now

    t0 = time.perf_counter()
    bench_intake.setup(c, records)  # migrations, the department, half the subjects
    path = tmp / "penalty.csv"
    bad = bench_intake.write_file(path, records)
    actor = department_principal(c, bench_intake.DEPT)
    r = ingest_submission(c, actor, path=path, item_code="penalty", fast=True)
    integrate_now(c)
    path.unlink()
    say(
        f"seeded records={records} new={r.counts.new} rejected={r.counts.rejected} (bad {bad}) "
        f"seconds={time.perf_counter() - t0:.1f}"
    )


def run_pitr(args: argparse.Namespace, cluster: pgcluster.PgCluster, tmp: Path) -> Any:
    from citycredit.accounts.service import department_principal
    from citycredit.ingest.service import ingest_submission
    from citycredit.ledger.service import integrate_now

    url = cluster.create_database(DATABASE)
    data_dir = tmp / "data"
    c = bench_intake.container(url, data_dir)
    seed(c, args.records, tmp)
    actor = department_principal(c, bench_intake.DEPT)

    def write(n: int) -> str:
        path = tmp / f"write-{n}.csv"
        bench_backup.write_round(path, n, args.write_rows)
        receipt = ingest_submission(c, actor, path=path, item_code="penalty")
        integrate_now(c)
        path.unlink()
        assert receipt.submission_id is not None  # a stored submission (not a dry run)
        return receipt.submission_id

    result = pgcluster.pitr_drill(
        cluster,
        c,
        write,
        lambda recovered: c.settings.model_copy(update={"database_url": recovered}),
        database=DATABASE,
        batch_a=args.batch_a,
        batch_b=args.batch_b,
        max_rate=args.max_rate,
        say=say,
    )
    at_t = result.at_target
    problems = []
    if result.present != set(result.before):
        problems.append(f"missing before T: {sorted(set(result.before) - result.present)}")
    if result.present & set(result.after):
        problems.append(f"after T but present: {sorted(result.present & set(result.after))}")
    if result.restored["tables"] != at_t["tables"]:
        problems.append("row counts differ from T's")
    if not result.ledger.get("ok"):
        problems.append(f"ledger: {result.ledger}")
    if not result.personal.get("ok"):
        problems.append(f"personal: {result.personal}")
    if problems:
        raise SystemExit("point-in-time recovery did not verify: " + "; ".join(problems))
    opened = sum(t.get("opened", 0) for t in result.personal["tables"].values())
    say(
        f"pitr ok rows={at_t['rows']} (final {result.final['rows']}) checkpoint="
        f"{at_t['ledger']['checkpoint']['size']} (final "
        f"{result.final['ledger']['checkpoint']['size']}) submissions before/during/after="
        f"{len(result.before)}/{len(result.during_backup)}/{len(result.after)} "
        f"opened={opened} " + " ".join(f"{k}={v:.2f}" for k, v in result.figures().items())
    )
    return result


def run_restart(args: argparse.Namespace, result: Any, tmp: Path) -> dict[str, float]:
    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department
    from support import uscc

    cluster = result.recovery.cluster
    url = cluster.url(DATABASE)
    data_dir = tmp / "data"
    c = bench_intake.container(url, data_dir)
    # a second department for the HTTP writer (the seeding one's token was not kept)
    token = add_department(
        c, SYSTEM, name="榆林市重启演练报送单位", code=uscc("11", "610800", "MA0CRTD1")
    ).token
    c.dispose()
    env = pgcluster.server_env(url, data_dir, secret=bench_intake.SECRET)
    with pgcluster.serving(env, workers=args.workers, log=tmp / "server.log") as base:
        drill = pgcluster.restart_drill(
            cluster,
            base,
            token,
            url,
            warmup_s=args.warmup,
            after_s=args.after,
            interval=args.interval,
            mode=args.mode,
            say=say,
        )
    f = drill.figures
    say("restart " + " ".join(f"{k}={v:.2f}" for k, v in f.items()))
    if drill.lost:
        say(f"acknowledged writes lost: {drill.lost}")
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=50_000, help="penalty rows seeded")
    ap.add_argument("--write-rows", type=int, default=200, help="rows per write submission")
    ap.add_argument("--batch-a", type=int, default=5, help="submissions after the base backup")
    ap.add_argument("--batch-b", type=int, default=5, help="submissions after T")
    ap.add_argument(
        "--max-rate", default="32M", help="pg_basebackup --max-rate (writes commit during it)"
    )
    ap.add_argument("--archive-timeout", type=int, default=60, help="seconds (0: off)")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--interval", type=float, default=0.1, help="s between requests, per client")
    ap.add_argument("--warmup", type=float, default=10.0, help="s of load before the restart")
    ap.add_argument("--after", type=float, default=10.0, help="s of load after the recovery")
    ap.add_argument("--mode", choices=("fast", "immediate"), default="fast", help="pg_ctl -m")
    args = ap.parse_args()
    say(
        f"pg drills at {datetime.now(UTC).isoformat(timespec='seconds')} records={args.records} "
        f"write_rows={args.write_rows} mode={args.mode} loadavg={os.getloadavg()}"
    )
    settings = {"archive_timeout": str(args.archive_timeout)}
    with (
        tempfile.TemporaryDirectory(prefix="cc-bench-pgdrills-") as tmp,
        pgcluster.private_cluster(settings=settings) as cluster,
    ):
        pitr = run_pitr(args, cluster, Path(tmp))
        restart = run_restart(args, pitr, Path(tmp))
    say(f"cluster directory {cluster.root} removed: {not cluster.root.exists()}")
    recovery = restart["restart_recovery_s"]
    print(
        f"pitr_rto_s={pitr.recovery.rto_s:.2f} pitr_rpo_s={pitr.rpo_s:.2f} "
        f"restart_recovery_s={recovery:.2f} "
        f"restart_recovery_ratio={recovery / pgcluster.RECOVERY_WINDOW_S:.3f} "
        f"errors_5xx_non_503={restart['errors_5xx_non_503']:.0f} "
        f"acknowledged_lost={restart['acknowledged_lost']:.0f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
