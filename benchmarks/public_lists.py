"""G28: the public 信用名单 pages (the soak's latency tail) on a city with many list entries.

Data (untimed, a database of its own, dropped afterwards: a PostgreSQL database on
CITYCREDIT_BENCH_PG, or a SQLite file in a temporary directory): --entries (20,000) list
entries in force and public, spread over the red list (红名单, local and A级纳税人 from tax)
and the black lists (失信被执行人, 市场监管严重失信, 重大税收违法, 经营异常), plus --hidden
(3,000) entries in force that the public view keeps out — source record withheld (不予公示) or
unpublished, source record not 公开, a natural person who was a minor on the decision date —
and --ended (3,000) that are not in force (expiry day passed but not yet swept; expired and
exited). The rest of the city is there too (--other-subjects subjects, --other-records records
of other items), so that a plan that reads whole tables shows. Rows are inserted directly
(core INSERTs, not the intake: the reads are timed, not the loading); ANALYZE afterwards.

Reads (the anonymous public, one at a time, each timed from call to return):

1. service: --reads calls of lists.service.public_list as the API calls it (100 a page), the
   list drawn uniformly from those with entries, the page from a geometric distribution
   (page 1 half of the time, deep pages rarely, up to the last page), plus as many as the
   portal page calls it.
2. http: --reads GETs through the ASGI app in this process (FastAPI TestClient, no network):
   half the portal page /lists/{type}?page=N (50 a page), half /api/v1/lists/{type}?offset=…
   (100 a page), with the same draw.

The last line holds `key=value` pairs: per database `<db>_service_p50_ms` … `<db>_http_p99_ms`,
and `p95_ratio` = the worst HTTP p95 ÷ the 300 ms limit of G28 (≤ 1 meets it).

    .venv/bin/python benchmarks/public_lists.py [--db postgresql,sqlite] [--entries 20000]
        [--hidden 3000] [--ended 3000] [--reads 300] [--other-subjects 50000]
        [--other-records 200000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk
import _server

TARGET_P95_MS = 300.0  # G28
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
# (list type, share of the entries in force, origins drawn from, organisations' share)
LISTS = (
    ("judgment_defaulter", 0.40, ("external",), 0.4),
    ("red_list", 0.25, ("external", "local"), 1.0),
    ("market_supervision_serious", 0.15, ("external", "local"), 1.0),
    ("major_tax_violation", 0.10, ("external",), 1.0),
    ("abnormal_operation", 0.10, ("external",), 1.0),
)
API_PAGE = 100
PORTAL_PAGE = 50  # web.pages.PAGE_SIZE
CHUNK = 5000


def say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def sqlite_database() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="cc-bench-lists-"))
    say(f"database {folder / 'bench.sqlite3'}")
    try:
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        say("database removed")


def make_container(url: str, data_dir: Path) -> Any:
    from pydantic import SecretStr

    from citycredit.accounts.policy import SecurityPolicy
    from citycredit.bootstrap import build_container
    from citycredit.settings import Settings
    from citycredit.shared.clock import FixedClock

    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key=SecretStr(_bulk.SECRET),
        seed_synthetic_city=False,
        job_interval_seconds=0,
        ledger_sequence_seconds=0,
        # one client stands for the city's many readers: no per-client public limit
        security=SecurityPolicy(public_rate_per_minute=0),
    )
    return build_container(settings, clock=FixedClock(NOW))


class Ids:
    def __init__(self, prefix: str) -> None:
        self.prefix, self.n = prefix, 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:012d}"


def build(c: Any, args: argparse.Namespace) -> dict[str, int]:
    """Insert the city (see the module docstring); return what is on each public list."""
    from sqlalchemy import insert

    from citycredit.accounts.db import DepartmentRow
    from citycredit.ingest.db import RecordRow
    from citycredit.lists.db import MembershipRow
    from citycredit.subjects.db import SubjectRow

    rng = random.Random(args.seed)
    sid, rid, mid = Ids("s"), Ids("r"), Ids("m")
    subjects: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []

    def subject(person: bool, *, minor_on: date | None = None) -> str:
        s = sid()
        if person:
            born = (
                minor_on - timedelta(days=rng.randint(365 * 10, 365 * 17))
                if minor_on is not None
                else date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28))
            )
            name = rng.choice("王李张刘陈杨赵黄周吴") + rng.choice("小大明华建国秀英") + "某"
        else:
            born = None
            name = f"榆林市{rng.choice(['恒通', '鑫源', '宏达', '金泰', '华能'])}{s[-6:]}有限公司"
        subjects.append(
            {
                "subject_id": s,
                "subject_type": "natural_person" if person else "enterprise",
                "name": name,
                "name_norm": name,
                "uscc": None if person else f"91610800{s[-10:]}",
                "id_digest": None,
                "id_masked": "6108**************" if person else None,
                "birth_date": born,
                "division_code": "610802",
                "professions": [],
                "legal_rep": None,
                "industry": None,
                "registered_on": None,
                "status": None,
                "origin": "record",
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        return s

    def record(s: str, item: str, *, published: bool = True, reason: str | None = None,
               openness: str = "public", status: str = "active") -> str:  # fmt: skip
        r = rid()
        records.append(
            {
                "id": r,
                "record_key": r.rjust(64, "0"),
                "key_text": f"{item}|{s}|{r}",
                "item_code": item,
                "subject_id": s,
                "department_id": 1,
                "current_version": 1,
                "status": status,
                "decision_date": TODAY - timedelta(days=rng.randint(1, 900)),
                "severity": None,
                "severity_inferred": False,
                "severity_rule": None,
                "published": published,
                "unpublished_reason": reason,
                "publication_end": None,
                "repair_from": None,
                "repaired_at": None,
                "repair_id": None,
                "publication_ended_at": None,
                "openness": openness,
                "due_date": None,
                "on_time": None,
                "first_submitted_at": NOW,
                "updated_at": NOW,
            }
        )
        return r

    def member(lt: str, origin: str, s: str, record_id: str | None, *, status: str = "published",
               decided: date, expires: date | None) -> None:  # fmt: skip
        m = mid()
        members.append(
            {
                "id": m,
                "list_type": lt,
                "subject_id": s,
                "origin": origin,
                "status": status,
                "department_id": 1,
                "record_id": record_id,
                "reasons": "有履行能力而拒不履行生效法律文书确定义务",
                "document_no": None,
                "decision_no": f"(2026)陕0802执{m[-6:]}号",
                "proposed_on": None,
                "noticed_on": None,
                "objection_due": None,
                "notice": {},
                "objection_pending": rng.random() < 0.01,
                "decided_on": decided,
                # many entries share a publication day: the order's tie-break (id) matters
                "published_on": decided + timedelta(days=rng.randint(0, 3)),
                "expires_on": expires,
                "ended_on": None,
                "period_months": None,
                "exit_code": None,
                "exit_reason": None,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )

    def draw_list() -> tuple[str, str, float]:
        x, acc = rng.random(), 0.0
        for lt, share, origins, orgs in LISTS:
            acc += share
            if x < acc:
                return lt, rng.choice(origins), orgs
        lt, _, origins, orgs = LISTS[-1]
        return lt, rng.choice(origins), orgs

    def entry(kind: str) -> str:
        lt, origin, orgs = draw_list()
        decided = TODAY - timedelta(days=rng.randint(1, 1000))
        expires = None if rng.random() < 0.5 else TODAY + timedelta(days=rng.randint(1, 700))
        person = rng.random() >= orgs
        status = "published"
        if kind == "minor":
            lt, origin, person = "judgment_defaulter", "external", True
        s = subject(person, minor_on=decided if kind == "minor" else None)
        hide: dict[str, Any] = {}
        if kind == "withheld":
            origin = "external"
            hide = rng.choice(
                [
                    {"published": False, "reason": "privacy"},
                    {"published": False, "reason": "severity"},
                    {"openness": "authorised"},
                ]
            )
        elif kind == "ended":
            expires = TODAY - timedelta(days=rng.randint(0, 300))  # expires_on <= today
            status = rng.choice(["published", "expired", "exited"])
        item = "judgment_defaulter" if lt == "judgment_defaulter" else "serious_dishonesty"
        r = record(s, item, **hide) if origin == "external" else None
        member(lt, origin, s, r, status=status, decided=decided, expires=expires)
        return lt

    shown: dict[str, int] = {}
    for _ in range(args.entries):
        lt = entry("public")
        shown[lt] = shown.get(lt, 0) + 1
    for i in range(args.hidden):
        entry("minor" if i % 4 == 0 else "withheld")
    for _ in range(args.ended):
        entry("ended")
    others = [subject(rng.random() < 0.5) for _ in range(args.other_subjects)]
    for _ in range(args.other_records):
        record(rng.choice(others), rng.choice(["admin_penalty", "admin_licence"]))

    with c.engine.begin() as conn:
        conn.execute(
            insert(DepartmentRow),
            [{"id": 1, "name": "榆林市中级人民法院", "code": "11610800MA0CRT01X", "kind": "court",
              "created_at": NOW}],
        )  # fmt: skip
        for table, rows in (
            (SubjectRow, subjects),
            (RecordRow, records),
            (MembershipRow, members),
        ):
            for at in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[at : at + CHUNK])
    if c.engine.dialect.name == "postgresql":
        with c.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with c.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    say(
        f"city subjects={len(subjects)} records={len(records)} memberships={len(members)} "
        f"public={args.entries} hidden={args.hidden} ended={args.ended} "
        + " ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    )
    return shown


def draws(shown: dict[str, int], n: int, page_size: int, seed: int) -> list[tuple[str, int]]:
    """(list type, page) pairs: the list uniform, the page geometric (½ page 1), capped at the
    list's last page."""
    rng = random.Random(seed)
    types = sorted(shown)
    out = []
    for _ in range(n):
        lt = rng.choice(types)
        last = max(1, -(-shown[lt] // page_size))
        page = 1
        while rng.random() < 0.5 and page < last:
            page += 1 if rng.random() < 0.7 else min(last - page, rng.randint(2, 40))
        out.append((lt, page))
    return out


def stats(lat: list[float]) -> dict[str, float]:
    return {f"p{p}_ms": _server.nearest_rank(lat, p) for p in (50, 95, 99)} | {"max_ms": max(lat)}


def run_service(c: Any, shown: dict[str, int], reads: int, seed: int) -> dict[str, float]:
    from citycredit.accounts.model import ANONYMOUS
    from citycredit.lists import service as lists

    lists.public_list(c, ANONYMOUS, sorted(shown)[0])  # catalog parsed once per process
    lat = []
    checked = 0
    for i, (lt, page) in enumerate(draws(shown, reads, API_PAGE, seed)):
        portal = i % 2 == 1
        size = PORTAL_PAGE if portal else API_PAGE
        t = time.perf_counter()
        data = lists.public_list(
            c, ANONYMOUS, lt, limit=size + 1 if portal else size, offset=(page - 1) * size
        )
        lat.append((time.perf_counter() - t) * 1000)
        want = min(size + (1 if portal else 0), max(0, shown[lt] - (page - 1) * size))
        if len(data["entries"]) != want:
            raise SystemExit(f"{lt} page {page}: {len(data['entries'])} entries, not {want}")
        checked += 1
    return stats(lat) | {"reads": float(checked)}


def run_http(c: Any, shown: dict[str, int], reads: int, seed: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from citycredit.web.app import create_app

    lat = []
    with TestClient(create_app(c, scheduler=False)) as client:
        client.get(f"/lists/{sorted(shown)[0]}")
        for i, (lt, page) in enumerate(draws(shown, reads, PORTAL_PAGE, seed + 1)):
            if i % 2:
                path = f"/lists/{lt}" + (f"?page={page}" if page > 1 else "")
            else:
                deep = min(page - 1, max(0, shown[lt] - 1) // API_PAGE)
                path = f"/api/v1/lists/{lt}?offset={deep * API_PAGE}"
            t = time.perf_counter()
            r = client.get(path)
            lat.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"GET {path}: {r.status_code} {r.text[:200]}")
    return stats(lat) | {"reads": float(len(lat))}


def one(db: str, args: argparse.Namespace) -> dict[str, float]:
    from sqlalchemy import create_engine

    from citycredit.db.migrate import upgrade

    opened = (
        _bulk.own_database("lists", keep=args.keep) if db == "postgresql" else sqlite_database()
    )
    with opened as url, tempfile.TemporaryDirectory(prefix="cc-bench-lists-data-") as data:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        c = make_container(url, Path(data))
        try:
            t = time.perf_counter()
            shown = build(c, args)
            say(f"{db} load_s={time.perf_counter() - t:.1f}")
            svc = run_service(c, shown, args.reads, args.seed)
            say(f"{db} service " + " ".join(f"{k}={v:.1f}" for k, v in svc.items()))
            http = run_http(c, shown, args.reads, args.seed)
            say(f"{db} http " + " ".join(f"{k}={v:.1f}" for k, v in http.items()))
        finally:
            c.dispose()
    short = "pg" if db == "postgresql" else "sqlite"
    out = {f"{short}_service_{k}": v for k, v in svc.items() if k != "reads"}
    return out | {f"{short}_http_{k}": v for k, v in http.items() if k != "reads"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", default="postgresql,sqlite")
    p.add_argument("--entries", type=int, default=20_000)
    p.add_argument("--hidden", type=int, default=3_000)
    p.add_argument("--ended", type=int, default=3_000)
    p.add_argument("--other-subjects", type=int, default=50_000)
    p.add_argument("--other-records", type=int, default=200_000)
    p.add_argument("--reads", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = p.parse_args()
    figures: dict[str, float] = {}
    for db in [d.strip() for d in args.db.split(",") if d.strip()]:
        if db not in ("postgresql", "sqlite"):
            raise SystemExit(f"--db: unknown database {db!r} (postgresql, sqlite)")
        figures |= one(db, args)
    worst = max(v for k, v in figures.items() if k.endswith("_http_p95_ms"))
    say(f"ratio http p95 {worst:.1f} ms of the {TARGET_P95_MS:.0f} ms limit (G28)")
    say(
        " ".join(f"{k}={v:.1f}" for k, v in figures.items() if not k.endswith("max_ms"))
        + f" p95_ratio={worst / TARGET_P95_MS:.3f}"
    )


if __name__ == "__main__":
    main()
