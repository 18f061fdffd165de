"""The 数据质量 report over a city-sized archive, on a PostgreSQL database of its own.

Data (benchmarks/_bulk.py, untimed): 100,000 subjects and 1,000,000 records by default
(--subjects / --records; the archive benchmark's generator: a synthetic Yulin city through the
real intake, cloned with Arrow and loaded with COPY).

Timed: `ingest.quality.compute_quality_report` — what the hourly `quality_report` job, `POST
/api/v1/quality/refresh` and `citycredit quality` run; the public page and API read its stored
snapshot (one row). Measured in a child process that imports only the platform (this one's
peak RSS is the data generator's): wall time, and the process's peak RSS before the call (the
platform loaded) and after it.

No target is set by an issue: the figure says whether an hourly refresh fits the hour at the
city's scale. The last line holds the figures.

    .venv/bin/python benchmarks/quality.py [--subjects 100000] [--records 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk

CHILD = """
import json, pathlib, time
from pydantic import SecretStr
from citycredit.bootstrap import build_container
from citycredit.ingest.quality import compute_quality_report
from citycredit.settings import Settings
c = build_container(Settings(database_url={url!r}, data_dir=pathlib.Path({data_dir!r}),
    secret_key=SecretStr({secret!r}), seed_synthetic_city=False, job_interval_seconds=0))
def hwm():  # VmHWM: this process image's peak (ru_maxrss would carry the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = hwm()
t = time.perf_counter()
report = compute_quality_report(c)
took = time.perf_counter() - t
c.dispose()
rss = hwm()
print(json.dumps({{"took_s": took, "peak_rss_mb": rss, "rss_before_mb": before,
                   "departments": len(report["departments"]),
                   "items": sum(len(d["items"]) for d in report["departments"])}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--runs", type=int, default=3, help="timed runs (each a fresh process)")
    ap.add_argument("--keep", action="store_true", help="keep the database (development)")
    ap.add_argument("--reuse", help="an existing benchmark database (development)")
    args = ap.parse_args()
    started = time.perf_counter()
    with _bulk.workspace("quality", keep=args.keep, reuse=args.reuse) as (url, data_dir):
        city = _bulk.city_for(
            url,
            data_dir,
            reuse=bool(args.reuse),
            subjects=args.subjects,
            records=args.records,
            seed=args.seed,
        )
        print(city.line(), flush=True)
        code = CHILD.format(url=url, data_dir=str(data_dir), secret=_bulk.SECRET)
        runs = []
        for n in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            ).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
            r = runs[-1]
            print(
                f"run {n + 1} took_s={r['took_s']:.2f} peak_rss_mb={r['peak_rss_mb']:.0f} "
                f"(before the call {r['rss_before_mb']:.0f}) "
                f"departments={r['departments']} cells={r['items']}",
                flush=True,
            )
    print(f"runtime_s={time.perf_counter() - started:.0f}")
    best = min(runs, key=lambda r: r["took_s"])
    print(
        f"records={args.records} quality_report_s={best['took_s']:.2f} "
        f"peak_rss_mb={max(r['peak_rss_mb'] for r in runs):.0f}"
    )


if __name__ == "__main__":
    main()
