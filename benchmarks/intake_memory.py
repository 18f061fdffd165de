"""Streaming intake keeps memory flat: peak RSS of one submission at N and 4N rows.

Each size runs in a fresh subprocess on its own SQLite database (created and deleted), so the
peak RSS belongs to that submission alone. Prints rows/s, peak RSS per size and
rss_growth = peak(4N) ÷ peak(N) with its ratio to the limit (1.2: flat memory).

    .venv/bin/python benchmarks/intake_memory.py [--rows 25000]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_GROWTH = 1.2
HEADER = [
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


def _code(prefix: str, division: str, n: int) -> str:
    """A valid USCC with a numbered body."""
    from citycredit.shared.ids import org_code_check_char, uscc_check_char

    body = f"MA{n:06d}"
    first17 = prefix + division + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def write_file(path: Path, rows: int) -> None:
    """A penalty file: distinct subjects, 5% rows with an impossible date."""
    code = _code
    auth = code("11", "610800", 999999)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows):
            day = "2026-02-30" if i % 20 == 0 else f"2026-{1 + i % 9:02d}-{1 + i % 27:02d}"
            w.writerow(
                [
                    f"榆阳区第{i}号商贸有限公司",
                    "法人及非法人组织",
                    code("91", "610802", i),
                    f"榆市监罚〔2026〕{i}号",
                    "未按规定公示年度报告",
                    "经查，当事人未按规定公示年度报告。",
                    "《企业信息公示暂行条例》第十八条",
                    "罚款",
                    "罚款1万元",
                    "1",
                    day,
                    "榆林市市场监督管理局",
                    auth,
                    "榆林市市场监督管理局",
                    auth,
                ]
            )


def child(path: str, data_dir: str) -> None:
    """Run one submission and print its figures (in a fresh process)."""
    from pydantic import SecretStr

    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department, department_principal
    from citycredit.bootstrap import build_container
    from citycredit.db.migrate import upgrade
    from citycredit.ingest.service import ingest_submission
    from citycredit.settings import Settings

    c = build_container(
        Settings(data_dir=Path(data_dir), secret_key=SecretStr("bench-key-0123456789abcdef"))
    )
    upgrade(c.engine)
    add_department(c, SYSTEM, name="榆林市市场监督管理局", code=_code("11", "610800", 999998))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    r = ingest_submission(
        c, department_principal(c, "榆林市市场监督管理局"), path=Path(path), item_code="penalty"
    )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": r.counts.received,
                "new": r.counts.new,
                "rejected": r.counts.rejected,
                "seconds": seconds,
                "peak_rss_mb": peak / 1024,
                "before_mb": base / 1024,
            }
        )
    )


def measure(rows: int, tmp: Path) -> dict[str, float]:
    path = tmp / f"penalty-{rows}.csv"
    write_file(path, rows)
    data = tmp / f"db-{rows}"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=25000)
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        small = measure(args.rows, Path(tmp))
        large = measure(args.rows * 4, Path(tmp))
    for m in (small, large):
        print(
            f"rows={m['rows']:.0f} new={m['new']:.0f} rejected={m['rejected']:.0f} "
            f"seconds={m['seconds']:.1f} rows_per_s={m['rows'] / m['seconds']:.0f} "
            f"peak_rss_mb={m['peak_rss_mb']:.0f}"
        )
    growth = large["peak_rss_mb"] / small["peak_rss_mb"]
    print(
        f"rss_growth={growth:.3f} limit={LIMIT_GROWTH} ratio_to_limit={growth / LIMIT_GROWTH:.3f} "
        f"rows_per_s_sqlite={large['rows'] / large['seconds']:.0f}"
    )


if __name__ == "__main__":
    main()
