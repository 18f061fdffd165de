"""信用核查 over HTTP at 1,000,000 subjects, on a PostgreSQL database of its own.

Data (benchmarks/_bulk.py, untimed): 1,000,000 subjects cloned from a synthetic Yulin city that
went through the real intake, with their records, external list memberships (courts, tax, SAMR),
local memberships in every state of the workflow and commitments with breaches; the lists,
measures and matters are the package's data (lists/data).

Requests: POST /api/v1/checks {subject_id, matter} with the token of the matter's department
(the department that checks applicants in its approvals; 榆林市市场监督管理局 when the matter's
department is not registered), subjects uniformly at random over all subjects, matters in turn.
The bare endpoint is GET /api/v1/subjects/{subject_id} with the same tokens and subjects: the
same authentication (bearer token → principal) and one subject looked up, nothing else.

1. Paced: 200 requests/s for 60 s on POST /api/v1/checks (wrk, one connection per thread, an
   open-loop schedule; latency from each request's scheduled send time — see _server.py) → p99.
2. Closed loop, as fast as it goes, for the check and for the bare endpoint, alternating in
   rounds (check, bare, check, bare …: a shared host's drift weighs on both alike) → the maximum
   rates (each endpoint's requests over its seconds in all rounds) and their ratio.

Every check is stored, written to the disclosure log and emitted as an outbox event with its
ledger leaf; afterwards the three counts are compared with the number of 2xx check responses.
The last line holds the figures; the line before it their ratios to the targets.

    .venv/bin/python benchmarks/checks.py [--subjects 1000000] [--records 3000000]
        [--rate 200] [--duration 60] [--max-duration 60] [--rounds 12] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk
import _server

TARGET_P99_MS = 20.0
TARGET_RATIO = 0.7
FALLBACK_DEPARTMENT = "榆林市市场监督管理局"


def say(line: str) -> None:
    print(line, flush=True)


def request_rows(
    city: _bulk.City, n: int, seed: int
) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str]]]:
    """(check requests, bare requests) over the same subjects and tokens."""
    from citycredit.lists import default_lists

    rng = np.random.default_rng(seed)
    matters = list(default_lists().matters.values())
    picks = rng.integers(0, city.subjects, n)
    checks, bare = [], []
    for i, k in enumerate(picks.tolist()):
        sid = city.subject_ids[k]
        matter = matters[i % len(matters)]
        token = city.tokens.get(matter.department) or city.tokens[FALLBACK_DEPARTMENT]
        body = json.dumps({"subject_id": sid, "matter": matter.code}, separators=(",", ":"))
        checks.append(("POST", "/api/v1/checks", token, body))
        bare.append(("GET", f"/api/v1/subjects/{sid}", token, ""))
    return checks, bare


def _pool_line(url: str, data_dir: Path) -> str:
    """The server's connection pool, as db.engine builds it (each worker has its own)."""
    c = _bulk.make_container(url, data_dir)
    try:
        pool = c.engine.pool
        size = getattr(pool, "size", lambda: "?")()
        overflow = getattr(pool, "_max_overflow", "?")
        return f"{size}+{overflow} overflow, pre_ping={pool._pre_ping}, recycle={pool._recycle}s"
    finally:
        c.dispose()


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def audit_counts(url: str, data_dir: Path) -> dict[str, int]:
    """Checks stored, their disclosure-log rows and their outbox events."""
    from sqlalchemy import text

    c = _bulk.make_container(url, data_dir)
    try:
        with c.engine.connect() as conn:
            return {
                "checks": conn.execute(text("SELECT count(*) FROM credit_checks")).scalar_one(),
                "disclosures": conn.execute(
                    text("SELECT count(*) FROM disclosure_log WHERE purpose LIKE '信用核查：%'")
                ).scalar_one(),
                "events": conn.execute(
                    text("SELECT count(*) FROM outbox WHERE event_type = 'credit_check.made'")
                ).scalar_one(),
            }
    finally:
        c.dispose()


def db_counters(url: str) -> tuple[int, int]:
    """(WAL bytes the cluster has written, sessions opened on this database so far): what a
    round's writes cost in WAL, and whether the server opened connections during it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            b, n = conn.execute(
                text(
                    "SELECT (SELECT wal_bytes FROM pg_stat_wal), sessions "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            ).one()
            return int(b), int(n)
    finally:
        engine.dispose()


def run(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    city = _bulk.city_for(
        url,
        data_dir,
        reuse=bool(args.reuse),
        subjects=args.subjects,
        records=args.records,
        seed=args.seed,
    )
    say(city.line())
    before = audit_counts(url, data_dir)
    wrk = _server.ensure_wrk()
    work = data_dir / "wrk"  # removed with the data directory
    work.mkdir(exist_ok=True)
    checks, bare = request_rows(city, args.requests, args.seed + 1)
    check_file = _server.write_requests(work / "checks.tsv", checks)
    bare_file = _server.write_requests(work / "bare.tsv", bare)
    env = _bulk.server_env(url, data_dir)
    say(
        f"server citycredit.web.serve workers={args.workers} (one listening socket each, "
        f"scheduler off); {_server.wrk_version(wrk)}; "
        f"paced threads=connections={args.paced_threads}; closed threads={args.closed_threads} "
        f"connections={args.connections}; requests cycle over {args.requests} subjects; "
        f"database pool per worker: {_pool_line(url, data_dir)}; cores={os.cpu_count()}"
    )
    ok_checks = 0
    cpu: dict[str, tuple[float, float]] = {}
    with _server.server(env, workers=args.workers, log=work / "server.log") as srv:
        base = srv.base
        meter = _server.CpuMeter(srv.pgid, url)
        for name, file in (("check", check_file), ("bare", bare_file)):
            w = _server.closed(
                wrk,
                base,
                file,
                work,
                seconds=args.warmup,
                threads=args.closed_threads,
                connections=args.connections,
            )
            if name == "check":
                ok_checks += int(w["requests"]) - int(w["non2xx"])
            say(f"warmup {name} {w['line']}")
        load0 = load()
        p = _server.paced(
            wrk,
            base,
            check_file,
            work,
            rate=args.rate,
            seconds=args.duration,
            threads=args.paced_threads,
        )
        ok_checks += int(p["requests"]) - int(p["non2xx"])
        say(f"paced check rate={args.rate:g}/s load={load0}->{load()} {p['line']}")
        # The closed-loop rates alternate in rounds (check, bare, check, bare …), so that a
        # change in what the shared host gives this machine over the minutes of the run weighs
        # on both endpoints alike; each rate is its requests over its seconds in all rounds.
        runs: dict[str, list[dict[str, Any]]] = {"check": [], "bare": []}
        spent = {"check": [0.0, 0.0], "bare": [0.0, 0.0]}
        seconds = max(args.max_duration // args.rounds, 1)
        for k in range(args.rounds):
            for name, file in (("check", check_file), ("bare", bare_file)):
                load0 = load()
                snap, db0, at = meter.snapshot(), db_counters(url), time.strftime("%H:%M:%S")
                r = _server.closed(
                    wrk,
                    base,
                    file,
                    work,
                    seconds=seconds,
                    threads=args.closed_threads,
                    connections=args.connections,
                )
                if name == "check":
                    ok_checks += int(r["requests"]) - int(r["non2xx"])
                server_s, db_s = meter.used(snap, meter.snapshot())
                db1 = db_counters(url)
                spent[name][0] += server_s
                spent[name][1] += db_s
                runs[name].append(r)
                per = 1 / max(int(r["requests"]), 1)  # per request
                say(
                    f"closed {name} round={k + 1}/{args.rounds} at={at} load={load0}->{load()} "
                    f"server_ms/req={server_s * 1000 * per:.2f} "
                    f"postgres_ms/req={db_s * 1000 * per:.2f} "
                    f"wal_kb/req={(db1[0] - db0[0]) / 1024 * per:.1f} "
                    # the counters' own connection is one of them
                    f"connections_opened={db1[1] - db0[1] - 1} {r['line']}"
                )
        results = {name: _merged(got) for name, got in runs.items()}
        for name, r in results.items():
            n = r["requests"]
            cpu[name] = (spent[name][0] * 1000 / n, spent[name][1] * 1000 / n)
            say(
                f"closed {name} all rounds requests={n} duration_s={r['duration_s']:.3f} "
                f"rps={r['rps']:.1f} errors={r['errors']}"
            )
            say(
                f"cpu {name} server_ms_per_request={cpu[name][0]:.2f} "
                f"postgres_ms_per_request={cpu[name][1]:.2f}"
            )
    after = audit_counts(url, data_dir)
    made = {k: after[k] - before[k] for k in after}
    # wrk stops with requests in flight (at most one per connection per run): the server
    # completes them, wrk does not count them.
    in_flight = (1 + args.rounds) * args.connections + args.paced_threads
    say(f"audit 2xx_checks_counted_by_wrk={ok_checks} stored={made} (in flight <= {in_flight})")
    if len(set(made.values())) != 1 or not ok_checks <= made["checks"] <= ok_checks + in_flight:
        say("audit MISMATCH: every check must be stored, logged and emitted exactly once")
    cpu_ratio = sum(cpu["bare"]) / sum(cpu["check"])
    say(
        f"cpu_ratio (bare ÷ check CPU per request, server + postgres)={cpu_ratio:.3f}: the "
        "throughput ratio the two cores would give if nothing else ran on them"
    )
    errors = p["errors"] + results["check"]["errors"] + results["bare"]["errors"]
    check_rps, bare_rps = results["check"]["rps"], results["bare"]["rps"]
    return {
        "p99_ms": float(p["p99_ms"]),
        "check_max_rps": float(check_rps),
        "bare_max_rps": float(bare_rps),
        "ratio": float(check_rps) / float(bare_rps),
        "errors": float(errors),
    }


def _merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint's closed-loop rounds as one run: requests and errors over all seconds."""
    requests = sum(int(r["requests"]) for r in runs)
    duration = sum(float(r["duration_s"]) for r in runs)
    return {
        "requests": requests,
        "duration_s": duration,
        "rps": requests / duration,
        "errors": sum(int(r["errors"]) for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=3_000_000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=int, default=60, help="seconds of the paced run")
    ap.add_argument("--max-duration", type=int, default=60, help="closed-loop seconds per endpoint")
    ap.add_argument(
        "--rounds",
        type=int,
        default=12,
        help="closed-loop rounds, alternating the endpoints (short rounds: the host's drift "
        "weighs on both alike)",
    )
    ap.add_argument("--warmup", type=int, default=10, help="seconds per endpoint, not reported")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--paced-threads", type=int, default=16)
    ap.add_argument("--closed-threads", type=int, default=1)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--requests", type=int, default=20_000, help="distinct requests per file")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--keep", action="store_true", help="keep the database (development)")
    ap.add_argument("--reuse", help="an existing benchmark database (development)")
    args = ap.parse_args()
    started = time.perf_counter()
    with _bulk.workspace("checks", keep=args.keep, reuse=args.reuse) as (url, data_dir):
        figures = run(url, data_dir, args)
    say(f"runtime_s={time.perf_counter() - started:.0f}")
    f = figures
    print(
        f"ratios p99_ms/{TARGET_P99_MS:g}={f['p99_ms'] / TARGET_P99_MS:.3f} (<=1 meets) "
        f"ratio/{TARGET_RATIO:g}={f['ratio'] / TARGET_RATIO:.3f} (>=1 meets) "
        f"errors={f['errors']:.0f} (0 meets)"
    )
    print(
        f"p99_ms={f['p99_ms']:.2f} check_max_rps={f['check_max_rps']:.0f} "
        f"bare_max_rps={f['bare_max_rps']:.0f} ratio={f['ratio']:.3f} errors={f['errors']:.0f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
