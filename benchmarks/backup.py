"""Backup/restore drill on PostgreSQL (security goal G27): backup under a write load, restore into
a new database, verify; RTO and RPO.

Setup (untimed), in a database of its own (random name, created on the server and dropped at
the end, even on failure; the restored copy too): the penalty file of `benchmarks/intake.py`
(`write_file`: N rows, 5% bad, 10% natural persons with sealed ID numbers; half the subjects
registered beforehand by its `setup`) stored through the vectorised intake, then sequenced into
the ledger (`integrate_now`: leaves, nodes, a signed checkpoint).

The drill:

1. A writer thread starts: submissions of ``--write-rows`` new penalty rows each, one after
   another, each followed by the sequencer — the platform's own write path (records, versions,
   sealed personal values, blind index, outbox, ledger leaves and checkpoints). The time each
   submission returns (its transaction committed) is noted.
2. After ``--warmup`` seconds, `citycredit.db.backup.backup` runs while the writer goes on:
   REPEATABLE READ transaction → ``pg_export_snapshot()`` → row counts and checkpoint of that
   snapshot → ``pg_dump -Fc --snapshot=…`` → files and manifest. ``backup_s`` is its wall time.
3. The writer goes on for ``--after`` seconds more, then stops: that moment stands for the
   failure of the primary.
4. `restore` into a new database (``pg_restore`` into a database it creates), then the
   verification: row counts = manifest, Alembic revision, the ledger recomputed from the
   restored leaves (`ledger.verify.verify_log`) equals the manifest's signed checkpoint, every
   sealed value opens with the keyring. ``restore_s`` and ``verify_s`` come from its report,
   ``rto_s`` = restore_s + verify_s (the time from "start restoring" to "verified, can serve";
   not counting provisioning a server or fetching the backup).

RPO method: ``rpo_s`` = commit time of the last write acknowledged before the failure − the
moment the snapshot was exported. Everything committed in that window is in the source but not
in the backup: it is what restoring this backup loses (``lost_versions``, ``lost_leaves``:
record versions and ledger leaves in the source at the failure minus those in the manifest).
For a deployment that only takes these backups, the worst case RPO is the backup interval plus
the backup's own duration; PostgreSQL PITR (base backup + WAL archive, docs/operations.md)
brings it down to the last archived WAL segment. ``rows`` = the rows in the backup (all
tables, from the manifest).

The last line holds the figures:

    backup_s=… restore_s=… verify_s=… rto_s=… rpo_s=… rows=…

    .venv/bin/python benchmarks/backup.py [--records 50000] [--write-rows 200] [--warmup 5]
        [--after 5]        # bigger: --records 1000000
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake as bench_intake  # benchmarks/intake.py: the penalty file and the setup

SERVER = bench_intake.SERVER


def say(line: str) -> None:
    print(line, flush=True)


def write_round(path: Path, round_no: int, rows: int) -> None:
    """`rows` new penalties of new organisations (decision numbers unique to the round)."""
    auth = bench_intake._uscc("610800", 999999)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(bench_intake.HEADER)
        for i in range(rows):
            n = 700_000 + round_no * rows + i
            county = bench_intake.COUNTIES[n % len(bench_intake.COUNTIES)]
            w.writerow(
                [
                    f"{county}第{n}号写入商贸有限公司",
                    "法人及非法人组织",
                    bench_intake._uscc(county, n),
                    "",
                    f"榆市监罚〔2026〕W{round_no}-{i}号",
                    "违反市场监管规定",
                    bench_intake.FACTS[i % 3],
                    "《中华人民共和国行政处罚法》",
                    "罚款",
                    "罚款（写入负载）",
                    "1",
                    "2026-06-01",
                    bench_intake.DEPT,
                    auth,
                    bench_intake.DEPT,
                    auth,
                ]
            )


class Writer(threading.Thread):
    """Submissions one after another until stopped; notes each commit time."""

    def __init__(self, c: Any, tmp: Path, rows: int) -> None:
        super().__init__(daemon=True)
        self.c, self.tmp, self.rows = c, tmp, rows
        self.stop = threading.Event()
        self.commits: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from citycredit.accounts.service import department_principal
        from citycredit.ingest.service import ingest_submission
        from citycredit.ledger.service import integrate_now

        actor = department_principal(self.c, bench_intake.DEPT)
        n = 0
        try:
            while not self.stop.is_set():
                path = self.tmp / f"write-{n}.csv"
                write_round(path, n, self.rows)
                ingest_submission(self.c, actor, path=path, item_code="penalty")
                self.commits.append(time.time())
                integrate_now(self.c)
                self.commits.append(time.time())
                path.unlink()
                n += 1
        except BaseException as e:  # reported by the main thread
            self.error = e


def count(c: Any, table: str) -> int:
    from sqlalchemy import text

    with c.engine.connect() as conn:
        return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from pydantic import SecretStr
    from sqlalchemy import create_engine, text

    from citycredit.accounts.service import department_principal
    from citycredit.db.backup import backup, restore
    from citycredit.ingest.service import ingest_submission
    from citycredit.ledger.service import integrate_now

    server = "postgresql+psycopg://" + SERVER.split("://", 1)[1]
    source = f"cc_bench_backup_{uuid.uuid4().hex[:10]}"
    target = f"{source}_restored"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{source}"'))
    say(f"database {source} on {SERVER}")
    try:
        data_dir = tmp / "data"
        c = bench_intake.container(f"{server}/{source}", data_dir)
        t0 = time.perf_counter()
        bench_intake.setup(c, args.records)
        path = tmp / "penalty.csv"
        bad = bench_intake.write_file(path, args.records)
        actor = department_principal(c, bench_intake.DEPT)
        r = ingest_submission(c, actor, path=path, item_code="penalty", fast=True)
        integrate_now(c)
        say(
            f"seeded records={args.records} new={r.counts.new} rejected={r.counts.rejected} "
            f"(bad {bad}) leaves={count(c, 'ledger_leaves')} "
            f"seconds={time.perf_counter() - t0:.1f}"
        )

        writer = Writer(c, tmp, args.write_rows)
        writer.start()
        time.sleep(args.warmup)
        snapshot: dict[str, float] = {}

        def taken() -> None:
            snapshot["at"] = time.time()

        t0 = time.perf_counter()
        manifest = backup(c, tmp / "backup", on_snapshot=taken)
        backup_s = time.perf_counter() - t0
        time.sleep(args.after)
        writer.stop.set()
        writer.join()
        if writer.error is not None:
            raise writer.error
        failure_at = time.time()
        rpo_s = max(t for t in writer.commits if t <= failure_at) - snapshot["at"]
        lost_versions = count(c, "record_versions") - manifest["tables"]["record_versions"]
        lost_leaves = count(c, "ledger_leaves") - manifest["tables"]["ledger_leaves"]
        size = sum(p.stat().st_size for p in (tmp / "backup").rglob("*") if p.is_file())
        say(
            f"backup rows={manifest['rows']} bytes={size} checkpoint="
            f"{manifest['ledger']['checkpoint']['size']} write_submissions="
            f"{len(writer.commits) // 2} lost_versions={lost_versions} lost_leaves={lost_leaves}"
        )
        keys = SecretStr(str(data_dir / "personal.keys"))
        settings = c.settings.model_copy(update={"personal_keys": keys})
        c.dispose()
        report = restore(
            tmp / "backup", settings, to=f"{server}/{target}", data_dir=tmp / "restored-data"
        )
        if not report.ok:
            raise SystemExit(f"restore did not verify: {report.as_dict()}")
        say(
            f"restored ok counts_ok={report.counts_ok} ledger_ok={report.ledger['ok']} "
            f"personal_ok={report.personal['ok']} opened="
            f"{sum(t.get('opened', 0) for t in report.personal['tables'].values())}"
        )
        return {
            "backup_s": backup_s,
            "restore_s": report.restore_seconds,
            "verify_s": report.verify_seconds,
            "rto_s": report.rto_seconds,
            "rpo_s": rpo_s,
            "rows": manifest["rows"],
        }
    finally:
        with admin.connect() as conn:
            for name in (source, target):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        say(f"databases {source}, {target} dropped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=50_000, help="penalty rows seeded")
    ap.add_argument("--write-rows", type=int, default=200, help="rows per write submission")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of writes before backup")
    ap.add_argument("--after", type=float, default=5.0, help="seconds of writes after backup")
    args = ap.parse_args()
    say(
        f"backup drill at {datetime.now(UTC).isoformat(timespec='seconds')} "
        f"records={args.records} write_rows={args.write_rows} loadavg={os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="cc-bench-backup-") as tmp:
        r = run(args, Path(tmp))
    print(
        f"backup_s={r['backup_s']:.2f} restore_s={r['restore_s']:.2f} "
        f"verify_s={r['verify_s']:.2f} rto_s={r['rto_s']:.2f} rpo_s={r['rpo_s']:.2f} "
        f"rows={r['rows']:.0f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
