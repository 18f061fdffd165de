"""信用数据链 throughput, verification time and proof latency, on a PostgreSQL database of its own.

Phase 1 — the real path. N pending leaves are written as outbox events exactly as intake writes
them (a record, its version and an event whose payload["ledger"] is
record_version_entry(...).as_payload() over synthetic penalty field values); generating and
bulk-loading them is not timed. Then the sequencer — the `ledger` consumer registered by
build_container, run through ledger.service.integrate_now with the production batch size —
drains them: one committed transaction and one signed checkpoint per batch.
    leaves_per_s = N ÷ seconds until every leaf is committed under a signed checkpoint
    verify_s     = `ledger verify` (verify_log) at N leaves; it must report ok
Then NEW more pending leaves are sequenced and the hourly job's incremental check is timed:
    verify_incremental_s = verify_log(incremental=True) with a window of W older leaves: the NEW
                   leaves after the verified head, W older ones, and the record versions added
                   since (its cost does not grow with N); it must report ok
Phase 2 — a bulk path (Appender + COPY of compact filler leaves and their nodes, a signed
checkpoint per chunk; not the sequencer) grows the tree to TOTAL leaves, then P inclusion proofs
for random indexes at the latest size go through inclusion_proof(h, DbNodeReader(s), i, size) on
one open session → proof_p99_ms. Every proof is then verified against the checkpoint root
(untimed), and the service call ledger.service.inclusion is timed separately.

The database (random name) is created on the server and dropped at the end, even on failure.
The last line holds the figures; the line before it their ratios to the targets.

    .venv/bin/python benchmarks/ledger.py [--leaves 1000000] [--total 10000000] [--proofs 10000]
                                          [--service-proofs 10000] [--new-leaves 10000]
                                          [--window 131072]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

TARGET_LEAVES_PER_S = 20000
TARGET_PROOF_P99_MS = 1.0
SERVER = os.environ.get("CITYCREDIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SUBJECTS = 1000
GEN_CHUNK = 10000  # pending entries per generation task / COPY
BULK_CHUNK = 500_000  # phase-2 leaves per committed chunk (one checkpoint each)
DEPT = "榆林市市场监督管理局"
SECRET = "bench-key-0123456789abcdef"


def say(line: str) -> None:
    print(line, flush=True)


def _uscc(prefix: str, division: str, n: int) -> str:
    """A valid USCC with a numbered body."""
    from citycredit.shared.ids import org_code_check_char, uscc_check_char

    body = f"MA{n:06d}"
    first17 = prefix + division + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def _esc(text: str) -> str:
    """A value in PostgreSQL COPY text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# --- phase 1 input: what intake writes, generated in worker processes ---------------------

_CTX: dict[str, Any] = {}


def _init_worker(ctx: dict[str, Any]) -> None:
    _CTX.update(ctx)


def _fields(i: int, uscc: str, name: str) -> dict[str, Any]:
    """Normalised penalty field values (as intake stores them: strings, ISO dates, 元)."""
    return {
        "CF_XDR_MC": name,
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": uscc,
        "CF_WSH": f"榆市监罚〔2026〕{i}号",
        "CF_WFXW": "未按规定公示年度报告",
        "CF_SY": "经查，当事人未按规定公示年度报告。",
        "CF_YJ": "《企业信息公示暂行条例》第十八条",
        "CF_CFLB": "罚款",
        "CF_NR": f"罚款{1 + i % 9}万元",
        "CF_NR_FK": f"{(1 + i % 9) * 10000}.00",
        "CF_JDRQ": date(2026, 1 + i % 9, 1 + i % 27).isoformat(),
        "CF_CFJG": DEPT,
        "CF_CFJGDM": _CTX["dept_code"],
        "CF_SJLY": DEPT,
        "CF_SJLYDM": _CTX["dept_code"],
    }


def _gen_chunk(job: tuple[int, int]) -> tuple[str, str, str]:
    """COPY text of records, record_versions and outbox rows for entries [start, start + n)."""
    from citycredit.ledger.entries import record_version_entry
    from citycredit.shared.canonical import canonical_bytes
    from citycredit.shared.idgen import new_id

    start, n = job
    ctx = _CTX
    at: datetime = ctx["at"]
    at_s = at.isoformat()
    dept_id = ctx["dept_id"]
    subjects = ctx["subjects"]
    recs: list[str] = []
    vers: list[str] = []
    outs: list[str] = []
    for i in range(start, start + n):
        subject_id, uscc, name = subjects[i % len(subjects)]
        fields = _fields(i, uscc, name)
        rid = new_id("r")
        key_text = f"penalty|{subject_id}|{fields['CF_WSH']}"
        record_key = hashlib.sha256(key_text.encode()).hexdigest()
        digest = hashlib.sha256(canonical_bytes(fields)).hexdigest()
        entry = record_version_entry(
            ctx["suite"],
            record_id=rid,
            version=1,
            kind="original",
            item="penalty",
            subject_id=subject_id,
            department_id=dept_id,
            record_key=record_key,
            fields=fields,
            at=at,
        )
        payload = {
            "item": "penalty",
            "version": 1,
            "content_hash": digest,
            "submission_id": ctx["submission_id"],
            "ledger": entry.as_payload(),
        }
        recs.append(
            f"{rid}\t{record_key}\t{_esc(key_text)}\tpenalty\t{subject_id}\t{dept_id}\t1\tactive\t"
            f"{fields['CF_JDRQ']}\t一般\tt\tt\tpublic\t{at_s}\t{at_s}\n"
        )
        vers.append(
            f"{rid}\t1\toriginal\t{ctx['submission_id']}\t{i + 2}\t"
            f"{_esc(canonical_bytes(fields).decode())}\t{{}}\t{digest}\tbench\t{at_s}\n"
        )
        outs.append(
            f"record.accepted\trecord\t{rid}\t{subject_id}\t"
            f"{_esc(canonical_bytes(payload).decode())}\t{at_s}\n"
        )
    return "".join(recs), "".join(vers), "".join(outs)


def _first_load(c: Any, dept_id: Any, subjects: list[tuple[str, str, str]], n: int) -> None:
    """The benchmark's subjects and the submission its record versions come from."""
    from sqlalchemy import insert

    from citycredit.ingest.db import SubmissionRow
    from citycredit.subjects.db import SubjectRow

    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        s.execute(
            insert(SubjectRow),
            [
                {
                    "subject_id": sid,
                    "subject_type": "enterprise",
                    "name": name,
                    "name_norm": name,
                    "uscc": code,
                    "division_code": "610802",
                    "origin": "record",
                    "created_at": now,
                    "updated_at": now,
                }
                for sid, code, name in subjects
            ],
        )
        s.add(
            SubmissionRow(
                id="ubenchsubmission000001",
                department_id=dept_id,
                item_code="penalty",
                catalog_version="penalty-2026.1",
                filename="bench.csv",
                format="csv",
                encoding="utf-8",
                sha256="0" * 64,
                status="completed",
                received=n,
                new=n,
                notes=[],
                submitted_by="bench",
                created_at=now,
                completed_at=now,
            )
        )
        uow.commit()


def load_pending(c: Any, n: int, start: int = 0) -> float:
    """Write n pending record versions (numbered from `start`; the department, subjects and
    submission are made with the first ones) with their outbox events (untimed setup); seconds
    taken."""
    from sqlalchemy import select

    from citycredit.accounts.db import DepartmentRow
    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department

    t0 = time.perf_counter()
    now = c.clock.now()
    dept_code = _uscc("11", "610800", 999998)
    if start == 0:
        add_department(c, SYSTEM, name=DEPT, code=dept_code)
    subjects = []
    for k in range(SUBJECTS):
        name = f"榆阳区第{k}号商贸有限公司"
        subjects.append((f"sbench{k:015d}", _uscc("91", "610802", k), name))
    with c.uow() as uow:
        s = uow.session
        dept_id = s.scalar(select(DepartmentRow.id).where(DepartmentRow.name == DEPT))
    if start == 0:
        _first_load(c, dept_id, subjects, n)
    ctx = {
        "suite": c.settings.ledger_suite,
        "dept_id": dept_id,
        "dept_code": dept_code,
        "subjects": subjects,
        "submission_id": "ubenchsubmission000001",
        "at": now,
    }
    jobs = [(i, min(GEN_CHUNK, start + n - i)) for i in range(start, start + n, GEN_CHUNK)]
    raw = c.engine.raw_connection()
    try:
        pg = raw.driver_connection
        mp = multiprocessing.get_context("fork")
        with mp.Pool(2, initializer=_init_worker, initargs=(ctx,)) as pool:
            for recs, vers, outs in pool.imap(_gen_chunk, jobs):
                with pg.cursor() as cur:
                    with cur.copy(
                        "COPY records (id, record_key, key_text, item_code, subject_id, "
                        "department_id, current_version, status, decision_date, severity, "
                        "severity_inferred, published, openness, first_submitted_at, updated_at)"
                        " FROM STDIN"
                    ) as cp:
                        cp.write(recs)
                    with cur.copy(
                        "COPY record_versions (record_id, version, kind, submission_id, "
                        "row_number, payload, personal, content_hash, created_by, created_at)"
                        " FROM STDIN"
                    ) as cp:
                        cp.write(vers)
                    with cur.copy(
                        "COPY outbox (event_type, aggregate_type, aggregate_id, subject_id, "
                        "payload, created_at) FROM STDIN"
                    ) as cp:
                        cp.write(outs)
                pg.commit()
    finally:
        raw.close()
    _housekeeping(c, "outbox", "records", "record_versions")
    return time.perf_counter() - t0


def _housekeeping(c: Any, *tables: str) -> None:
    """VACUUM ANALYZE after a bulk load and a CHECKPOINT, so no timed phase pays for the load."""
    from sqlalchemy import text

    with c.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}"))
        conn.execute(text("CHECKPOINT"))


# --- phase 2: bulk growth ------------------------------------------------------------------


def bulk_extend(c: Any, total: int) -> tuple[int, float]:
    """Grow the tree to `total` leaves by Appender + COPY (compact filler leaves)."""
    from citycredit.ledger.db import LedgerCheckpointRow
    from citycredit.ledger.merkle import leaf_hash
    from citycredit.ledger.note import Checkpoint, checkpoint_text, sign_note
    from citycredit.ledger.store import appender_at, suite_extension, tree_size
    from citycredit.ledger.suites import Suite, hash_suite

    t0 = time.perf_counter()
    settings = c.settings
    suite = Suite(settings.ledger_suite)
    h = hash_suite(suite)
    with c.uow() as uow:
        start = tree_size(uow.session)
        app = appender_at(h, uow.session, start)
    now = c.clock.now()
    now_s = now.isoformat()
    salt_hex = "00" * 16
    raw = c.engine.raw_connection()
    try:
        pg = raw.driver_connection
        for lo in range(start, total, BULK_CHUNK):
            hi = min(total, lo + BULK_CHUNK)
            nodes: list[str] = []
            with pg.cursor() as cur:
                with cur.copy(
                    "COPY ledger_leaves (idx, leaf_hash, entry_type, ref, subject_id, "
                    "record_key, event_id, data, salt, integrated_at) FROM STDIN"
                ) as cp:
                    rows: list[str] = []
                    for i in range(lo, hi):
                        data = b'{"n":%d,"ref":"bench/%d","type":"bench.filler","v":1}' % (i, i)
                        lh = leaf_hash(h, data)
                        for lv, ix, hv in app.append(lh):
                            nodes.append(f"{lv}\t{ix}\t\\\\x{hv.hex()}\n")
                        rows.append(
                            f"{i}\t\\\\x{lh.hex()}\tbench.filler\tbench/{i}\t\\N\t\\N\t{-1 - i}\t"
                            f"\\\\x{data.hex()}\t\\\\x{salt_hex}\t{now_s}\n"
                        )
                        if len(rows) >= 20000:
                            cp.write("".join(rows))
                            rows.clear()
                    cp.write("".join(rows))
                with cur.copy("COPY ledger_nodes (level, idx, hash) FROM STDIN") as cp:
                    for k in range(0, len(nodes), 40000):
                        cp.write("".join(nodes[k : k + 40000]))
            pg.commit()
            with c.uow() as uow:
                cp_ = Checkpoint(
                    origin=settings.ledger_origin,
                    size=app.size,
                    root=app.root(),
                    extensions=suite_extension(suite),
                )
                uow.session.add(
                    LedgerCheckpointRow(
                        size=cp_.size,
                        root=cp_.root,
                        note=sign_note(checkpoint_text(cp_), [c.ledger_signer]),
                        created_at=now,
                    )
                )
                uow.commit()
    finally:
        raw.close()
    _housekeeping(c, "ledger_leaves", "ledger_nodes", "ledger_checkpoints")
    return total - start, time.perf_counter() - t0


# --- measurements -------------------------------------------------------------------------


def p99(samples: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def check_checkpoint(c: Any, want: int) -> None:
    """The latest checkpoint is signed by the log key and names `want` leaves."""
    from citycredit.ledger.note import open_note, parse_checkpoint
    from citycredit.ledger.store import latest_checkpoint

    with c.uow() as uow:
        cp = latest_checkpoint(uow.session)
        assert cp is not None and cp.size == want, (cp and cp.size, want)
        signed = parse_checkpoint(open_note(cp.note, [c.ledger_signer.verifier()]).text)
        assert signed.size == want and signed.root == bytes(cp.root)


def time_proofs(c: Any, count: int, service_count: int) -> dict[str, float]:
    from sqlalchemy import select

    from citycredit.ledger import service as ledger
    from citycredit.ledger.db import LedgerLeafRow
    from citycredit.ledger.merkle import inclusion_proof, verify_inclusion
    from citycredit.ledger.store import DbNodeReader, latest_checkpoint
    from citycredit.ledger.suites import Suite, hash_suite

    h = hash_suite(Suite(c.settings.ledger_suite))
    rng = random.Random(20261126)
    with c.uow() as uow:
        s = uow.session
        cp = latest_checkpoint(s)
        assert cp is not None
        size, root = cp.size, bytes(cp.root)
        indexes = [rng.randrange(size) for _ in range(count)]
        lat: list[float] = []
        proofs: list[list[bytes]] = []
        for i in indexes:
            t = time.perf_counter()
            p = inclusion_proof(h, DbNodeReader(s), i, size)
            lat.append(time.perf_counter() - t)
            proofs.append(p)
        # untimed: every proof must verify against the signed root
        hashes: dict[int, bytes] = {}
        wanted = sorted(set(indexes))
        for k in range(0, len(wanted), 1000):
            for idx, lh in s.execute(
                select(LedgerLeafRow.idx, LedgerLeafRow.leaf_hash).where(
                    LedgerLeafRow.idx.in_(wanted[k : k + 1000])
                )
            ):
                hashes[idx] = bytes(lh)
        for i, p in zip(indexes, proofs, strict=True):
            verify_inclusion(h, hashes[i], i, size, p, root)
    svc: list[float] = []
    for i in indexes[:service_count]:
        t = time.perf_counter()
        ledger.inclusion(c, i, size)
        svc.append(time.perf_counter() - t)
    return {
        "size": size,
        "proofs": count,
        "p50_ms": sorted(lat)[len(lat) // 2] * 1000,
        "p99_ms": p99(lat) * 1000,
        "max_ms": max(lat) * 1000,
        "service_calls": len(svc),
        "service_p50_ms": sorted(svc)[len(svc) // 2] * 1000,
        "service_p99_ms": p99(svc) * 1000,
    }


def run(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    from pydantic import SecretStr
    from sqlalchemy import func, select

    from citycredit.bootstrap import build_container
    from citycredit.db.migrate import upgrade
    from citycredit.kernel.db import OutboxEventRow
    from citycredit.ledger.db import LedgerCheckpointRow
    from citycredit.ledger.service import integrate_now
    from citycredit.ledger.store import LEDGER_BATCH
    from citycredit.ledger.verify import verify_log
    from citycredit.settings import Settings

    c = build_container(
        Settings(
            database_url=url,
            data_dir=data_dir,
            secret_key=SecretStr(SECRET),
            seed_synthetic_city=False,
        )
    )
    try:
        upgrade(c.engine)
        n = args.leaves
        setup_s = load_pending(c, n)
        with c.uow() as uow:
            events = uow.session.scalar(select(func.count()).select_from(OutboxEventRow))
        say(f"setup pending_leaves={n} outbox_events={events} setup_s={setup_s:.1f} (untimed)")

        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        integrated = integrate_now(c)
        seq_s = time.perf_counter() - t0
        load_after = os.getloadavg()[0]
        check_checkpoint(c, n)
        with c.uow() as uow:
            checkpoints = uow.session.scalar(select(func.count()).select_from(LedgerCheckpointRow))
        leaves_per_s = n / seq_s
        say(
            f"phase1 path=outbox->sequencer(integrate_now)->postgresql->signed_checkpoint "
            f"batch={LEDGER_BATCH} events_delivered={integrated} leaves={n} "
            f"checkpoints={checkpoints} seconds={seq_s:.1f} leaves_per_s={leaves_per_s:.0f} "
            f"loadavg_1m={load_before:.2f}->{load_after:.2f}"
        )

        t0 = time.perf_counter()
        report = verify_log(c)
        verify_s = time.perf_counter() - t0
        say(
            f"verify leaves={report.leaves} ok={report.ok} root_ok={report.root_ok} "
            f"signature_ok={report.signature_ok} verify_s={verify_s:.1f}"
        )
        if not report.ok:
            raise SystemExit(f"ledger verify is not ok at {n} leaves: {report.as_dict()}")

        # the hourly job: what came since the verified head, plus one window of older leaves
        load_pending(c, args.new_leaves, start=n)
        integrate_now(c)
        c.settings.ledger_verify_window = args.window
        t0 = time.perf_counter()
        report = verify_log(c, incremental=True)
        incremental_s = time.perf_counter() - t0
        say(
            f"verify_incremental mode={report.mode} ranges={report.ranges} "
            f"leaves={report.leaves} ok={report.ok} seconds={incremental_s:.1f} "
            f"us_per_leaf={incremental_s / max(report.leaves, 1) * 1e6:.0f}"
        )
        if not report.ok or report.mode != "incremental":
            raise SystemExit(f"incremental ledger verify failed: {report.as_dict()}")
        n += args.new_leaves

        grown, bulk_s = bulk_extend(c, args.total)
        check_checkpoint(c, args.total)
        say(
            f"phase2 path=bulk(Appender+COPY, filler leaves, not the sequencer) "
            f"added={grown} size={args.total} seconds={bulk_s:.1f} (untimed)"
        )

        m = time_proofs(c, args.proofs, args.service_proofs)
        say(
            f"proofs size={m['size']:.0f} count={m['proofs']:.0f} "
            f"path=inclusion_proof(DbNodeReader(one session)) p50_ms={m['p50_ms']:.3f} "
            f"p99_ms={m['p99_ms']:.3f} max_ms={m['max_ms']:.3f} all_verified=True"
        )
        say(
            f"service ledger.service.inclusion calls={m['service_calls']:.0f} "
            f"p50_ms={m['service_p50_ms']:.3f} p99_ms={m['service_p99_ms']:.3f} "
            f"(new unit of work, log row, checkpoint, proof, leaf per call)"
        )
        return {
            "leaves_per_s": leaves_per_s,
            "proof_p99_ms": m["p99_ms"],
            "verify_s": verify_s,
            "verify_incremental_s": incremental_s,
        }
    finally:
        c.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--total", type=int, default=10_000_000)
    ap.add_argument("--proofs", type=int, default=10_000)
    ap.add_argument("--service-proofs", type=int, default=10_000)
    ap.add_argument("--new-leaves", type=int, default=10_000, help="added before the hourly check")
    ap.add_argument("--window", type=int, default=131_072, help="older leaves per hourly check")
    args = ap.parse_args()
    if args.total < args.leaves + args.new_leaves:
        ap.error("--total must be at least --leaves plus --new-leaves")

    from sqlalchemy import create_engine, text

    started = time.perf_counter()
    server = "postgresql+psycopg://" + SERVER.split("://", 1)[1]
    name = f"cc_bench_ledger_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    say(f"database {name} on {SERVER} at {datetime.now(UTC).isoformat(timespec='seconds')}")
    try:
        with tempfile.TemporaryDirectory(prefix="cc-bench-ledger-") as tmp:
            figures = run(f"{server}/{name}", Path(tmp), args)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        say(f"database {name} dropped; runtime_s={time.perf_counter() - started:.0f}")
    lps, p99_ms, verify_s = figures["leaves_per_s"], figures["proof_p99_ms"], figures["verify_s"]
    print(
        f"ratios leaves_per_s/{TARGET_LEAVES_PER_S}={lps / TARGET_LEAVES_PER_S:.3f} "
        f"(>=1 meets) proof_p99_ms/{TARGET_PROOF_P99_MS:g}={p99_ms / TARGET_PROOF_P99_MS:.3f} "
        f"(<=1 meets)"
    )
    print(
        f"leaves_per_s={lps:.0f} proof_p99_ms={p99_ms:.3f} verify_s={verify_s:.1f} "
        f"verify_incremental_s={figures['verify_incremental_s']:.1f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
