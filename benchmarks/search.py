"""The portal's subject search at a city's scale, on a PostgreSQL database of its own.

Data (untimed): N subjects (--subjects, 1,000,000 by default) made by the synthetic city's own
subject builder (`synth.city.build_subjects`: its type mix — 22 % natural persons and farm
households, 22 % individual businesses, 38 % enterprises … — and its names: "榆林市鸿基矿业
有限公司", "横山区乔浩博羊肉铺", unique), seeded, loaded with COPY into a database migrated with
the project's migrations (secondary indexes of `subjects` dropped during the load and rebuilt,
then VACUUM ANALYZE).

Timed: `subjects.archive.search_subjects` as the anonymous portal calls it (organisations only,
20 results), through the service layer and the application's engine, for a fixed set of
queries by kind — rare 4 characters (1–20 matches), common words (榆林市, 有限公司, 煤业),
1 character (common and rare), 2 characters (rare and common), a full USCC, no match (4 and 2
characters) — each repeated --reps times (rounds over every query, so the statement cache sees
a mix), after two untimed calls. Each kind's plan is printed (EXPLAIN ANALYZE of the statement
the service sent, captured from the engine).

The last line: `search_p99_ms=<the worst query's p99>`, the worst p99 per kind, and
`ratio=limit/p99` against --limit-ms (50 ms).

    .venv/bin/python benchmarks/search.py [--subjects 1000000] [--reps 50] [--keep|--reuse DB]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bulk

PERSONS = ("natural_person", "farm_household")
COLUMNS = (
    *("subject_id", "subject_type", "name", "name_norm", "uscc", "id_digest", "id_masked"),
    *("birth_date", "division_code", "professions", "legal_rep", "industry", "registered_on"),
    *("status", "origin", "created_at", "updated_at"),
)
CHUNK = 100_000


def say(line: str) -> None:
    print(line, flush=True)


# --- data --------------------------------------------------------------------------------------


def _rows(c: Any, subjects: list[Any], seed: int) -> list[tuple[Any, ...]]:
    from citycredit.shared.ids import mask_id_number_at_rest
    from citycredit.shared.text import normalise_name

    rng = random.Random(seed ^ 0x5EA5C4)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    now = datetime(2026, 11, 1, 2, 0, tzinfo=UTC).isoformat()
    rows = []
    for s in subjects:
        person = s.is_person
        sid = "s" + "".join(rng.choice(alphabet) for _ in range(20))
        rows.append(
            (
                sid,
                s.type.value,
                s.name,
                normalise_name(s.name),
                None if person else (s.uscc or None),
                c.digester.digest("id-number", s.id_number) if person else None,
                mask_id_number_at_rest(s.id_number) if person else None,
                s.birth.isoformat() if s.birth else None,
                s.county,
                json.dumps(list(s.professions), ensure_ascii=False),
                None if person else s.legal_rep,
                None if person else (s.industry_label or None),
                s.established.isoformat() if s.established else None,
                None if person else s.status,
                "record",
                now,
                now,
            )
        )
    return rows


def load(url: str, data_dir: Path, n: int, seed: int) -> None:
    """Migrate, build n subjects, COPY them (secondary indexes rebuilt after), VACUUM ANALYZE."""
    import psycopg

    from citycredit.db.migrate import upgrade
    from citycredit.synth.city import build_subjects

    c = _bulk.make_container(url, data_dir)
    try:
        t = time.perf_counter()
        upgrade(c.engine)
        subjects = build_subjects(random.Random(seed), n, date(2026, 11, 1))
        rows = _rows(c, subjects, seed)
        del subjects
        say(f"generated subjects={len(rows)} in {time.perf_counter() - t:.0f}s")
    finally:
        c.dispose()
    dsn = "postgresql://" + url.split("://", 1)[1]
    with psycopg.connect(dsn) as pg:
        t = time.perf_counter()
        indexes = pg.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = 'subjects'::regclass AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        ).fetchall()
        for name, _ in indexes:
            pg.execute(f"DROP INDEX {name}")
        cols = ", ".join(COLUMNS)
        for start in range(0, len(rows), CHUNK):
            buf = io.StringIO()
            w = csv.writer(buf)
            for r in rows[start : start + CHUNK]:
                w.writerow(["\\N" if v is None else v for v in r])
            with (
                pg.cursor() as cur,
                cur.copy(f"COPY subjects ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp,
            ):
                cp.write(buf.getvalue().encode())
        pg.commit()
        say(f"copied in {time.perf_counter() - t:.0f}s")
        pg.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in indexes:
            t = time.perf_counter()
            pg.execute(definition)
            pg.commit()
            say(f"index {name} built in {time.perf_counter() - t:.1f}s")
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute("VACUUM (ANALYZE) subjects")
        pg.execute("CHECKPOINT")


# --- queries -----------------------------------------------------------------------------------


def queries(url: str, seed: int) -> list[tuple[str, str]]:
    """(kind, query): picked from the loaded names with a seeded random source."""
    import psycopg

    dsn = "postgresql://" + url.split("://", 1)[1]
    with psycopg.connect(dsn) as pg:
        rows = pg.execute(
            "SELECT name_norm, uscc FROM subjects WHERE subject_type <> ALL(%s) "
            "ORDER BY subject_id",
            (list(PERSONS),),
        ).fetchall()
    names = [r[0] for r in rows]
    rng = random.Random(seed)
    chars = Counter(ch for name in names for ch in set(name))
    pairs = Counter(name[i : i + 2] for name in names for i in range(len(name) - 1))

    def count(q: str) -> int:
        if len(q) == 1:
            return chars[q]
        if len(q) == 2:
            return pairs[q]
        return sum(1 for name in names if q in name)

    out: list[tuple[str, str]] = []
    while len([k for k, _ in out if k == "rare4"]) < 5:
        name = rng.choice(names)
        if len(name) < 9:
            continue
        start = rng.randrange(0, len(name) - 4)
        q = name[start : start + 4]
        if 1 <= count(q) <= 20 and ("rare4", q) not in out:
            out.append(("rare4", q))
    out += [("common", "榆林市"), ("common", "有限公司"), ("common", "煤业")]
    out += [("char1_common", "榆")]
    rare_chars = sorted((ch for ch, k in chars.items() if 1 <= k <= 20), key=lambda ch: ch)
    out += [("char1_rare", rng.choice(rare_chars))]
    rare_pairs = sorted(p for p, k in pairs.items() if 1 <= k <= 20 and len(p) == 2)
    out += [("char2_rare", rng.choice(rare_pairs)), ("char2_rare", "鑫磊")]
    out += [("char2_common", "商贸"), ("char2_common", "有限")]
    out += [("uscc", rng.choice([u for _, u in rows if u]))]
    out += [("none", "不存在的"), ("none", "鑫磊不在")]
    for kind, q in out:
        held = "a USCC" if kind == "uscc" else f"{count(q)} organisations' names hold it"
        say(f"query {kind:<13} {q!r}: {held}")
    return out


# --- timing ------------------------------------------------------------------------------------


def explain(c: Any, q: str) -> str:
    """EXPLAIN ANALYZE of the statement the service sends for q (captured from the engine)."""
    from citycredit.accounts.model import ANONYMOUS
    from citycredit.db.explain import explain_call
    from citycredit.subjects.archive import search_subjects

    return explain_call(
        c.engine,
        lambda: search_subjects(c, ANONYMOUS, q),
        table="subjects",
        options="(ANALYZE, BUFFERS, COSTS OFF)",
    )


def timed(c: Any, plan: list[tuple[str, str]], reps: int) -> dict[str, list[float]]:
    from citycredit.accounts.model import ANONYMOUS
    from citycredit.subjects.archive import search_subjects

    took: dict[str, list[float]] = {q: [] for _, q in plan}
    counts: dict[str, int] = {}
    for _ in range(2):
        for _, q in plan:
            counts[q] = len(search_subjects(c, ANONYMOUS, q))
    for _ in range(reps):
        for _, q in plan:
            t = time.perf_counter()
            search_subjects(c, ANONYMOUS, q)
            took[q].append((time.perf_counter() - t) * 1000)
    for kind, q in plan:
        ms = sorted(took[q])
        say(
            f"timed {kind:<13} {q!r}: results={counts[q]} p50_ms={statistics.median(ms):.2f} "
            f"p99_ms={_p99(ms):.2f} max_ms={ms[-1]:.2f}"
        )
    return took


def _p99(ms: list[float]) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--reps", type=int, default=50, help="timed calls per query (at least 50)")
    ap.add_argument("--limit-ms", type=float, default=50.0, help="the p99 aimed at")
    ap.add_argument("--no-plans", action="store_true", help="skip the EXPLAIN ANALYZE output")
    ap.add_argument("--keep", action="store_true", help="keep the database (development)")
    ap.add_argument("--reuse", help="an existing benchmark database (development)")
    args = ap.parse_args()
    started = time.perf_counter()
    with _bulk.workspace("search", keep=args.keep, reuse=args.reuse) as (url, data_dir):
        if not args.reuse:
            load(url, data_dir, args.subjects, args.seed)
        plan = queries(url, args.seed)
        c = _bulk.make_container(url, data_dir)
        try:
            if not args.no_plans:
                shown: set[str] = set()
                for kind, q in plan:
                    if kind not in shown or kind == "common":
                        shown.add(kind)
                        say(f"plan {kind} {q!r}:\n{explain(c, q)}")
            took = timed(c, plan, args.reps)
        finally:
            c.dispose()
    say(f"runtime_s={time.perf_counter() - started:.0f}")
    per_kind: dict[str, float] = {}
    for kind, q in plan:
        per_kind[kind] = max(per_kind.get(kind, 0.0), _p99(took[q]))
    worst = max(per_kind.values())
    say(
        f"search_p99_ms={worst:.2f} "
        + " ".join(f"{k}_p99_ms={v:.2f}" for k, v in per_kind.items())
        + f" limit_ms={args.limit_ms:.0f} ratio={args.limit_ms / worst:.2f}"
    )


if __name__ == "__main__":
    main()
