"""Evaluation at city scale: the enterprise model on DuckDB and Spark, re-evaluation on PostgreSQL.

Issue #4 item 6. Three parts, one run:

1. Data (untimed): N subjects and R fact rows written as the de-identified Parquet export
   (`citycredit.analytics.export.SCHEMAS`, file names `engines.PARQUET_FILES`) with Arrow and
   numpy in chunks of ~1M rows (one row group each), deterministic seed, in a child process
   (so the peak RSS of this process is that of the engines, not of the generator). Rows are
   sorted by subject like the real export, each facts row with its subject's type like the
   export (format /2); item codes, severities, values and categories are drawn from the ones
   the models test, so every indicator matches something (the item uniformly, then one of its
   tested value/category combinations).
2. DuckDB (threads=2): the enterprise model (`engines.duckdb_table`, the compiled one-pass
   query, result materialised as Arrow) against the LIMIT — one bare
   ``GROUP BY subject_id`` over the same `facts` with one plain ``max()`` per column the model
   reads (taken from the compiled SQL: `fact_columns_read`), also materialised. Interleaved,
   best of --runs each. ratio = model ÷ limit.
   Then Spark local[2] on the same files: the compiled Spark SQL collected through Arrow
   (what `evaluate_spark` runs, without the Python re-scoring), and the same limit on Spark.
   A sample of rows of each engine is re-scored by `scoring.result_from_row` (raises on any
   mismatch) and the two engines' score sums are compared.
3. PostgreSQL (own database, dropped at the end): subjects and records bulk-loaded by
   `benchmarks/_bulk.py`; `engines.evaluate_db(conn, models, [subject_id], as_of)` timed for
   --reeval random enterprise subjects (after 20 warm-up calls); p99 in ms.

    .venv/bin/python benchmarks/evaluation.py --subjects 20000 --records 1000000 \
        --pg-records 200000            # development
    .venv/bin/python benchmarks/evaluation.py  # full scale: 1M subjects, 50M records, PG 10M

Last line: ratio=… model_s=… scan_s=… spark_s=… peak_rss_mb=… reeval_p99_ms=…
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_RATIO = 1.5
TARGET_P99_MS = 20.0
AS_OF = date(2026, 11, 25)
ROW_GROUP = 1_000_000
SUBJECT_TYPES = (
    ("enterprise", 0.55),
    ("individual_business", 0.25),
    ("farmer_cooperative", 0.04),
    ("private_non_enterprise", 0.03),
    ("social_group", 0.03),
    ("public_institution", 0.03),
    ("government_body", 0.02),
    ("farm_household", 0.05),
)
EXTRA_ITEMS = ("abnormal_operation", "registration", "licence", "penalty", "honour")


def say(line: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {line}", flush=True)


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set (VmHWM) of a process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pids() -> list[int]:
    me = os.getpid()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me:
            out.append(int(p.name))
    return out


# --- 1. data --------------------------------------------------------------------------------


def _vocabulary() -> dict[str, Any]:
    """Item codes and, per item, the severities / values / categories the models test."""
    from citycredit.evaluation.facts import VALUE_FIELDS
    from citycredit.evaluation.model import FusionMode, load_models

    items: set[str] = set(VALUE_FIELDS) | set(EXTRA_ITEMS)
    values: dict[str, set[str]] = {}
    cats: dict[str, set[str]] = {}
    for m in load_models().current():
        for ind in m.indicators:
            for it in ind.items:
                items.add(it)
                values.setdefault(it, set()).update(ind.values, ind.scale)
                cats.setdefault(it, set()).update(ind.categories)
        fusion = m.fusion
        if fusion is not None:
            values.setdefault(fusion.item, set()).update(fusion.scale)
            for mode in FusionMode:
                cats.setdefault(fusion.item, set()).update(fusion.industries(mode))
    item_list = sorted(items)
    # One table of (item, value, category) choices: value/category null where none is tested.
    combos: list[tuple[str, str | None, str | None]] = []
    for it in item_list:
        vs: list[str | None] = [*sorted(values.get(it, ()))] or [None]
        cs: list[str | None] = [*sorted(cats.get(it, ()))] or [None]
        combos += [(it, v, c) for v in vs for c in cs]
    return {"combos": combos}


def _generate(out: Path, subjects: int, records: int, seed: int) -> None:
    """Write the three Parquet files (run in a child process)."""
    from citycredit.analytics.export import SCHEMAS
    from citycredit.evaluation.engines import PARQUET_FILES
    from citycredit.lists.loader import default_lists

    rng = np.random.default_rng(seed)
    ids = pa.array([f"S{n:08d}" for n in range(subjects)], pa.string())
    epoch = AS_OF.toordinal() - date(1970, 1, 1).toordinal()
    type_names = pa.array([t for t, _ in SUBJECT_TYPES])
    weights = np.array([w for _, w in SUBJECT_TYPES])
    type_idx = rng.choice(len(SUBJECT_TYPES), subjects, p=weights / weights.sum())
    reg = epoch - rng.integers(0, 30 * 365, subjects)
    reg_arr = pa.array(reg.astype(np.int32), pa.int32()).cast(pa.date32())
    reg_arr = pc.if_else(pa.array(rng.random(subjects) < 0.01), None, reg_arr)
    subj = pa.table(
        [ids, type_names.take(pa.array(type_idx)), reg_arr], schema=SCHEMAS["fact_subjects"]
    )
    pq.write_table(subj, out / PARQUET_FILES["fact_subjects"], row_group_size=ROW_GROUP)

    # Memberships: ~3% of subjects, one or two each.
    lists = default_lists().list_types
    codes = sorted(lists)
    kinds = [lists[c].kind.value for c in codes]
    nm = max(1, subjects * 3 // 100)
    owners = np.sort(rng.choice(subjects, nm, replace=False))
    li = rng.integers(0, len(codes), nm)
    decided = epoch - rng.integers(0, 1500, nm)
    expires = decided + rng.integers(180, 1500, nm)
    mem = pa.table(
        [
            ids.take(pa.array(owners)),
            pa.array(codes).take(pa.array(li)),
            pa.array(kinds).take(pa.array(li)),
            pa.array(decided.astype(np.int32)).cast(pa.date32()),
            pc.if_else(
                pa.array(rng.random(nm) < 0.5),
                None,
                pa.array(expires.astype(np.int32)).cast(pa.date32()),
            ),
            pc.if_else(
                pa.array(rng.random(nm) < 0.9),
                None,
                pa.array((decided + 200).astype(np.int32)).cast(pa.date32()),
            ),
        ],
        schema=SCHEMAS["fact_memberships"],
    )
    pq.write_table(mem, out / PARQUET_FILES["fact_memberships"], row_group_size=ROW_GROUP)

    # Facts: chunks of ~ROW_GROUP rows over contiguous subject ranges, sorted by subject.
    combos = _vocabulary()["combos"]
    c_item = pa.array([c[0] for c in combos])
    c_value = pa.array([c[1] for c in combos], pa.string())
    c_cat = pa.array([c[2] for c in combos], pa.string())
    item_names = sorted({c[0] for c in combos})
    item_starts = np.array(
        [next(i for i, c in enumerate(combos) if c[0] == it) for it in item_names]
    )
    item_sizes = np.array([sum(1 for c in combos if c[0] == it) for it in item_names])
    severities = pa.array(["serious", "general", "minor", None], pa.string())
    sev_p = np.array([0.1, 0.3, 0.2, 0.4])
    chunks = max(1, round(records / ROW_GROUP))
    s_edges = np.linspace(0, subjects, chunks + 1).astype(np.int64)
    r_edges = np.linspace(0, records, chunks + 1).astype(np.int64)
    path = out / PARQUET_FILES["facts"]
    with pq.ParquetWriter(path, SCHEMAS["facts"], compression="zstd") as writer:
        for i in range(chunks):
            n = int(r_edges[i + 1] - r_edges[i])
            owner = np.sort(rng.integers(s_edges[i], s_edges[i + 1], n))
            # Item first (uniform over the items), then one of its combinations: drawing the
            # combinations uniformly made an item with many of them (industry_evaluation: 44
            # grade × industry pairs) 69 % of all facts, which no city's archive looks like.
            pick = rng.integers(0, len(item_starts), n)
            ci = pa.array(item_starts[pick] + rng.integers(0, 1 << 30, n) % item_sizes[pick])
            dd = epoch + 30 - rng.integers(0, 6 * 365, n)  # a few after as_of
            pe = dd + rng.integers(90, 1500, n)
            batch = pa.table(
                [
                    ids.take(pa.array(owner)),
                    type_names.take(pa.array(type_idx[owner])),  # the subject's type (export /2)
                    c_item.take(ci),
                    pa.array(dd.astype(np.int32)).cast(pa.date32()),
                    severities.take(pa.array(rng.choice(4, n, p=sev_p))),
                    pc.if_else(
                        pa.array(rng.random(n) < 0.3),
                        None,
                        pa.array(pe.astype(np.int32)).cast(pa.date32()),
                    ),
                    pa.array((rng.random(n) < 0.8).astype(np.int32)),
                    pc.if_else(
                        pa.array(rng.random(n) < 0.97),
                        None,
                        pa.array((dd + 120).astype(np.int32)).cast(pa.date32()),
                    ),
                    c_value.take(ci),
                    c_cat.take(ci),
                ],
                schema=SCHEMAS["facts"],
            )
            writer.write_table(batch, row_group_size=ROW_GROUP)
            if (i + 1) % 10 == 0 or i + 1 == chunks:
                print(f"  facts chunk {i + 1}/{chunks}", flush=True)


def generate(out: Path, subjects: int, records: int, seed: int) -> float:
    t0 = time.perf_counter()
    proc = multiprocessing.get_context("fork").Process(
        target=_generate, args=(out, subjects, records, seed)
    )
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"data generation failed (exit {proc.exitcode})")
    return time.perf_counter() - t0


# --- 2. DuckDB and Spark ------------------------------------------------------------------------


def fact_columns_read(model: Any) -> list[str]:
    """The facts columns the model's DuckDB query reads (besides subject_id), in file order.

    Taken from the compiled SQL itself (every `f.<column>`; `f` is the alias of facts), so the
    limit reads exactly what the model reads — no more (a column the model never reads would
    only slow the limit down), no less.
    """
    import sqlglot
    from sqlglot import exp

    from citycredit.analytics.export import PARQUET_FACT_COLUMNS
    from citycredit.evaluation.compiler import compile_model

    tree = sqlglot.parse_one(compile_model(model, "duckdb").sql, read="duckdb")
    read = {c.name for c in tree.find_all(exp.Column) if c.table == "f"}
    unknown = read - set(PARQUET_FACT_COLUMNS)
    assert not unknown, unknown
    return [c for c in PARQUET_FACT_COLUMNS if c in read and c != "subject_id"]


def limit_sql(columns: list[str], prefix: str = "") -> str:
    aggs = ", ".join(f"max({c}) AS m_{c}" for c in columns)
    return f"SELECT subject_id, {aggs} FROM {prefix}facts GROUP BY subject_id"


def check_rows(model: Any, table: pa.Table, n: int = 2000) -> int:
    """Re-score the first n rows in Python (raises EngineMismatch on any difference)."""
    from citycredit.evaluation.scoring import result_from_row

    for row in table.slice(0, n).to_pylist():
        result_from_row(model, AS_OF, row)
    return min(n, table.num_rows)


def run_duckdb(data: Path, model: Any, runs: int) -> dict[str, Any]:
    from citycredit.evaluation.engines import duckdb_table, open_duckdb

    con = open_duckdb(data, threads=2)
    model_t: list[float] = []
    scan_t: list[float] = []
    rows = scan_rows = 0
    table = None
    for r in range(runs):
        t0 = time.perf_counter()
        table = duckdb_table(con, model, AS_OF)
        model_t.append(time.perf_counter() - t0)
        rows = table.num_rows
        t0 = time.perf_counter()
        scan = con.sql(limit_sql(fact_columns_read(model))).to_arrow_table()
        scan_t.append(time.perf_counter() - t0)
        scan_rows = scan.num_rows
        del scan
        say(
            f"duckdb run {r + 1}/{runs}: model {model_t[-1]:.2f}s ({rows} rows), "
            f"limit {scan_t[-1]:.2f}s ({scan_rows} rows)"
        )
    assert table is not None
    checked = check_rows(model, table)
    score_sum = int(pc.sum(table["score"]).as_py())
    con.close()
    return {
        "model_s": min(model_t),
        "scan_s": min(scan_t),
        "rows": rows,
        "checked": checked,
        "score_sum": score_sum,
        "all_model": model_t,
        "all_scan": scan_t,
    }


def run_spark(data: Path, model: Any, runs: int) -> dict[str, Any]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from citycredit.evaluation.compiler import compile_model, output_columns
    from citycredit.evaluation.engines import PARQUET_FILES, spark_session

    t0 = time.perf_counter()
    # Task results (~50 MB of Arrow each here) travel back directly over RPC instead of through
    # the block manager: one run failed with TaskResultLost (local mode does not retry tasks).
    spark = spark_session("local[2]", conf={"spark.task.maxDirectResultSize": "120m"})
    spark.sparkContext.setLogLevel("ERROR")
    say(f"spark session up in {time.perf_counter() - t0:.1f}s")
    try:
        for name, file in PARQUET_FILES.items():
            spark.read.parquet(str(data / file)).createOrReplaceTempView(name)
        compiled = compile_model(model, "spark")
        model_t: list[float] = []
        scan_t: list[float] = []
        table = None
        for r in range(runs):
            t0 = time.perf_counter()
            frame = spark.sql(compiled.sql, args=compiled.params(AS_OF))
            table = frame.select(*output_columns(model)).toArrow()
            model_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            scan = spark.sql(limit_sql(fact_columns_read(model))).toArrow()
            scan_t.append(time.perf_counter() - t0)
            say(
                f"spark run {r + 1}/{runs}: model {model_t[-1]:.2f}s ({table.num_rows} rows), "
                f"limit {scan_t[-1]:.2f}s ({scan.num_rows} rows)"
            )
            del scan
        assert table is not None
        jvm_mb = max((vm_hwm_mb(p) for p in child_pids()), default=0.0)
        return {
            "spark_s": min(model_t),
            "spark_scan_s": min(scan_t),
            "rows": table.num_rows,
            "checked": check_rows(model, table),
            "score_sum": int(pc.sum(table["score"]).as_py()),
            "jvm_peak_mb": jvm_mb,
        }
    finally:
        spark.stop()


# --- 3. PostgreSQL re-evaluation ----------------------------------------------------------------


def run_reeval(
    pg_subjects: int, pg_records: int, calls: int, keep: bool, cold_calls: int = 200
) -> dict[str, Any]:
    import _bulk
    from sqlalchemy import create_engine, text

    from citycredit.evaluation.engines import evaluate_db
    from citycredit.evaluation.model import load_models

    models = load_models()
    with _bulk.workspace("evaluation", keep=keep) as (url, data_dir):
        t0 = time.perf_counter()
        # lean: clones keep their template's sealed personal fields (evaluation reads none).
        city = _bulk.city_for(
            url, data_dir, reuse=False, subjects=pg_subjects, records=pg_records, lean=True
        )
        load_s = time.perf_counter() - t0
        say(city.line())
        say(f"postgresql load {load_s:.0f}s (untimed)")
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                ids = list(
                    conn.execute(
                        text(
                            "SELECT subject_id FROM subjects WHERE subject_type = 'enterprise' "
                            "ORDER BY subject_id"
                        )
                    ).scalars()
                )
                rng = np.random.default_rng(7)
                pick = [ids[i] for i in rng.choice(len(ids), min(calls + 20, len(ids)), False)]
                as_of = datetime.now(UTC).date() + timedelta(days=1)
                evaluated = 0
                times: list[float] = []
                # Each call in its own transaction, ended by COMMIT like the outbox consumer's
                # unit of work (nothing is written). psycopg prepares the statement on the
                # server after 5 executions, and PostgreSQL then keeps a generic plan.
                for n, sid in enumerate(pick):
                    t0 = time.perf_counter()
                    got = evaluate_db(conn, models, [sid], as_of)
                    dt = time.perf_counter() - t0
                    conn.commit()
                    evaluated += len(got)
                    if n >= 20:
                        times.append(dt)
                # For comparison (not the reported figure): ended by ROLLBACK instead, psycopg
                # discards its prepared statements every time, so every call is planned anew.
                cold: list[float] = []
                for sid in pick[: min(cold_calls, len(pick))]:
                    t0 = time.perf_counter()
                    got = evaluate_db(conn, models, [sid], as_of)
                    cold.append(time.perf_counter() - t0)
                    conn.rollback()
                    evaluated += len(got)
        finally:
            engine.dispose()
    ms = np.array(times) * 1000
    cold_ms = np.array(cold or [float("nan")]) * 1000
    return {
        "reeval_p50_ms": float(np.percentile(ms, 50)),
        "reeval_p99_ms": float(np.percentile(ms, 99)),
        "reeval_max_ms": float(ms.max()),
        "cold_p50_ms": float(np.percentile(cold_ms, 50)),
        "cold_p99_ms": float(np.percentile(cold_ms, 99)),
        "cold_calls": len(cold),
        "calls": len(times),
        "evaluated": evaluated,
        "pg_records": city.records,
        "pg_subjects": city.subjects,
        "load_s": load_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=50_000_000)
    ap.add_argument("--pg-records", type=int, default=10_000_000)
    ap.add_argument("--pg-subjects", type=int, default=None, help="default: pg-records / 10")
    ap.add_argument("--reeval", type=int, default=1000, help="timed re-evaluations")
    ap.add_argument("--runs", type=int, default=3, help="DuckDB runs (best is reported)")
    ap.add_argument("--spark-runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--data", type=Path, default=None, help="reuse/keep Parquet here")
    ap.add_argument("--keep", action="store_true", help="keep the Parquet dir and the database")
    args = ap.parse_args()

    from citycredit.evaluation.model import load_models

    started = time.perf_counter()
    model = load_models().current_for("enterprise")
    assert model is not None
    data = args.data or Path(tempfile.mkdtemp(prefix="cc-bench-eval-"))
    data.mkdir(parents=True, exist_ok=True)
    try:
        if not (data / "facts.parquet").exists():
            say(f"generating {args.subjects} subjects / {args.records} records into {data}")
            gen_s = generate(data, args.subjects, args.records, args.seed)
            say(f"generated in {gen_s:.0f}s (untimed)")
        meta = pq.ParquetFile(data / "facts.parquet").metadata
        size_mb = sum(f.stat().st_size for f in data.glob("*.parquet")) / 2**20
        say(
            f"facts.parquet rows={meta.num_rows} row_groups={meta.num_row_groups}; "
            f"{size_mb:.0f} MB of Parquet; model {model.code} {model.version} "
            f"({len(model.indicators)} indicators); as_of {AS_OF}"
        )
        say(f"limit: max() of the facts columns the model reads: {fact_columns_read(model)}")
        duck = run_duckdb(data, model, args.runs)
        peak = vm_hwm_mb()
        ratio = duck["model_s"] / duck["scan_s"]
        say(
            f"DuckDB (threads=2, best of {args.runs}): model {duck['model_s']:.2f}s, "
            f"limit {duck['scan_s']:.2f}s, ratio {ratio:.2f} (target <= {TARGET_RATIO}); "
            f"{duck['rows']} enterprise results, {duck['checked']} re-scored; "
            f"peak RSS {peak:.0f} MB"
        )
        spark_s = float("nan")
        if not args.skip_spark:
            sp = run_spark(data, model, args.spark_runs)
            spark_s = sp["spark_s"]
            same = sp["score_sum"] == duck["score_sum"] and sp["rows"] == duck["rows"]
            say(
                f"Spark local[2] (best of {args.spark_runs}): model {spark_s:.2f}s, "
                f"limit {sp['spark_scan_s']:.2f}s, ratio {spark_s / sp['spark_scan_s']:.2f}; "
                f"{spark_s / duck['model_s']:.1f}x DuckDB; {sp['checked']} re-scored; "
                f"same results as DuckDB: {same}; JVM peak RSS {sp['jvm_peak_mb']:.0f} MB"
            )
            if not same:
                raise SystemExit("Spark and DuckDB results differ")
    finally:
        if not (args.keep or args.data):
            shutil.rmtree(data, ignore_errors=True)
    p99 = float("nan")
    if not args.skip_pg:
        pg_subjects = args.pg_subjects or max(2000, args.pg_records // 10)
        say(f"postgresql: {pg_subjects} subjects / {args.pg_records} records")
        re = run_reeval(pg_subjects, args.pg_records, args.reeval, args.keep)
        p99 = re["reeval_p99_ms"]
        say(
            f"re-evaluation of one subject on PostgreSQL ({re['pg_records']} records, "
            f"{re['pg_subjects']} subjects): p50 {re['reeval_p50_ms']:.1f} ms, "
            f"p99 {p99:.1f} ms (target <= {TARGET_P99_MS}, ratio {p99 / TARGET_P99_MS:.2f}), "
            f"max {re['reeval_max_ms']:.1f} ms over {re['calls']} calls "
            f"({re['evaluated']} results); ended by ROLLBACK instead (no statement cache): "
            f"p50 {re['cold_p50_ms']:.1f} ms, p99 {re['cold_p99_ms']:.1f} ms over "
            f"{re['cold_calls']} calls"
        )
    say(f"total {time.perf_counter() - started:.0f}s; load average {os.getloadavg()[0]:.1f}")
    print(
        f"ratio={ratio:.2f} model_s={duck['model_s']:.2f} scan_s={duck['scan_s']:.2f} "
        f"spark_s={spark_s:.2f} peak_rss_mb={peak:.0f} reeval_p99_ms={p99:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
