"""Merge delay of the 信用数据链 under load (security goal G21), on a PostgreSQL database of its
own.

The server is `citycredit serve --workers W` as deployed (citycredit.web.serve, factory
`citycredit.web.serve:app`): the job scheduler (CITYCREDIT_JOB_INTERVAL_SECONDS, default 60 s:
the `deliveries` sweep and the `ledger_merge_delay` watch) and the server's sequencer loop
(CITYCREDIT_LEDGER_SEQUENCE_SECONDS) run in worker 0, as in production.

Set-up (untimed): a migrated empty database (_bulk.workspace), one department and its token.

Load: an asyncio client on loopback submits small department files (`--rows` new 行政处罚 rows,
each a new record, so each row is one ledger entry) with POST /api/v1/submissions at a fixed rate
(`--rate` files/s, open loop: file k is sent at t0 + k/rate whatever the earlier ones did) for
`--minutes`, and records each submission's acknowledgement time (its 200 response). A monitor
polls GET /api/v1/ledger/checkpoint once a second, as a log monitor would.

Afterwards, for each submission: its leaves (ledger_leaves of the outbox events whose payload
names the submission), and the first stored checkpoint whose size covers the last of them;
delay = that checkpoint's created_at − the acknowledgement time. The monitor's observations are
compared with the stored checkpoints: how long after a checkpoint was stored the HTTP endpoint
first showed a size covering it (a lag beyond one poll interval would mean the endpoint serves a
stale checkpoint). The watch's `merge_delay` alarms are counted.

The last line holds the figures: mmd_s max_delay_s p99_delay_s p50_delay_s entries_per_s
submissions ratio (ratio = mmd_s / max_delay_s; >= 1 meets the declared MMD).

    .venv/bin/python benchmarks/merge_delay.py [--minutes 10] [--rate 2] [--rows 10]
        [--workers 2] [--mmd 60] [--sequence-seconds 5] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk
import _server

SAMR = "榆林市市场监督管理局"
COLUMNS = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
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
POLL_S = 1.0


def say(line: str) -> None:
    print(line, flush=True)


def uscc(prefix: str, division: str, body8: str) -> str:
    from citycredit.shared.ids import org_code_check_char, uscc_check_char

    first17 = prefix + division + body8 + org_code_check_char(body8)
    return first17 + uscc_check_char(first17)


AUTH = uscc("11", "610800", "MA0CAMR1")


def penalty_file(k: int, rows: int) -> bytes:
    """File k: `rows` new penalties, each on its own company (new records, one leaf each)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for j in range(rows):
        n = 10_000_000 + k * rows + j  # 8-digit USCC bodies, none all zeros
        w.writerow(
            [
                f"榆阳区第{n}号商贸有限公司",
                "法人及非法人组织",
                uscc("91", "610802", f"{n:08d}"),
                f"榆市监罚〔2026〕{n}号",
                "x",
                "x",
                "x",
                "罚款",
                "罚款2万元",
                "2",
                "2026-11-02",
                SAMR,
                AUTH,
                SAMR,
                AUTH,
            ]
        )
    return buf.getvalue().encode("utf-8")


def set_up(url: str, data_dir: Path) -> str:
    """Migrate, register the department; its submission token."""
    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department
    from citycredit.db.migrate import upgrade

    c = _bulk.make_container(url, data_dir)
    try:
        upgrade(c.engine)
        return add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    finally:
        c.dispose()


@dataclass
class Sent:
    k: int
    scheduled: float  # wall clock (epoch s)
    sent: float = math.nan
    acked: float = math.nan
    submission_id: str | None = None
    new: int = 0  # the receipt's new records: one leaf each
    rejected: int = 0
    status: int = 0
    error: str | None = None


Poll = tuple[float, int, int]  # (sent, size over HTTP or -1, size committed just before)


class Committed:
    """The latest stored checkpoint's size, read straight from the database (autocommit)."""

    def __init__(self, url: str) -> None:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        self.pg = psycopg.connect(dsn, autocommit=True)

    def size(self) -> int:
        row = self.pg.execute("SELECT coalesce(max(size), 0) FROM ledger_checkpoints").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.pg.close()


async def poll_once(client: httpx.AsyncClient, db: Committed, polls: list[Poll]) -> int:
    """What the database has committed, then what the endpoint shows (requested after it)."""
    committed = await asyncio.to_thread(db.size)
    t0 = time.time()
    try:
        r = await client.get("/api/v1/ledger/checkpoint")
        size = int(r.json()["size"]) if r.status_code == 200 else 0
    except httpx.HTTPError:
        size = -1
    polls.append((t0, size, committed))
    return size


async def submit_all(
    base: str, token: str, rate: float, seconds: float, rows: int, db: Committed
) -> tuple[list[Sent], list[Poll]]:
    """The open-loop load and the once-a-second checkpoint monitor."""
    total = max(int(rate * seconds), 1)
    headers = {"Authorization": f"Bearer {token}"}
    polls: list[Poll] = []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=base, timeout=120.0, limits=limits) as client:

        async def monitor() -> None:
            while not stop.is_set():
                t0 = time.time()
                await poll_once(client, db, polls)
                with_rest = POLL_S - (time.time() - t0)
                if with_rest > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), with_rest)

        async def one(s: Sent, body: bytes) -> None:
            await asyncio.sleep(max(s.scheduled - time.time(), 0.0))
            s.sent = time.time()
            try:
                r = await client.post(
                    "/api/v1/submissions",
                    headers=headers,
                    data={"item": "penalty"},
                    files={"file": (f"p{s.k}.csv", body, "text/csv")},
                )
                s.acked, s.status = time.time(), r.status_code
                if r.status_code == 200:
                    receipt = r.json()
                    s.submission_id = receipt["submission_id"]
                    s.new, s.rejected = int(receipt["new"]), int(receipt["rejected"])
                else:
                    s.error = r.text[:200]
            except httpx.HTTPError as exc:
                s.acked, s.error = time.time(), f"{type(exc).__name__}: {exc}"

        mon = asyncio.create_task(monitor())
        t0 = time.time() + 1.0
        sent = [Sent(k, t0 + k / rate) for k in range(total)]
        await asyncio.gather(*(one(s, penalty_file(s.k, rows)) for s in sent))
        stop.set()
        await mon
    return sent, polls


async def watch_until_covered(
    base: str, target: int, timeout: float, db: Committed, polls: list[Poll]
) -> None:
    """After the load: keep polling once a second until the checkpoint covers `target` leaves."""
    deadline = time.time() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        while time.time() < deadline:
            t0 = time.time()
            if await poll_once(client, db, polls) >= target:
                return
            await asyncio.sleep(max(POLL_S - (time.time() - t0), 0.0))


def stored(url: str) -> tuple[dict[str, tuple[int, int]], list[tuple[int, float]], int]:
    """Per submission (leaves, highest leaf index); checkpoints (size, created_at epoch);
    merge-delay alarms raised."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as pg:
        leaves = {
            sid: (int(n), int(top))
            for sid, n, top in pg.execute(
                "SELECT o.payload->>'submission_id', count(*), max(l.idx)"
                " FROM ledger_leaves l JOIN outbox o ON o.id = l.event_id"
                " WHERE o.payload ? 'submission_id' GROUP BY 1"
            )
        }
        cps = [
            (int(size), at.timestamp())
            for size, at in pg.execute(
                "SELECT size, created_at FROM ledger_checkpoints ORDER BY size"
            )
        ]
        alarms = pg.execute(
            "SELECT count(*) FROM ledger_alarms WHERE kind = 'merge_delay'"
        ).fetchone()
    return leaves, cps, int(alarms[0]) if alarms else 0


def pending_leaves(url: str) -> int:
    """Outbox events carrying a ledger entry that has no leaf yet."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as pg:
        row = pg.execute(
            "SELECT count(*) FROM outbox o WHERE o.payload ? 'ledger'"
            " AND NOT EXISTS (SELECT 1 FROM ledger_leaves l WHERE l.event_id = o.id)"
        ).fetchone()
    return int(row[0]) if row else 0


def nearest_rank(samples: list[float], p: float) -> float:
    return _server.nearest_rank(samples, p)


def first_cover(cps: list[tuple[int, float]], idx: int) -> float | None:
    """created_at of the first stored checkpoint whose size covers leaf `idx`."""
    for size, at in cps:  # sizes ascending, created_at with them
        if size > idx:
            return at
    return None


def http_lags(cps: list[tuple[int, float]], polls: list[Poll]) -> tuple[float, int, int]:
    """(largest time from a checkpoint's created_at — taken before its batch commits — to the
    first poll sent after it that showed a size covering it; polls that showed less than the
    database had committed before the request; the most leaves such a poll was behind)."""
    ok_polls = sorted((sent, size) for sent, size, _ in polls if size >= 0)
    worst = 0.0
    for size, at in cps:
        seen = next((sent for sent, s in ok_polls if sent >= at and s >= size), None)
        if seen is not None:
            worst = max(worst, seen - at)
    behind = [committed - size for _, size, committed in polls if 0 <= size < committed]
    return worst, len(behind), max(behind, default=0)


def run(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    token = set_up(url, data_dir)
    env = {
        **_bulk.server_env(url, data_dir),
        "CITYCREDIT_JOB_INTERVAL_SECONDS": str(args.job_interval),
        "CITYCREDIT_LEDGER_SEQUENCE_SECONDS": f"{args.sequence_seconds:g}",
        "CITYCREDIT_LEDGER_MMD_SECONDS": str(args.mmd),
    }
    seconds = args.minutes * 60.0
    entries = args.rate * args.rows
    say(
        f"server citycredit.web.serve workers={args.workers} (scheduler every "
        f"{args.job_interval} s and sequencer loop every {args.sequence_seconds:g} s in worker 0); "
        f"mmd={args.mmd} s; load {args.rate:g} files/s x {args.rows} rows = {entries:g} entries/s "
        f"for {seconds:.0f} s; checkpoint polled every {POLL_S:g} s; cores={os.cpu_count()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    log = data_dir / "server.log"
    db = Committed(url)
    with _server.server(
        env, workers=args.workers, log=log, factory="citycredit.web.serve:app"
    ) as srv:
        began = time.time()
        sent, polls = asyncio.run(submit_all(srv.base, token, args.rate, seconds, args.rows, db))
        took = time.time() - began
        acked = [s for s in sent if s.submission_id is not None]
        failed = [s for s in sent if s.submission_id is None]
        say(
            f"load done in {took:.1f} s: {len(acked)} acknowledged, {len(failed)} failed"
            + (f" (first: {failed[0].status} {failed[0].error})" if failed else "")
            + f"; load average {os.getloadavg()[0]:.2f}"
        )
        expected = sum(s.new for s in acked)
        asyncio.run(watch_until_covered(srv.base, expected, args.mmd * 3 + 60, db, polls))
        still = pending_leaves(url)
    db.close()
    leaves, cps, alarms = stored(url)
    delays: list[float] = []
    missing = 0
    late_send = [s.sent - s.scheduled for s in acked]
    ack_s = [s.acked - s.sent for s in acked]
    for s in acked:
        got = leaves.get(str(s.submission_id))
        at = first_cover(cps, got[1]) if got else None
        if got is None or got[0] != s.new or at is None:
            missing += 1
            continue
        delays.append(at - s.acked)
    if not delays:
        raise SystemExit("no submission reached a checkpoint")
    worst, behind, most = http_lags(cps, polls)
    rejected = sum(s.rejected for s in acked)
    say(
        f"submissions acknowledged={len(acked)} in_checkpoint={len(delays)} missing={missing} "
        f"rows rejected={rejected} "
        f"pending_after={still}; acknowledgement p50={nearest_rank(ack_s, 50):.3f} s "
        f"p99={nearest_rank(ack_s, 99):.3f} s max={max(ack_s):.3f} s; "
        f"send behind schedule max={max(late_send):.3f} s"
    )
    say(
        f"checkpoints stored={len(cps)} (sizes {cps[0][0]}..{cps[-1][0]}); merge delay "
        f"min={min(delays):.2f} s p50={nearest_rank(delays, 50):.2f} s "
        f"p99={nearest_rank(delays, 99):.2f} s max={max(delays):.2f} s; "
        f"merge_delay alarms={alarms}"
    )
    say(
        f"HTTP monitor: {len(polls)} polls ({sum(1 for p in polls if p[1] < 0)} failed); "
        f"polls showing less than the database had committed before the request={behind} "
        f"(at most {most} leaves behind)"
        + (" — the endpoint LAGGED the stored checkpoint" if behind else " — never behind")
        + f"; largest time from a checkpoint's created_at (before its commit) to the first "
        f"poll showing it={worst:.2f} s"
    )
    worst_delay = max(delays)
    return {
        "mmd_s": float(args.mmd),
        "max_delay_s": worst_delay,
        "p99_delay_s": nearest_rank(delays, 99),
        "p50_delay_s": nearest_rank(delays, 50),
        "entries_per_s": sum(s.new for s in acked) / seconds,
        "submissions": float(len(acked)),
        "ratio": args.mmd / worst_delay if worst_delay > 0 else math.inf,
        "missing": float(missing),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of load")
    ap.add_argument("--rate", type=float, default=2.0, help="files submitted per second")
    ap.add_argument("--rows", type=int, default=10, help="rows (new records) per file")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--mmd", type=int, default=60, help="declared MMD (seconds)")
    ap.add_argument("--sequence-seconds", type=float, default=5.0, help="sequencer loop interval")
    ap.add_argument("--job-interval", type=int, default=60, help="scheduler tick (seconds)")
    ap.add_argument("--keep", action="store_true", help="keep the database (development)")
    args = ap.parse_args()
    for name in ("minutes", "rate"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be positive, got {getattr(args, name)}")
    if args.rows < 1:
        ap.error(f"--rows must be at least 1, got {args.rows}")
    started = time.perf_counter()
    say(f"started {datetime.now(UTC).isoformat(timespec='seconds')}")
    with _bulk.workspace("mmd", keep=args.keep) as (url, data_dir):
        f = run(url, data_dir, args)
    say(f"runtime_s={time.perf_counter() - started:.0f}")
    print(
        f"ratios mmd_s/max_delay_s={f['ratio']:.3f} (>=1 meets) "
        f"missing={f['missing']:.0f} (0 meets)"
    )
    print(
        f"mmd_s={f['mmd_s']:.0f} max_delay_s={f['max_delay_s']:.2f} "
        f"p99_delay_s={f['p99_delay_s']:.2f} p50_delay_s={f['p50_delay_s']:.2f} "
        f"entries_per_s={f['entries_per_s']:.1f} submissions={f['submissions']:.0f} "
        f"ratio={f['ratio']:.3f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
