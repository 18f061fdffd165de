"""The floor under the fast intake on PostgreSQL: what storing its output costs the server alone.

benchmarks/intake.py compares our intake with a COPY of the file into one indexed table. Our
intake must store more than the file: per accepted row a record (its identity and state, 6
indexes), a version (the content as JSONB, sealed personal fields) and an outbox event with the
version's pending ledger leaf (ADR 0003, 0005, 0007); per new subject a subject row and its
aliases; per bad row a sealed quarantine row. This script measures how long the server takes to
store exactly those rows when nothing else is done — no reading, no validation, no hashing, no
lookups, no foreign keys — and so bounds the ratio benchmarks/intake.py can ever print:

1. a generated penalty file (benchmarks/intake.py's generator, 5% bad rows), its registry
   bulk-loaded, on a PostgreSQL database of its own (created and dropped);
2. the limit, as in benchmarks/intake.py (COPY of the file's bytes into one indexed table);
3. our fast intake, in process, with every COPY it sends also written to a file (untimed);
4. per table, COPY of those very bytes into an empty twin of the table (``LIKE … INCLUDING
   ALL``: the same columns, defaults, storage, compression and indexes, no foreign keys), one
   table at a time, each in its own transaction, timed.

``floor_content_s`` is the sum for records + record_versions (what any archive with history
must write per row); ``floor_all_s`` the sum for every table the intake writes. The ceilings are
the limit divided by them: no pipeline that writes these rows can do better, however fast the
rest of it is. The last line:

    limit_s ours_s floor_content_s floor_all_s ceiling_ratio_content ceiling_ratio_all
    ceiling_rows_per_s

    .venv/bin/python benchmarks/intake_floor.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake as bench

CONTENT = ("records", "record_versions")


def say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def recording(out: Path) -> Iterator[dict[str, list[str]]]:
    """Every COPY of the fast path's sink also appended to ``out/<table>.csv`` (untimed)."""
    from citycredit.ingest.fast import sink as sink_module

    columns: dict[str, list[str]] = {}
    original = sink_module.PgSink.inserting

    @contextmanager
    def inserting(self: Any, table: Any, frame: Any) -> Iterator[None]:
        if not frame.is_empty():
            full = self._complete(table, frame)
            known = columns.setdefault(table.name, list(full.columns))
            with (out / f"{table.name}.csv").open("ab") as fh:
                full.select(known).write_csv(fh, include_header=False, null_value="")
        with original(self, table, frame):
            yield

    sink_module.PgSink.inserting = inserting  # type: ignore[method-assign]
    try:
        yield columns
    finally:
        sink_module.PgSink.inserting = original  # type: ignore[method-assign]


def copy_floor(url: str, out: Path, columns: dict[str, list[str]]) -> dict[str, float]:
    """Seconds to COPY each table's recorded bytes into an empty twin (indexes, no FKs)."""
    import psycopg

    seconds: dict[str, float] = {}
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        for table, cols in columns.items():
            twin = f"floor_{table}"
            conn.execute(f'DROP TABLE IF EXISTS "{twin}"')
            conn.execute(f'CREATE TABLE "{twin}" (LIKE "{table}" INCLUDING ALL)')
            conn.commit()
            names = ", ".join(f'"{c}"' for c in cols)
            t0 = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(f'COPY "{twin}" ({names}) FROM STDIN (FORMAT csv)') as cp,
                (out / f"{table}.csv").open("rb") as fh,
            ):
                while chunk := fh.read(1 << 20):
                    cp.write(chunk)
            conn.commit()
            seconds[table] = time.perf_counter() - t0
            conn.execute(f'DROP TABLE "{twin}"')
            conn.commit()
    return seconds


def main() -> None:
    from sqlalchemy import create_engine, text

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    rows = args.rows
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-floor-"))
    server = "postgresql+psycopg://" + bench.SERVER.split("://", 1)[1]
    name = f"cc_bench_floor_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{server}/{name}"
    say(f"database {name} on {bench.SERVER}")
    try:
        path = tmp / "penalty.csv"
        bad = bench.write_file(path, rows)
        say(f"file rows={rows} bad={bad} bytes={path.stat().st_size}")
        c = bench.container(url, tmp / "data")
        bench.setup(c, rows)
        limit = bench.limit_pg(url, path)
        from citycredit.accounts.service import department_principal
        from citycredit.ingest.service import ingest_submission

        recorded = tmp / "copies"
        recorded.mkdir()
        actor = department_principal(c, bench.DEPT)
        with recording(recorded) as columns:
            t0 = time.perf_counter()
            receipt = ingest_submission(c, actor, path=path, item_code="penalty", fast=True)
            ours = time.perf_counter() - t0  # includes writing the copies: an upper figure
        c.dispose()
        counts = receipt.as_dict()
        say(
            f"ours (recording its COPYs) s={ours:.2f} new={counts['new']} "
            f"rejected={counts['rejected']}"
        )
        floor = copy_floor(url, recorded, columns)
        for table, s in sorted(floor.items(), key=lambda kv: -kv[1]):
            size = (recorded / f"{table}.csv").stat().st_size
            lines = sum(1 for _ in (recorded / f"{table}.csv").open("rb"))
            say(
                f"table {table} rows={lines} csv_mb={size / 1e6:.1f} "
                f"bytes_per_row={size / max(lines, 1):.0f} copy_s={s:.2f} "
                f"us_per_input_row={s / rows * 1e6:.1f}"
            )
        content = sum(floor.get(t, 0.0) for t in CONTENT)
        total = sum(floor.values())
        say(
            f"limit_s={limit:.2f} ours_s={ours:.2f} floor_content_s={content:.2f} "
            f"floor_all_s={total:.2f} ceiling_ratio_content={limit / content:.3f} "
            f"ceiling_ratio_all={limit / total:.3f} ceiling_rows_per_s={rows / total:.0f}"
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"database {name} dropped")


if __name__ == "__main__":
    main()
