"""Vectorised intake against its limits, at two sizes, on a PostgreSQL database and a SQLite file
of its own.

The file: a generated 行政处罚 (penalty) CSV of N rows, 5% of them bad (impossible date, bad USCC
check character, unknown 处罚类别, missing 违法事实, negative fine — one reason each, in turn),
10% about natural persons with resident ID numbers. Subjects come from a pool of N/4
organisations and N/20 persons; every other one is already registered (bulk-loaded before the
timing, as a city's registry would be), the rest are created by the intake.

Per size and database, in the same run:

* limit, PostgreSQL — ``COPY … FROM STDIN (FORMAT csv)`` of the same file bytes into a table of
  the file's columns with an index on the decision number (CF_WSH);
* limit, SQLite — ``executemany`` of the parsed rows (parsed beforehand, untimed) into the same
  table, then commit;
* ours — `ingest_submission(…, fast=True)` in a fresh process (CLI-like: container, catalog,
  keys) until the receipt is committed: validation, quarantine with sealed raw rows, subjects,
  records, versions, the blind index and the outbox events with their ledger leaves. Its peak
  RSS is the process's high-water mark (VmHWM).

The PostgreSQL database (random name) is created on the server and dropped at the end, even on
failure; the SQLite files live in a temporary directory. The last line holds the figures:

    ratio_pg ratio_sqlite ratio rows_per_s_pg peak_rss_mb rss_growth

ratio_* = limit time ÷ our time (higher is better), ratio = the lower one, rows_per_s_pg at the
larger size, peak_rss_mb the larger of the two databases' at the larger size, rss_growth = peak
RSS at the larger size ÷ at the smaller (the larger of the two databases).

    .venv/bin/python benchmarks/intake.py [--rows 250000,1000000] [--db postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.5
TARGET_ROWS_PER_S = 30000
TARGET_PEAK_MB = 500
TARGET_GROWTH = 1.2
SERVER = os.environ.get("CITYCREDIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SECRET = "bench-key-0123456789abcdef"
APP_NAME = "cc_bench_intake"
DEPT = "榆林市市场监督管理局"
COUNTIES = ("610802", "610803", "610881", "610822", "610824", "610825")
HEADER = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_XDR_ZJHM",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_JDRQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
]
KINDS = ("罚款", "警告", "罚款;没收违法所得", "责令停产停业", "通报批评")
FACTS = (
    "经查，当事人未按规定公示年度报告。",
    "经查，当事人销售过期食品，货值金额较小。",
    "经查，当事人未取得许可擅自从事经营活动。",
)


def say(line: str) -> None:
    print(line, flush=True)


def _uscc(division: str, n: int) -> str:
    from citycredit.shared.ids import org_code_check_char, uscc_check_char

    body = f"MA{n:06d}"
    first17 = "91" + division + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def _id_number(n: int) -> str:
    from citycredit.shared.ids import id_check_char

    birth = f"{1960 + n % 45}{1 + n % 12:02d}{1 + n % 28:02d}"
    first17 = COUNTIES[n % len(COUNTIES)] + birth + f"{n % 1000:03d}"
    return first17 + id_check_char(first17)


def pools(rows: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(organisation pool: (name, USCC)), (person pool: (name, ID number))."""
    orgs = [
        (f"{COUNTIES[i % len(COUNTIES)]}第{i}号商贸有限公司", _uscc(COUNTIES[i % len(COUNTIES)], i))
        for i in range(max(rows // 4, 1))
    ]
    surnames = "王李张刘陈杨赵黄周吴"
    persons = [(f"{surnames[i % 10]}某{i}", _id_number(i)) for i in range(max(rows // 20, 1))]
    return orgs, persons


def write_file(path: Path, rows: int) -> int:
    """The penalty CSV; returns how many rows are bad."""
    orgs, persons = pools(rows)
    auth = _uscc("610800", 999999)
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows):
            day = f"2026-{1 + i % 9:02d}-{1 + i % 28:02d}"
            kind = KINDS[i % len(KINDS)]
            fine = "" if kind in ("警告", "通报批评") else str((i % 40 + 1) / 4)
            if i % 10 == 3:
                name, idn = persons[(i * 7919) % len(persons)]
                subject = [name, "自然人", "", idn]
            else:
                name, code = orgs[(i * 7919) % len(orgs)]
                subject = [name, "法人及非法人组织", code, ""]
            row = [
                *subject,
                f"榆市监罚〔2026〕{i}号",
                "违反市场监管规定",
                FACTS[i % 3],
                "《中华人民共和国行政处罚法》",
                kind,
                f"{kind}（第{i}号）",
                fine,
                day,
                DEPT,
                auth,
                DEPT,
                auth,
            ]
            if i % 20 == 7:  # 5% bad rows, one reason each
                bad += 1
                reason = (i // 20) % 5
                if reason == 0:
                    row[11] = "2026-02-30"
                elif reason == 1 and subject[2]:
                    row[2] = subject[2][:-1] + ("0" if subject[2][-1] != "0" else "1")
                elif reason == 2:
                    row[8] = "打板子"
                elif reason == 3:
                    row[6] = ""
                else:
                    row[10] = "-1"
            w.writerow(row)
    return bad


# --- setup (untimed): schema, department, the registered half of the subjects -------------


def setup(c: Any, rows: int) -> None:
    import polars as pl

    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department
    from citycredit.db.migrate import upgrade
    from citycredit.ingest.fast.digests import random_ids
    from citycredit.ingest.fast.sink import make_sink
    from citycredit.shared.digest import Digester
    from citycredit.shared.ids import mask_id_number_at_rest
    from citycredit.subjects.db import SubjectAliasRow, SubjectRow

    upgrade(c.engine)
    add_department(c, SYSTEM, name=DEPT, code=_uscc("610800", 999998))
    orgs, persons = pools(rows)
    orgs, persons = orgs[::2], persons[::2]
    digester = Digester(SECRET.encode())
    now = c.clock.now()
    n = len(orgs) + len(persons)
    with c.uow() as uow:
        sink = make_sink(uow.session)
        stamp = sink.timestamp(SubjectRow.__table__, "created_at", now)  # type: ignore[arg-type]
        ids = random_ids("s", n)
        frame = pl.DataFrame(
            {
                "subject_id": ids,
                "subject_type": ["enterprise"] * len(orgs) + ["natural_person"] * len(persons),
                "name": [o[0] for o in orgs] + [p[0] for p in persons],
                "name_norm": [o[0] for o in orgs] + [p[0] for p in persons],
                "uscc": [o[1] for o in orgs] + [None] * len(persons),
                "id_digest": [None] * len(orgs)
                + [digester.digest("id-number", p[1]) for p in persons],
                "id_masked": [None] * len(orgs) + [mask_id_number_at_rest(p[1]) for p in persons],
                "birth_date": [None] * len(orgs)
                + [f"{p[1][6:10]}-{p[1][10:12]}-{p[1][12:14]}" for p in persons],
                "division_code": [o[1][2:8] for o in orgs] + [p[1][:6] for p in persons],
                "professions": ["[]"] * n,
                "origin": ["registration"] * n,
                "created_at": [stamp] * n,
                "updated_at": [stamp] * n,
            }
        )
        sink.insert(SubjectRow.__table__, frame)  # type: ignore[arg-type]
        aliases = pl.DataFrame(
            {
                "subject_id": ids[: len(orgs)],
                "kind": ["org_code"] * len(orgs),
                "value": [o[1][8:17] for o in orgs],
            }
        )
        sink.insert(SubjectAliasRow.__table__, aliases)  # type: ignore[arg-type]
        uow.commit()


def container(url: str | None, data_dir: Path) -> Any:
    from pydantic import SecretStr

    from citycredit.bootstrap import build_container
    from citycredit.settings import Settings

    return build_container(
        Settings(
            database_url=url,
            data_dir=data_dir,
            secret_key=SecretStr(SECRET),
            seed_synthetic_city=False,
            job_interval_seconds=0,
        )
    )


# --- the limits ------------------------------------------------------------------------------


def _limit_table(columns: list[str]) -> str:
    return "CREATE TABLE intake_limit (" + ", ".join(f'"{h}" text' for h in columns) + ")"


def limit_pg(url: str, path: Path) -> float:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(_limit_table(HEADER))
        conn.execute('CREATE INDEX ix_intake_limit_wsh ON intake_limit ("CF_WSH")')
        conn.commit()
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY intake_limit FROM STDIN (FORMAT csv, HEADER true)") as cp,
            path.open("rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE intake_limit")
        conn.commit()
    return seconds


def limit_sqlite(db: Path, path: Path) -> float:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [tuple(r) for r in reader]  # parsing is not timed: the limit is the insert
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_limit_table(HEADER))
        conn.execute('CREATE INDEX ix_intake_limit_wsh ON intake_limit ("CF_WSH")')
        conn.commit()
        marks = ", ".join("?" for _ in HEADER)
        t0 = time.perf_counter()
        conn.executemany(f"INSERT INTO intake_limit VALUES ({marks})", rows)
        conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE intake_limit")
        conn.commit()
    finally:
        conn.close()
    return seconds


# --- ours, in a fresh process ----------------------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM).

    Not ru_maxrss: Linux carries the parent's high-water mark across fork/vfork + exec into
    it, so a child started by a big parent would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend_cpu(c: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this process's pool."""
    from sqlalchemy import text

    if c.settings.is_sqlite:
        return 0.0
    with c.engine.connect() as conn:
        pids = (
            conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                {"a": APP_NAME},
            )
            .scalars()
            .all()
        )
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def child(url: str, data_dir: str, path: str) -> None:
    """One fast-path submission; prints its figures as JSON (run in a fresh process)."""
    from citycredit.accounts.service import department_principal
    from citycredit.ingest.service import ingest_submission

    if url.startswith("postgresql") and "?" not in url:
        url = f"{url}?application_name={APP_NAME}"
    c = container(None if url == "-" else url, Path(data_dir))
    actor = department_principal(c, DEPT)
    pg0, cpu0 = _backend_cpu(c), time.process_time()
    t0 = time.perf_counter()
    r = ingest_submission(c, actor, path=Path(path), item_code="penalty", fast=True)
    seconds = time.perf_counter() - t0
    cpu, pg = time.process_time() - cpu0, _backend_cpu(c) - pg0
    peak = _peak_rss_mb()
    c.dispose()
    say(
        json.dumps(
            {"seconds": seconds, "peak_rss_mb": peak, "cpu_s": cpu, "db_cpu_s": pg, **r.as_dict()},
            ensure_ascii=False,
            default=str,
        )
    )


def ours(url: str | None, data_dir: Path, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url or "-", str(data_dir), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"intake child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_size(rows: int, dbs: list[str], tmp: Path) -> dict[str, dict[str, Any]]:
    from sqlalchemy import create_engine, text

    path = tmp / f"penalty-{rows}.csv"
    t0 = time.perf_counter()
    bad = write_file(path, rows)
    say(
        f"file rows={rows} bad={bad} bytes={path.stat().st_size} "
        f"generated_s={time.perf_counter() - t0:.1f}"
    )
    results: dict[str, dict[str, Any]] = {}
    for db in dbs:
        data_dir = tmp / f"data-{db}-{rows}"
        if db == "postgresql":
            server = "postgresql+psycopg://" + SERVER.split("://", 1)[1]
            name = f"cc_bench_intake_{uuid.uuid4().hex[:10]}"
            admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url: str | None = f"{server}/{name}"
            say(f"database {name} on {SERVER}")
        else:
            url = f"sqlite:///{tmp / f'bench-{rows}.sqlite3'}"
        try:
            c = container(url, data_dir)
            setup(c, rows)
            c.dispose()
            assert url is not None
            limit = (
                limit_pg(url, path)
                if db == "postgresql"
                else limit_sqlite(Path(url.removeprefix("sqlite:///")), path)
            )
            load = os.getloadavg()[0]
            mine = ours(url, data_dir, path)
            ratio = limit / mine["seconds"]
            say(
                f"{db} rows={rows} limit_s={limit:.2f} ours_s={mine['seconds']:.2f} "
                f"ratio={ratio:.3f} rows_per_s={rows / mine['seconds']:.0f} "
                f"peak_rss_mb={mine['peak_rss_mb']:.0f} cpu_s={mine['cpu_s']:.1f} "
                f"db_cpu_s={mine['db_cpu_s']:.1f} new={mine['new']} "
                f"rejected={mine['rejected']} duplicate={mine['duplicate']} "
                f"balanced={mine['balanced']} loadavg_1m={load:.1f}"
            )
            if mine["rejected"] != bad or not mine["balanced"]:
                raise SystemExit(f"unexpected receipt: {mine}")
            results[db] = {"limit": limit, "seconds": mine["seconds"], "peak": mine["peak_rss_mb"]}
        finally:
            if db == "postgresql":
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
                say(f"database {name} dropped")
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="250000,1000000", help="two sizes, small,large")
    ap.add_argument("--db", default="postgresql,sqlite")
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    small, large = (int(x) for x in args.rows.split(","))
    dbs = [d for d in args.db.split(",") if d]
    say(
        f"intake benchmark at {datetime.now(UTC).isoformat(timespec='seconds')} "
        f"sizes={small},{large} dbs={','.join(dbs)} loadavg={os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="cc-bench-intake-") as tmp:
        first = run_size(small, dbs, Path(tmp))
        second = run_size(large, dbs, Path(tmp))
    ratios = {db: second[db]["limit"] / second[db]["seconds"] for db in dbs}
    ratio_pg = ratios.get("postgresql", float("nan"))
    ratio_sqlite = ratios.get("sqlite", float("nan"))
    ratio = min(ratios.values())
    rows_per_s_pg = large / second["postgresql"]["seconds"] if "postgresql" in second else 0.0
    peak = max(second[db]["peak"] for db in dbs)
    growth = max(second[db]["peak"] / first[db]["peak"] for db in dbs)
    say(
        f"targets ratio>={TARGET_RATIO} ({ratio / TARGET_RATIO:.3f} of it) "
        f"rows_per_s_pg>={TARGET_ROWS_PER_S} ({rows_per_s_pg / TARGET_ROWS_PER_S:.3f}) "
        f"peak_rss_mb<={TARGET_PEAK_MB} ({peak / TARGET_PEAK_MB:.3f}) "
        f"rss_growth<={TARGET_GROWTH} ({growth / TARGET_GROWTH:.3f})"
    )
    print(
        f"ratio_pg={ratio_pg:.3f} ratio_sqlite={ratio_sqlite:.3f} ratio={ratio:.3f} "
        f"rows_per_s_pg={rows_per_s_pg:.0f} peak_rss_mb={peak:.0f} rss_growth={growth:.3f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
