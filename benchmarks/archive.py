"""The public 信用档案 at 10,000,000 records, on a PostgreSQL database of its own.

Data (benchmarks/_bulk.py, untimed): 1,000,000 subjects and 10,000,000 records with their
versions, generated with Arrow from a synthetic Yulin city that went through the real intake
and loaded with COPY (VACUUM ANALYZE and CHECKPOINT afterwards; nothing is read before the
first measured request). A subject's records are spread over the heap as in a city whose
departments report over the years.

Reads: the public archive of subjects drawn from a Zipf distribution (exponent 1.0 over a
random ranking of all 1,000,000 subjects, the same draw for both phases), as the anonymous
public reads it.

1. Service layer: 1,000 calls of subjects.archive.public_archive in this process, one at a time,
   each timed from call to return → archive_p99_ms (one untimed call first: the catalog is
   loaded on first use).
2. HTTP: GET /api/v1/subjects/{subject_id}/archive without a token, paced at 100 requests/s for
   60 s by wrk (one connection per wrk thread, latency from each request's scheduled send time —
   see _server.py; 5 s at the same rate first, not reported), the server (citycredit.web.serve)
   with the stated number of worker processes → http_p99_ms and http_errors (non-2xx responses
   and socket errors).

The last line holds the figures; the line before it their ratios to the targets.

    .venv/bin/python benchmarks/archive.py [--subjects 1000000] [--records 10000000]
        [--reads 1000] [--rate 100] [--duration 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk
import _server

TARGET_ARCHIVE_P99_MS = 20.0
TARGET_HTTP_P99_MS = 50.0
ZIPF_S = 1.0


def say(line: str) -> None:
    print(line, flush=True)


def service_reads(url: str, data_dir: Path, subject_ids: list[str]) -> dict[str, float]:
    """public_archive per subject, timed one by one (a fresh unit of work per call)."""
    from citycredit.accounts.model import ANONYMOUS
    from citycredit.subjects.archive import public_archive

    c = _bulk.make_container(url, data_dir)
    try:
        # Process start-up, not a read: the catalog is loaded and the modules imported once;
        # the name recogniser's dictionary is loaded as the server loads it at its start (G30).
        public_archive(c, ANONYMOUS, subject_ids[0])
        if c.settings.mask_names_in_public_text:
            from citycredit.shared.person_names import warm_up

            warm_up()
        lat: list[float] = []
        cpu: list[float] = []
        records = 0
        meter = _server.CpuMeter(None, url)
        snap = meter.snapshot()
        for sid in subject_ids:
            t, p = time.perf_counter(), time.process_time()
            view = public_archive(c, ANONYMOUS, sid)
            lat.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - p) * 1000)
            records += int(view["total"])
        _, db_s = meter.used(snap, meter.snapshot())
        return {
            "reads": len(lat),
            "distinct": len(set(subject_ids)),
            "public_records": records,
            "p50_ms": _server.nearest_rank(lat, 50),
            "p90_ms": _server.nearest_rank(lat, 90),
            "p99_ms": _server.nearest_rank(lat, 99),
            "max_ms": max(lat),
            "mean_ms": sum(lat) / len(lat),
            "cpu_p50_ms": _server.nearest_rank(cpu, 50),
            "cpu_p99_ms": _server.nearest_rank(cpu, 99),
            "db_cpu_ms": db_s * 1000 / len(lat),
        }
    finally:
        c.dispose()


def publicity_reads(url: str, data_dir: Path, pages: int = 10, rounds: int = 5) -> str:
    """The portal's 双公示 pages (dual_publicity: the newest public licences and penalties of
    the whole city, 20 a page), pages 1..`pages` of each item, `rounds` times; one line."""
    from citycredit.accounts.model import ANONYMOUS
    from citycredit.subjects.archive import DUAL_PUBLICITY_ITEMS, dual_publicity

    c = _bulk.make_container(url, data_dir)
    try:
        dual_publicity(c, ANONYMOUS, "penalty")  # start-up, not a read
        lat: list[float] = []
        shown = 0
        for _ in range(rounds):
            for item in DUAL_PUBLICITY_ITEMS:
                for page in range(pages):
                    t = time.perf_counter()
                    feed = dual_publicity(c, ANONYMOUS, item, limit=20, offset=page * 20)
                    lat.append((time.perf_counter() - t) * 1000)
                    shown += len(feed["entries"])
        return (
            f"service dual_publicity reads={len(lat)} entries_returned={shown} "
            f"p50_ms={_server.nearest_rank(lat, 50):.2f} "
            f"p99_ms={_server.nearest_rank(lat, 99):.2f} max_ms={max(lat):.2f} (no target)"
        )
    finally:
        c.dispose()


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
    rng = np.random.default_rng(args.seed + 2)
    picks = _bulk.zipf_sample(city.subjects, max(args.reads, args.requests), rng, ZIPF_S)
    ids = [city.subject_ids[i] for i in picks.tolist()]
    load0 = f"{os.getloadavg()[0]:.2f}"
    svc = service_reads(url, data_dir, ids[: args.reads])
    say(
        f"service public_archive reads={svc['reads']:.0f} distinct_subjects={svc['distinct']:.0f} "
        f"public_records_returned={svc['public_records']:.0f} p50_ms={svc['p50_ms']:.2f} "
        f"p90_ms={svc['p90_ms']:.2f} p99_ms={svc['p99_ms']:.2f} max_ms={svc['max_ms']:.2f} "
        f"mean_ms={svc['mean_ms']:.2f} load={load0}->{os.getloadavg()[0]:.2f}"
    )
    say(
        f"cpu service this_process_p50_ms={svc['cpu_p50_ms']:.2f} "
        f"this_process_p99_ms={svc['cpu_p99_ms']:.2f} "
        f"postgres_ms_per_read={svc['db_cpu_ms']:.2f} (wall minus these is waiting: round trips, "
        "and the run queue of a shared machine)"
    )
    say(publicity_reads(url, data_dir))
    wrk = _server.ensure_wrk()
    work = data_dir / "wrk"  # removed with the data directory
    work.mkdir(exist_ok=True)
    rows = [("GET", f"/api/v1/subjects/{sid}/archive", "", "") for sid in ids[: args.requests]]
    file = _server.write_requests(work / "archive.tsv", rows)
    say(
        f"server citycredit.web.serve workers={args.workers} (one listening socket each, "
        f"scheduler off); {_server.wrk_version(wrk)}; "
        f"paced threads=connections={args.threads}; {len(rows)} Zipf requests, "
        f"{len(set(ids[: args.requests]))} distinct subjects"
    )
    env = _bulk.server_env(url, data_dir)
    with _server.server(env, workers=args.workers, log=work / "server.log") as srv:
        base = srv.base
        meter = _server.CpuMeter(srv.pgid, url)
        # warm-up at the same rate (each worker loads the catalog on its first request)
        w = _server.paced(wrk, base, file, work, rate=args.rate, seconds=5, threads=args.threads)
        say(f"warmup 5 s, not reported: {w['line']}")
        load0 = f"{os.getloadavg()[0]:.2f}"
        snap = meter.snapshot()
        p = _server.paced(
            wrk, base, file, work, rate=args.rate, seconds=args.duration, threads=args.threads
        )
        server_s, db_s = meter.used(snap, meter.snapshot())
        say(f"http rate={args.rate:g}/s load={load0}->{os.getloadavg()[0]:.2f} {p['line']}")
        say(
            f"cpu http server_ms_per_request={server_s * 1000 / p['requests']:.2f} "
            f"postgres_ms_per_request={db_s * 1000 / p['requests']:.2f}"
        )
    return {
        "archive_p99_ms": float(svc["p99_ms"]),
        "http_p99_ms": float(p["p99_ms"]),
        "http_errors": float(p["errors"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--reads", type=int, default=1000, help="service-layer reads")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--duration", type=int, default=60, help="seconds of the paced HTTP run")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--threads", type=int, default=8, help="wrk threads (one connection each)")
    ap.add_argument("--requests", type=int, default=20_000, help="distinct requests in the file")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--keep", action="store_true", help="keep the database (development)")
    ap.add_argument("--reuse", help="an existing benchmark database (development)")
    args = ap.parse_args()
    started = time.perf_counter()
    with _bulk.workspace("archive", keep=args.keep, reuse=args.reuse) as (url, data_dir):
        figures = run(url, data_dir, args)
    say(f"runtime_s={time.perf_counter() - started:.0f}")
    f = figures
    print(
        f"ratios archive_p99_ms/{TARGET_ARCHIVE_P99_MS:g}="
        f"{f['archive_p99_ms'] / TARGET_ARCHIVE_P99_MS:.3f} (<=1 meets) "
        f"http_p99_ms/{TARGET_HTTP_P99_MS:g}={f['http_p99_ms'] / TARGET_HTTP_P99_MS:.3f} "
        f"(<=1 meets) http_errors={f['http_errors']:.0f} (0 meets)"
    )
    print(
        f"archive_p99_ms={f['archive_p99_ms']:.2f} http_p99_ms={f['http_p99_ms']:.2f} "
        f"http_errors={f['http_errors']:.0f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
