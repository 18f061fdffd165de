"""A city of N subjects and R records in PostgreSQL for the benchmarks (checks, archive).

How the rows are made valid for the application:

1. Templates through the real code. A small synthetic Yulin city (`synth.generate_city`, no bad
   rows) is loaded through the real intake (`synth.load.load_city`: departments, tokens, one
   submission per department file); the `lists` consumer turns its court / tax / SAMR records into
   external memberships; the real services add local list memberships (propose → 告知 → decide →
   publish, and some left half-way) and credit commitments with their outcomes (some breached).
2. Clones with Arrow. Every other subject is a clone of a template subject (same type, county,
   industry, status), with its own subject_id, name (synth.names), USCC (GB 32100 check
   characters, via citycredit.shared.ids) or resident ID number (GB 11643, stored as the keyed
   digest like the registry does). It gets a copy of its template's records, versions,
   memberships (with their steps) and commitments, plus extra records drawn from other templates
   of its type (skewed counts, mean chosen to hit R exactly). Template texts are split once at the
   template subject's identity (name, USCC, ID number, ids) and re-joined per clone with
   pyarrow.compute (`choose`, `binary_join_element_wise`); record keys are the sha256 of the
   re-joined key text, content hashes the sha256 of the canonical JSON, as intake computes them.
   Rows are written as CSV by Arrow and loaded with psycopg 3 COPY, one chunk of subjects per
   transaction; a subject's records are shuffled across its chunk (~500,000 rows) so they do not
   sit on the same heap pages, as they would not in a city whose departments report over years.
   Non-key indexes and foreign keys are dropped during the load and rebuilt afterwards (then
   VACUUM ANALYZE and CHECKPOINT), like any bulk restore.

Not cloned: subject aliases (注册号/组织机构代码 of template subjects only), outbox events and
ledger leaves (the clones have none; nothing the benchmarks read needs them).

    .venv/bin/python benchmarks/_bulk.py --subjects 20000 --records 200000 [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SERVER = os.environ.get("CITYCREDIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SECRET = "bench-key-0123456789abcdef"
TEMPLATE_SUBJECTS = 2000
CHUNK_SUBJECTS = 20_000
TABLES = (
    "personal_index",
    "subjects",
    "records",
    "record_versions",
    "commitments",
    "memberships",
    "membership_events",
)

# Placeholder kinds inside template texts.
NONE, SID, NAME, USCC, IDNO, CMID, MID, RID = range(8)
KINDS = 8

# Relative number of extra records per subject type (organisations report more than persons).
EXTRA_WEIGHT = {
    "enterprise": 1.6,
    "individual_business": 0.9,
    "farmer_cooperative": 0.8,
    "private_non_enterprise": 0.6,
    "social_group": 0.5,
    "public_institution": 0.6,
    "government_body": 0.4,
    "other_organisation": 0.5,
    "natural_person": 0.25,
    "farm_household": 0.25,
}
PERSON_TYPES = ("natural_person", "farm_household")
# Extra records are drawn from templates of the same class (fields such as CF_XDR_LB agree).
POOL = {
    "enterprise": "enterprise",
    "individual_business": "individual_business",
    "natural_person": "person",
    "farm_household": "person",
}
# One per subject / one per assessed year / tied to a commitments row.
NO_EXTRAS = ("registration", "tax_credit_grade", "commitment")


def say(line: str) -> None:
    print(line, flush=True)


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@contextmanager
def own_database(prefix: str, *, keep: bool = False, reuse: str | None = None) -> Iterator[str]:
    """Create a database with a random name (or reuse one), yield its SQLAlchemy URL, drop it."""
    from sqlalchemy import create_engine, text

    server = sqlalchemy_url(SERVER)
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    name = reuse or f"cc_bench_{prefix}_{uuid.uuid4().hex[:10]}"
    if reuse is None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    say(f"database {name} on {SERVER} at {datetime.now(UTC).isoformat(timespec='seconds')}")
    try:
        yield f"{server}/{name}"
    finally:
        if keep or reuse:
            say(f"database {name} kept")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            say(f"database {name} dropped")
        admin.dispose()


@contextmanager
def workspace(
    prefix: str, *, keep: bool = False, reuse: str | None = None
) -> Iterator[tuple[str, Path]]:
    """Own database and data directory (personal-data keyring, ledger key, tokens)."""
    with own_database(prefix, keep=keep, reuse=reuse) as url:
        data_dir = Path(tempfile.gettempdir()) / "cc-bench" / url.rsplit("/", 1)[1]
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            yield url, data_dir
        finally:
            if not (keep or reuse):
                shutil.rmtree(data_dir, ignore_errors=True)


def city_for(url: str, data_dir: Path, *, reuse: bool, **build: Any) -> City:
    """Build the city (saving its summary), or read the summary of a reused database."""
    meta = data_dir / "city.json"
    if reuse:
        saved = json.loads(meta.read_text(encoding="utf-8"))
        c = make_container(url, data_dir)
        try:
            return _summary(c, saved["tokens"], saved["template_subjects"], {})
        finally:
            c.dispose()
    city = build_city(url, data_dir, **build)
    meta.write_text(
        json.dumps({"tokens": city.tokens, "template_subjects": city.template_subjects}),
        encoding="utf-8",
    )
    return city


def make_container(url: str, data_dir: Path, clock: Any = None) -> Any:
    """A container on the benchmark database (no synthetic first start, no scheduler)."""
    from pydantic import SecretStr

    from citycredit.bootstrap import build_container
    from citycredit.settings import Settings

    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key=SecretStr(SECRET),
        seed_synthetic_city=False,
        job_interval_seconds=0,
    )
    return build_container(settings, clock=clock)


def server_env(url: str, data_dir: Path) -> dict[str, str]:
    """Environment for a server process on the same database and key."""
    return {
        "CITYCREDIT_DATABASE_URL": url,
        "CITYCREDIT_DATA_DIR": str(data_dir),
        "CITYCREDIT_SECRET_KEY": SECRET,
        "CITYCREDIT_SEED_SYNTHETIC_CITY": "false",
        "CITYCREDIT_JOB_INTERVAL_SECONDS": "0",
        # wrk's one address stands for the city's many readers: no per-client public limit
        "CITYCREDIT_SECURITY": json.dumps({"public_rate_per_minute": 0}),
    }


@dataclass
class City:
    """What was loaded: counts, department tokens, every subject id (sorted)."""

    subjects: int
    records: int
    versions: int
    memberships: int
    active_memberships: int
    commitments: int
    template_subjects: int
    tokens: dict[str, str]
    subject_ids: list[str]
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"city subjects={self.subjects} records={self.records} versions={self.versions} "
            f"memberships={self.memberships} (active {self.active_memberships}) "
            f"commitments={self.commitments} templates={self.template_subjects} "
            + " ".join(f"{k}_s={v:.1f}" for k, v in self.seconds.items())
        )


# --- 1. templates through the real code ---------------------------------------------------------


def _seed_templates(url: str, data_dir: Path, k: int, seed: int) -> dict[str, str]:
    """Synthetic city through intake + lists consumer + local workflows + commitments."""
    from citycredit.kernel.outbox import deliver
    from citycredit.shared.clock import FixedClock
    from citycredit.synth.city import generate_city
    from citycredit.synth.load import load_city

    now = datetime.now(UTC).replace(microsecond=0)
    clock = FixedClock(now - timedelta(days=20))
    c = make_container(url, data_dir, clock)
    try:
        city_dir = data_dir / "template-city"
        as_of = (now - timedelta(days=21)).date()
        generate_city(city_dir, subjects=k, seed=seed, bad_share=0.0, as_of=as_of)
        loaded = load_city(c, city_dir)
        deliver(c.uow, "lists", c.consumers["lists"], at=clock.now())
        _local_workflows(c, clock, random.Random(seed + 1))
        deliver(c.uow, "lists", c.consumers["lists"], at=clock.now())
        return dict(loaded.tokens)
    finally:
        c.dispose()


def _org_subjects(c: Any) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from citycredit.subjects.db import SubjectRow

    with c.uow() as uow:
        rows = uow.session.execute(
            select(SubjectRow.subject_id, SubjectRow.subject_type)
            .where(SubjectRow.subject_type.in_(["enterprise", "individual_business"]))
            .where(SubjectRow.status == "存续")
            .order_by(SubjectRow.subject_id)
        )
        return [(r[0], r[1]) for r in rows]


def _local_workflows(c: Any, clock: Any, rng: random.Random) -> None:
    """Local list memberships in every state, and commitments with outcomes (real services)."""
    from citycredit.accounts.service import department_principal
    from citycredit.commitments import service as commitments
    from citycredit.lists import service as lists
    from citycredit.lists.model import Origin
    from citycredit.shared.calendar import local_date
    from citycredit.shared.errors import Conflict, FieldError

    orgs = _org_subjects(c)
    catalog = lists.lists_catalog()
    local = [lt for lt in catalog.list_types.values() if lt.origin is not Origin.external]
    picked = rng.sample(orgs, max(4, len(orgs) // 60))
    steps: list[tuple[Any, str]] = []
    for n, (sid, _type) in enumerate(picked):
        lt = local[n % len(local)]
        actor = department_principal(c, lt.departments[0])
        try:
            mid = lists.propose(
                c,
                actor,
                list_type=lt.code,
                subject_id=sid,
                document_no=f"榆信认〔{clock.now().year}〕{n + 1}号",
                reasons="经调查核实，当事人存在列入名单的严重失信行为，事实清楚、证据确凿。",
            )
        except (Conflict, FieldError):  # e.g. a red-list proposal for a subject on a serious
            continue  # list: refused (FieldError on subject_id); which subjects, depends on ids
        roll = rng.random()
        stop = 4 if roll < 0.6 else 3 if roll < 0.75 else 2 if roll < 0.9 else 1
        if stop >= 2:
            lists.notify(c, actor, mid)
        steps.append((actor, f"{mid}|{stop}|{n}"))
    clock.advance(days=14)  # past every objection window (5 working days)
    for actor, spec in steps:
        mid, stop_s, number = spec.split("|")
        if int(stop_s) >= 3:
            lists.decide(c, actor, mid, decision_no=f"榆信决〔{clock.now().year}〕{number}号")
        if int(stop_s) >= 4:
            lists.publish(c, actor, mid)
    today = local_date(clock.now())
    matters = list(catalog.matters.values())
    for n, (sid, _type) in enumerate(rng.sample(orgs, max(4, len(orgs) // 15))):
        matter = matters[n % len(matters)]
        actor = department_principal(c, matter.department)
        kind = "approval_substitute" if n % 3 else "voluntary"
        made = commitments.create_commitment(
            c,
            actor,
            subject_id=sid,
            kind=kind,
            text=f"申请{matter.name}时承诺所提交材料真实有效，并按期补齐相关证明材料。",
            made_on=today - timedelta(days=rng.randint(30, 300)),
            matter=matter.code if kind == "approval_substitute" else None,
        )
        roll = rng.random()
        if roll < 0.4:
            result = "false" if roll < 0.1 else "breached"
            note = "核查发现承诺内容与事实不符" if result == "false" else None
            commitments.record_outcome(
                c, actor, made["commitment_id"], result=result, checked_on=today, note=note
            )
        elif roll < 0.7:
            commitments.record_outcome(
                c, actor, made["commitment_id"], result="fulfilled", checked_on=today
            )


# --- 2. reading the templates -------------------------------------------------------------------


def _columns(pg: Any, table: str) -> list[str]:
    """Columns of a table except generated serial ids (COPY lets the sequence fill them)."""
    with pg.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = %s AND coalesce(column_default, '') NOT LIKE 'nextval(%%' "
            "AND is_identity = 'NO' ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in cur.fetchall()]


def export_table(pg: Any, table: str, order: str) -> pa.Table:
    """A whole table as Arrow strings (COPY … CSV text; NULL stays null, '' stays '')."""
    cols = _columns(pg, table)
    buf = io.BytesIO()
    quoted = ", ".join(f'"{c}"' for c in cols)
    sql = (
        f"COPY (SELECT {quoted} FROM {table} ORDER BY {order}) "
        "TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)"
    )
    with pg.cursor() as cur, cur.copy(sql) as cp:
        for data in cp:
            buf.write(data)
    buf.seek(0)
    if buf.getbuffer().nbytes == 0:
        return pa.table({c: pa.array([], pa.string()) for c in cols})
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=cols),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in cols},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )


def to_csv(table: str, t: pa.Table | None) -> tuple[str, str, bytes] | None:
    """(table, column list, CSV bytes) for COPY … FORMAT csv; None when there are no rows."""
    if t is None or t.num_rows == 0:
        return None
    buf = io.BytesIO()
    pacsv.write_csv(t, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return table, ", ".join(f'"{c}"' for c in t.column_names), buf.getvalue()


def copy_csv(pg: Any, part: tuple[str, str, bytes]) -> None:
    """COPY one CSV part (in the connection's current transaction)."""
    table, cols, data = part
    view = memoryview(data)
    with pg.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
        for i in range(0, len(view), 8 << 20):
            cp.write(view[i : i + (8 << 20)])


class Texts:
    """Template texts split at identity strings; rendered per output row with Arrow."""

    def __init__(self, texts: list[str | None], subs: list[list[tuple[str, int]]]) -> None:
        split: list[tuple[list[str], list[int]]] = []
        for text, pairs in zip(texts, subs, strict=True):
            if text is None or not pairs:
                split.append(([text or ""], []))
                continue
            kinds = dict(pairs)
            olds = sorted({o for o, _ in pairs if o}, key=len, reverse=True)
            parts = re.split("(" + "|".join(map(re.escape, olds)) + ")", text)
            split.append((parts[0::2], [kinds[p] for p in parts[1::2]]))
        self.slots = max((len(k) for _, k in split), default=0)
        self.null = np.array([t is None for t in texts], dtype=bool)
        self.segs = [
            pa.array([s[i] if i < len(s) else "" for s, _ in split], pa.string())
            for i in range(self.slots + 1)
        ]
        self.kinds = [
            np.array([k[i] if i < len(k) else NONE for _, k in split], dtype=np.int8)
            for i in range(self.slots)
        ]
        self.kinds_used = {int(k) for arr in self.kinds for k in np.unique(arr)} - {NONE}
        self.texts = texts
        self.split = split

    def kinds_of(self, i: int) -> set[int]:
        return set(self.split[i][1])

    def render(self, v: np.ndarray, values: dict[int, pa.Array]) -> pa.Array:
        n = len(v)
        vi = pa.array(v, pa.int64())
        if self.slots == 0:
            out = self.segs[0].take(vi)
        else:
            empty = pa.repeat(pa.scalar("", pa.string()), n)
            choices = [values.get(k, empty) if k != NONE else empty for k in range(KINDS)]
            parts: list[Any] = []
            for i in range(self.slots):
                parts.append(self.segs[i].take(vi))
                parts.append(pc.choose(pa.array(self.kinds[i][v]), *choices))
            parts.append(self.segs[self.slots].take(vi))
            out = pc.binary_join_element_wise(*parts, "")
        nulls = self.null[v]
        if nulls.any():
            out = pc.if_else(pa.array(nulls), pa.nulls(n, pa.string()), out)
        return out


def _canon(text: str | None) -> str | None:
    if text is None:
        return None
    return json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _col(t: pa.Table, name: str) -> list[Any]:
    return t.column(name).to_pylist()


class Personal:
    """Personal fields as the application stores them: sealed per version (privacy area) or,
    without that area, as a plaintext dict; plus the version's content hash and blind index."""

    def __init__(self, c: Any) -> None:
        self.codec: Any = None
        try:
            from citycredit.privacy.index import index_rows
            from citycredit.privacy.records import content_digest, version_aad

            self.codec = c.personal_codec
            self.index_rows, self.aad, self.content_digest = index_rows, version_aad, content_digest
        except (ImportError, AttributeError):
            pass
        self.catalog = c.catalog

    def open(self, stored: str | None, record_id: str, version: int) -> str | None:
        """Canonical plaintext JSON of a template version's personal fields."""
        if stored is None:
            return None
        value = json.loads(stored)
        if self.codec is not None:
            value = self.codec.open(value, aad=self.aad(record_id, version))
        return _dumps(value)

    def digest(self, payload: dict[str, Any], personal: dict[str, Any]) -> str:
        """Content hash exactly as intake computes it (reference for the fast path)."""
        if self.codec is not None:
            return str(self.content_digest(self.codec, payload, personal))
        body = _dumps({"payload": payload, "personal": personal}).encode()
        return hashlib.sha256(body).hexdigest()

    def fast_digest(self, payload: str, personal: str) -> str:
        body = f'{{"payload":{payload},"personal":{personal}}}'.encode()
        if self.codec is not None and personal != "{}":
            return str(self.codec.keyed_digest(body))
        return hashlib.sha256(body).hexdigest()

    def store(
        self,
        items: list[str],
        record_ids: list[str],
        versions: list[int],
        payloads: list[str],
        personals: list[str],
        rehash: np.ndarray,
        old_hashes: list[str],
    ) -> tuple[pa.Array, pa.Array, list[dict[str, Any]]]:
        """(stored personal JSON, content hashes, blind-index rows) of cloned versions."""
        stored: list[str] = []
        hashes: list[str] = []
        index: list[dict[str, Any]] = []
        codec = self.codec
        for i, plain in enumerate(personals):
            hashes.append(self.fast_digest(payloads[i], plain) if rehash[i] else old_hashes[i])
            if codec is None:
                stored.append(plain)
                continue
            values = json.loads(plain)
            aad = self.aad(record_ids[i], versions[i])
            stored.append(json.dumps(codec.seal(values, aad=aad), ensure_ascii=False))
            if values:
                item = self.catalog.item(items[i])
                index.extend(self.index_rows(codec, item, record_ids[i], versions[i], values))
        return pa.array(stored, pa.string()), pa.array(hashes, pa.string()), index


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Templates:
    subj: pa.Table
    rec: pa.Table
    ver: pa.Table
    cm: pa.Table
    mem: pa.Table
    evt: pa.Table
    sid: list[str]
    types: list[str]
    names: list[str]
    usccs: list[str | None]
    idnos: list[str | None]
    rec_owner: np.ndarray
    rec_start: np.ndarray
    rec_count: np.ndarray
    rest_id: np.ndarray
    keys: Texts
    ver_start: np.ndarray
    ver_count: np.ndarray
    payload: Texts
    personal: Texts
    rehash: np.ndarray
    rec_cm: np.ndarray  # template commitment index a record's texts name (CMID), or -1
    cm_owner: np.ndarray
    cm_rec: np.ndarray
    cm_start: np.ndarray
    cm_count: np.ndarray
    cm_texts: Texts
    mem_order_rec: np.ndarray  # memberships of records: membership indexes grouped by record
    mem_rec_start: np.ndarray
    mem_rec_count: np.ndarray
    mem_local: np.ndarray  # local memberships (no record) grouped by owner
    mem_local_start: np.ndarray
    mem_local_count: np.ndarray
    mem_reasons: Texts
    evt_start: np.ndarray
    evt_count: np.ndarray
    evt_ref: Texts
    evt_note: Texts


def _csr(owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and count per owner for rows already sorted by owner."""
    count = (
        np.bincount(owner, minlength=n).astype(np.int64) if len(owner) else np.zeros(n, np.int64)
    )
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    return start, count


def _find_id_number(c: Any, digest: str | None, values: list[str]) -> str | None:
    if not digest:
        return None
    for v in values:
        if len(v) == 18 and c.digester.digest("id-number", v) == digest:
            return v
    return None


def read_templates(c: Any, personal_store: Personal) -> Templates:
    """The template city's rows, indexed, with their texts split at identity strings."""
    raw = c.engine.raw_connection()
    try:
        pg = raw.driver_connection
        subj = export_table(pg, "subjects", "subject_id")
        rec = export_table(pg, "records", "subject_id, id")
        ver = export_table(pg, "record_versions", "record_id, version")
        cm = export_table(pg, "commitments", "subject_id, id")
        mem = export_table(pg, "memberships", "subject_id, id")
        evt = export_table(pg, "membership_events", "membership_id, id")
        pg.rollback()
    finally:
        raw.close()
    sid = _col(subj, "subject_id")
    t_of = {s: i for i, s in enumerate(sid)}
    k = len(sid)
    types, names, usccs = _col(subj, "subject_type"), _col(subj, "name"), _col(subj, "uscc")
    # records, grouped by owner (already sorted by subject_id, which is the template order)
    rec_ids = _col(rec, "id")
    r_of = {r: i for i, r in enumerate(rec_ids)}
    rec_owner = np.array([t_of[s] for s in _col(rec, "subject_id")], dtype=np.int64)
    rec_start, rec_count = _csr(rec_owner, k)
    # versions grouped by record (in the records' order)
    ver_rec = np.array([r_of[r] for r in _col(ver, "record_id")], dtype=np.int64)
    ver_sort = np.argsort(ver_rec, kind="stable")
    ver, ver_rec = ver.take(pa.array(ver_sort)), ver_rec[ver_sort]
    ver_start, ver_count = _csr(ver_rec, len(rec_ids))
    pay_texts = [_canon(t) for t in _col(ver, "payload")]
    ver_rids, ver_nos = _col(ver, "record_id"), [int(x) for x in _col(ver, "version")]
    per_texts = [
        personal_store.open(t, ver_rids[j], ver_nos[j]) for j, t in enumerate(_col(ver, "personal"))
    ]
    # ID numbers of persons: the personal value whose keyed digest is the subject's
    digests = _col(subj, "id_digest")
    person_values: dict[int, list[str]] = defaultdict(list)
    for j, text in enumerate(per_texts):
        if text:
            owner = int(rec_owner[ver_rec[j]])
            if digests[owner]:
                person_values[owner].extend(str(v) for v in json.loads(text).values())
    idnos = [_find_id_number(c, digests[t], person_values.get(t, [])) for t in range(k)]
    # commitments
    cm_ids = _col(cm, "id")
    cm_owner = np.array([t_of[s] for s in _col(cm, "subject_id")], dtype=np.int64)
    cm_rec = np.array([r_of.get(r, -1) if r else -1 for r in _col(cm, "record_id")], np.int64)
    cm_start, cm_count = _csr(cm_owner, k)
    cm_of_rec = {int(r): i for i, r in enumerate(cm_rec) if r >= 0}

    def subs_of(t: int) -> list[tuple[str, int]]:
        out = [(sid[t], SID), (names[t], NAME)]
        if usccs[t]:
            out.append((usccs[t], USCC))  # type: ignore[arg-type]
        if idnos[t]:
            out.append((idnos[t], IDNO))  # type: ignore[arg-type]
        return out

    def rec_subs(r: int) -> list[tuple[str, int]]:
        out = subs_of(int(rec_owner[r]))
        if r in cm_of_rec:
            out.append((cm_ids[cm_of_rec[r]], CMID))
        return out

    key_texts = _col(rec, "key_text")
    for r, text in enumerate(key_texts):
        if len(text) >= 400:
            raise SystemExit(f"template record {rec_ids[r]} has a truncated key_text")
        if hashlib.sha256(text.encode()).hexdigest() != rec.column("record_key")[r].as_py():
            raise SystemExit(f"template record {rec_ids[r]}: record_key is not sha256(key_text)")
    keys = Texts(key_texts, [rec_subs(r) for r in range(len(rec_ids))])
    rest_strings = [
        "\x00".join(keys.split[r][0]) + "\x01" + ",".join(map(str, keys.split[r][1]))
        for r in range(len(rec_ids))
    ]
    rest_index: dict[str, int] = {}
    rest_id = np.array([rest_index.setdefault(s, len(rest_index)) for s in rest_strings], np.int64)
    vsubs = [rec_subs(int(ver_rec[j])) for j in range(len(pay_texts))]
    payload = Texts(pay_texts, vsubs)
    personal = Texts(per_texts, vsubs)
    hashes = _col(ver, "content_hash")
    rehash = np.zeros(len(hashes), dtype=bool)
    for j, (p, q, h) in enumerate(zip(pay_texts, per_texts, hashes, strict=True)):
        if p is None or q is None:
            continue
        expected = personal_store.digest(json.loads(p), json.loads(q))
        if expected != personal_store.fast_digest(p, q):
            raise SystemExit("content hash formula changed: update Personal.fast_digest")
        rehash[j] = expected == h
    rec_cm = np.full(len(rec_ids), -1, np.int64)
    for r, i in cm_of_rec.items():
        rec_cm[r] = i
    cm_texts = Texts(_col(cm, "text"), [subs_of(int(t)) for t in cm_owner])
    # memberships: of records (external) and local ones (no record)
    mem_ids = _col(mem, "id")
    m_of = {m: i for i, m in enumerate(mem_ids)}
    mem_owner = np.array([t_of[s] for s in _col(mem, "subject_id")], dtype=np.int64)
    mem_rec = np.array([r_of.get(r, -1) if r else -1 for r in _col(mem, "record_id")], np.int64)
    with_rec = np.flatnonzero(mem_rec >= 0)
    order = with_rec[np.argsort(mem_rec[with_rec], kind="stable")]
    mem_rec_start, mem_rec_count = _csr(mem_rec[order], len(rec_ids))
    local = np.flatnonzero(mem_rec < 0)
    local = local[np.argsort(mem_owner[local], kind="stable")]
    mem_local_start, mem_local_count = _csr(mem_owner[local], k)
    mem_reasons = Texts(_col(mem, "reasons"), [subs_of(int(t)) for t in mem_owner])
    evt_mem = np.array([m_of[m] for m in _col(evt, "membership_id")], dtype=np.int64)
    evt_sort = np.argsort(evt_mem, kind="stable")
    evt, evt_mem = evt.take(pa.array(evt_sort)), evt_mem[evt_sort]
    evt_start, evt_count = _csr(evt_mem, len(mem_ids))

    def evt_subs(e: int) -> list[tuple[str, int]]:
        m = int(evt_mem[e])
        out = [(mem_ids[m] + "/", MID)]
        if mem_rec[m] >= 0:
            out.append((rec_ids[mem_rec[m]], RID))
        return out + subs_of(int(mem_owner[m]))[1:]

    evt_ref = Texts(_col(evt, "ledger_ref"), [evt_subs(e) for e in range(len(evt_mem))])
    evt_note = Texts(_col(evt, "note"), [evt_subs(e) for e in range(len(evt_mem))])
    return Templates(
        subj=subj,
        rec=rec,
        ver=ver,
        cm=cm,
        mem=mem,
        evt=evt,
        sid=sid,
        types=types,
        names=names,
        usccs=usccs,
        idnos=idnos,
        rec_owner=rec_owner,
        rec_start=rec_start,
        rec_count=rec_count,
        rest_id=rest_id,
        keys=keys,
        ver_start=ver_start,
        ver_count=ver_count,
        payload=payload,
        personal=personal,
        rehash=rehash,
        rec_cm=rec_cm,
        cm_owner=cm_owner,
        cm_rec=cm_rec,
        cm_start=cm_start,
        cm_count=cm_count,
        cm_texts=cm_texts,
        mem_order_rec=order,
        mem_rec_start=mem_rec_start,
        mem_rec_count=mem_rec_count,
        mem_local=local,
        mem_local_start=mem_local_start,
        mem_local_count=mem_local_count,
        mem_reasons=mem_reasons,
        evt_start=evt_start,
        evt_count=evt_count,
        evt_ref=evt_ref,
        evt_note=evt_note,
    )


# --- 3. the plan: which template each clone copies, which records it gets -----------------------


def plan_records(
    tp: Templates, t_of: np.ndarray, target: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(clone, template record) pairs: each clone's own records plus extras, exactly `target`."""
    m = len(t_of)
    own_n = tp.rec_count[t_of]
    own_ci = np.repeat(np.arange(m, dtype=np.int64), own_n)
    starts = np.repeat(tp.rec_start[t_of], own_n)
    offsets = np.arange(len(own_ci)) - np.repeat(np.cumsum(own_n) - own_n, own_n)
    own_r = starts + offsets
    need = target - len(own_r)
    if need < 0:
        raise SystemExit(
            f"--records too small: the clones' own records alone are {len(own_r)} (> {target})"
        )
    items = np.array(tp.rec.column("item_code").to_pylist(), dtype=object)
    owner_type = np.array(tp.types, dtype=object)[tp.rec_owner]
    eligible = ~np.isin(items, NO_EXTRAS)
    owner_pool = np.array([POOL.get(str(t), "organisation") for t in owner_type], dtype=object)
    pools = {
        ty: np.flatnonzero(eligible & (owner_pool == POOL.get(ty, "organisation")))
        for ty in EXTRA_WEIGHT
    }
    clone_type = np.array(tp.types, dtype=object)[t_of]
    w = np.array(
        [EXTRA_WEIGHT.get(ty, 0.5) if len(pools.get(ty, ())) else 0.0 for ty in clone_type]
    )
    ci_parts, r_parts = [own_ci], [own_r]
    have = len(own_r)
    accepted = 1.0  # share of drawn extras that survive the duplicate-key filter
    for _round in range(12):
        short = target - have
        if short <= 0:
            break
        mean = short * 1.03 / accepted / max(w.sum(), 1e-9)
        lam = rng.gamma(shape=0.7, scale=mean * w / 0.7)
        counts = np.minimum(rng.poisson(lam), 400)
        ci = np.repeat(np.arange(m, dtype=np.int64), counts)
        r = np.empty(len(ci), dtype=np.int64)
        ct = clone_type[ci]
        for ty, pool in pools.items():
            sel = np.flatnonzero(ct == ty)
            if len(sel) and len(pool):
                r[sel] = pool[rng.integers(0, len(pool), len(sel))]
        ci_parts.append(ci)
        r_parts.append(r)
        all_ci, all_r = np.concatenate(ci_parts), np.concatenate(r_parts)
        key = all_ci * (int(tp.rest_id.max()) + 1) + tp.rest_id[all_r]
        _, first = np.unique(key, return_index=True)
        first.sort()  # own records come first and win
        ci_parts, r_parts = [all_ci[first]], [all_r[first]]
        accepted = max(0.05, (len(first) - have) / max(1, len(ci)))
        have = len(first)
    all_ci, all_r = ci_parts[0], r_parts[0]
    if have < target:
        raise SystemExit(f"could not plan {target} records (got {have})")
    excess = have - target
    if excess:
        extras = np.arange(len(own_r), have)  # everything after the own records is an extra
        drop = rng.choice(extras, excess, replace=False)
        keep = np.ones(have, dtype=bool)
        keep[drop] = False
        all_ci, all_r = all_ci[keep], all_r[keep]
    order = np.argsort(all_ci, kind="stable")
    return all_ci[order], all_r[order]


# --- 4. clone subjects ---------------------------------------------------------------------------

_B32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 alphabet


def opaque_ids(rng: np.random.Generator, prefix: str, n: int) -> pa.Array:
    """new_id()-shaped ids (prefix + 20 base32 characters), vectorised."""
    pre = np.frombuffer(prefix.encode(), np.uint8)
    body = _B32[rng.integers(0, 32, size=(n, 20), dtype=np.uint8)]
    full = np.ascontiguousarray(np.concatenate([np.broadcast_to(pre, (n, len(pre))), body], 1))
    return pa.array(full.view(f"S{full.shape[1]}").ravel()).cast(pa.string())


def _uscc(prefix8: str, n: int) -> str:
    from citycredit.shared.ids import org_code_check_char, uscc_check_char

    digits = []
    for _ in range(6):
        n, d = divmod(n, 31)
        digits.append(_ALPHA[d])
    body = "MA" + "".join(reversed(digits))
    first17 = prefix8 + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


class SubjectMaker:
    """Names, USCCs and ID numbers of clones (deterministic from the seed)."""

    def __init__(self, c: Any, tp: Templates, seed: int) -> None:
        from citycredit.synth import names as nm

        self.c = c
        self.tp = tp
        self.nm = nm
        self.rng = random.Random(seed)
        self.industries = {i.label: i for i in nm.INDUSTRIES}
        self.uscc_used = {u for u in tp.usccs if u}
        self.uscc_n = self.rng.randrange(31**5)
        self.id_used = {i for i in tp.idnos if i}
        self.t_industry = _col(tp.subj, "industry")
        self.t_division = _col(tp.subj, "division_code")
        self.t_birth = _col(tp.subj, "birth_date")
        self.t_legal = _col(tp.subj, "legal_rep")

    def name(self, t: int, male: bool) -> str:
        nm, rng, ty = self.nm, self.rng, self.tp.types[t]
        county = self.t_division[t]
        industry = self.industries.get(self.t_industry[t] or "")
        if ty in PERSON_TYPES:
            return str(nm.person_name(rng, male))
        if county not in nm.COUNTY_NAMES:
            return self.tp.names[t]
        if ty == "enterprise" and industry is not None:
            return str(nm.enterprise_name(rng, industry, county, False))
        if ty == "individual_business" and industry is not None:
            return str(nm.shop_name(rng, industry, county))
        if ty == "private_non_enterprise":
            return str(nm.private_non_enterprise_name(rng, nm.COUNTY_NAMES[county]))
        return self.tp.names[t]

    def uscc(self, t: int) -> str | None:
        old = self.tp.usccs[t]
        if not old:
            return None
        while True:
            self.uscc_n = (self.uscc_n + 7919) % (31**6)
            code = _uscc(old[:8], self.uscc_n)
            if code not in self.uscc_used:
                self.uscc_used.add(code)
                return code

    def id_number(self, t: int) -> tuple[str, date, bool]:
        from citycredit.shared.ids import id_check_char

        rng = self.rng
        old = self.tp.idnos[t]
        region = old[:6] if old else (self.t_division[t] or "610802")
        birth0 = date.fromisoformat(self.t_birth[t]) if self.t_birth[t] else date(1975, 6, 1)
        male = bool(int(old[16]) % 2) if old else rng.random() < 0.5
        while True:
            birth = birth0 + timedelta(days=rng.randint(-120, 120))
            seq = rng.randrange(100) * 10 + rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
            first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
            idn = first17 + id_check_char(first17)
            if idn not in self.id_used:
                self.id_used.add(idn)
                return idn, birth, male

    def make(
        self, t_of: np.ndarray, rng: np.random.Generator
    ) -> tuple[pa.Table, dict[int, pa.Array]]:
        """The subjects table of a chunk of clones and their identity values by kind."""
        from citycredit.shared.ids import mask_id_number_at_rest
        from citycredit.shared.text import normalise_name

        tp = self.tp
        n = len(t_of)
        sids = opaque_ids(rng, "s", n)
        names: list[str] = []
        norms: list[str] = []
        usccs: list[str | None] = []
        idnos: list[str | None] = []
        digests: list[str | None] = []
        masked: list[str | None] = []
        births: list[str | None] = []
        legal: list[str] = []
        for t in t_of.tolist():
            if tp.types[t] in PERSON_TYPES:
                idn, birth, male = self.id_number(t)
                name = self.name(t, male)
                usccs.append(None)
                idnos.append(idn)
                digests.append(self.c.digester.digest("id-number", idn))
                masked.append(mask_id_number_at_rest(idn))
                births.append(birth.isoformat())
                legal.append(name if self.t_legal[t] == tp.names[t] else self.t_legal[t])
            else:
                name = self.name(t, True)
                usccs.append(self.uscc(t))
                idnos.append(None)
                digests.append(None)
                masked.append(None)
                births.append(self.t_birth[t])
                legal.append(self.t_legal[t])
            names.append(name)
            norms.append(normalise_name(name))
        table = tp.subj.take(pa.array(t_of))
        for col, arr in (
            ("subject_id", sids),
            ("name", pa.array(names, pa.string())),
            ("name_norm", pa.array(norms, pa.string())),
            ("uscc", pa.array(usccs, pa.string())),
            ("id_digest", pa.array(digests, pa.string())),
            ("id_masked", pa.array(masked, pa.string())),
            ("birth_date", pa.array(births, pa.string())),
            ("legal_rep", pa.array(legal, pa.string())),
        ):
            table = table.set_column(table.column_names.index(col), col, arr)
        values = {
            SID: sids,
            NAME: table.column("name").combine_chunks(),
            USCC: pc.fill_null(pa.array(usccs, pa.string()), ""),
            IDNO: pc.fill_null(pa.array(idnos, pa.string()), ""),
        }
        return table, values


# --- 5. one chunk of clones ----------------------------------------------------------------------


def _set(t: pa.Table, col: str, arr: pa.Array) -> pa.Table:
    return t.set_column(t.column_names.index(col), col, arr)


def _take_values(values: dict[int, pa.Array], idx: np.ndarray) -> dict[int, pa.Array]:
    ix = pa.array(idx, pa.int64())
    return {k: v.take(ix) for k, v in values.items()}


def _expand(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows with (start, count): (row index repeated, start + offset) of each child."""
    parent = np.repeat(np.arange(len(count), dtype=np.int64), count)
    offs = np.arange(len(parent)) - np.repeat(np.cumsum(count) - count, count)
    return parent, np.repeat(start, count) + offs


def _sha256(texts: pa.Array) -> pa.Array:
    return pa.array(
        [hashlib.sha256(s.encode()).hexdigest() for s in texts.to_pylist()], pa.string()
    )


@dataclass
class ChunkCounts:
    subjects: int = 0
    records: int = 0
    versions: int = 0
    commitments: int = 0
    memberships: int = 0
    events: int = 0


def gen_chunk(
    tp: Templates,
    personal_store: Personal,
    subjects: pa.Table,
    ident: dict[int, pa.Array],
    t_of: np.ndarray,
    rows_ci: np.ndarray,
    rows_r: np.ndarray,
    rng: np.random.Generator,
    lean: bool = False,
) -> tuple[list[tuple[str, str, bytes]], ChunkCounts]:
    """CSV of one chunk of clones (made by SubjectMaker) and everything they own.

    `lean` (benchmarks that read no personal field: evaluation): a cloned version keeps its
    template's stored personal column and content hash verbatim instead of being re-sealed
    under its own record id and re-hashed, and gets no blind-index rows. Row counts, payloads
    and row widths are unchanged; only opening a clone's personal fields would fail.
    """
    n = len(t_of)
    # commitments of the clones (new ids first: commitment records name them)
    cm_ci, cm_k = _expand(tp.cm_start[t_of], tp.cm_count[t_of])
    cm_ids = opaque_ids(rng, "cm", len(cm_ci))
    cm_lookup = cm_ci * (len(tp.cm_owner) + 1) + cm_k
    # records, shuffled inside the chunk
    perm = rng.permutation(len(rows_ci))
    ci, r = rows_ci[perm], rows_r[perm]
    rid = opaque_ids(rng, "r", len(ci))
    vals = _take_values(ident, ci)
    cmk = tp.rec_cm[r]
    has_cm = cmk >= 0
    cm_for_row = np.full(len(ci), "", dtype=object)
    if has_cm.any():
        pos = np.searchsorted(cm_lookup, ci[has_cm] * (len(tp.cm_owner) + 1) + cmk[has_cm])
        cm_for_row[has_cm] = np.array(cm_ids.to_pylist(), dtype=object)[pos]
    vals[CMID] = pa.array(cm_for_row.tolist(), pa.string())
    key_text = tp.keys.render(r, vals)
    records = tp.rec.take(pa.array(r))
    records = _set(records, "id", rid)
    records = _set(records, "record_key", _sha256(key_text))
    records = _set(records, "key_text", pc.utf8_slice_codeunits(key_text, 0, 400))
    records = _set(records, "subject_id", vals[SID])
    # versions
    vrow, v = _expand(tp.ver_start[r], tp.ver_count[r])
    vvals = _take_values({**vals, RID: rid}, vrow)
    payload = tp.payload.render(v, vvals)
    vi = pa.array(v)
    index: list[dict[str, Any]] = []
    versions = tp.ver.take(vi)
    versions = _set(versions, "record_id", vvals[RID])
    versions = _set(versions, "payload", payload)
    if not lean:
        stored, hashes, index = personal_store.store(
            items=records.column("item_code").take(pa.array(vrow)).to_pylist(),
            record_ids=vvals[RID].to_pylist(),
            versions=[int(x) for x in tp.ver.column("version").take(vi).to_pylist()],
            payloads=payload.to_pylist(),
            personals=tp.personal.render(v, vvals).to_pylist(),
            rehash=tp.rehash[v],
            old_hashes=tp.ver.column("content_hash").take(vi).to_pylist(),
        )
        versions = _set(versions, "personal", stored)
        versions = _set(versions, "content_hash", hashes)
    # commitments: their record is the clone's copy of the template commitment's record
    row_key = ci * len(tp.rec_owner) + r
    order = np.argsort(row_key)
    cm_rows = None
    if len(cm_ci):
        want = cm_ci * len(tp.rec_owner) + tp.cm_rec[cm_k]
        at = np.minimum(np.searchsorted(row_key, want, sorter=order), len(order) - 1)
        pos = order[at]
        found = row_key[pos] == want
        cm_rec = pc.if_else(
            pa.array(found), rid.take(pa.array(pos)), pa.nulls(len(pos), pa.string())
        )
        cvals = _take_values(ident, cm_ci)
        cm_rows = tp.cm.take(pa.array(cm_k))
        cm_rows = _set(cm_rows, "id", cm_ids)
        cm_rows = _set(cm_rows, "subject_id", cvals[SID])
        cm_rows = _set(cm_rows, "record_id", cm_rec)
        cm_rows = _set(cm_rows, "text", tp.cm_texts.render(cm_k, cvals))
    # memberships: of cloned records, and the template's local ones
    mrow, mpos = _expand(tp.mem_rec_start[r], tp.mem_rec_count[r])
    m_ext = tp.mem_order_rec[mpos]
    lci, lpos = _expand(tp.mem_local_start[t_of], tp.mem_local_count[t_of])
    m_loc = tp.mem_local[lpos]
    m = np.concatenate([m_ext, m_loc])
    m_ci = np.concatenate([ci[mrow], lci])
    m_rid = pa.concat_arrays(
        [rid.take(pa.array(mrow, pa.int64())), pa.nulls(len(m_loc), pa.string())]
    )
    mid = opaque_ids(rng, "m", len(m))
    mvals = _take_values(ident, m_ci)
    memberships = tp.mem.take(pa.array(m, pa.int64()))
    memberships = _set(memberships, "id", mid)
    memberships = _set(memberships, "subject_id", mvals[SID])
    memberships = _set(memberships, "record_id", m_rid)
    memberships = _set(memberships, "reasons", tp.mem_reasons.render(m, mvals))
    erow, e = _expand(tp.evt_start[m], tp.evt_count[m])
    evals = _take_values(mvals, erow)
    evals[MID] = pc.binary_join_element_wise(mid.take(pa.array(erow, pa.int64())), "/", "")
    evals[RID] = pc.fill_null(m_rid.take(pa.array(erow, pa.int64())), "")
    events = tp.evt.take(pa.array(e, pa.int64()))
    events = _set(events, "ledger_ref", tp.evt_ref.render(e, evals))
    events = _set(events, "note", tp.evt_note.render(e, evals))
    events = _set(events, "membership_id", mid.take(pa.array(erow, pa.int64())))
    parts = [
        to_csv("subjects", subjects),
        to_csv("records", records),
        to_csv("record_versions", versions),
        to_csv("personal_index", pa.Table.from_pylist(index) if index else None),
        to_csv("commitments", cm_rows),
        to_csv("memberships", memberships),
        to_csv("membership_events", events),
    ]
    counts = ChunkCounts(
        n, len(ci), len(v), 0 if cm_rows is None else cm_rows.num_rows, len(m), len(e)
    )
    return [p for p in parts if p is not None], counts


# Worker processes (fork) read the plan from here.
_PLAN: dict[str, Any] = {}
_WORKER_PG: list[Any] = []  # a worker's own connection (one per forked process)


def _gen_job(i: int) -> tuple[list[tuple[str, str, bytes]], ChunkCounts]:
    g = _PLAN
    lo, hi = i * CHUNK_SUBJECTS, min(g["m"], (i + 1) * CHUNK_SUBJECTS)
    a, b = g["bounds"][i], g["bounds"][i + 1]
    subjects = g["subjects"].slice(lo, hi - lo)
    ident = {k: v.slice(lo, hi - lo) for k, v in g["ident"].items()}
    return gen_chunk(
        g["tp"],
        g["personal"],
        subjects,
        ident,
        g["t_of"][lo:hi],
        g["rows_ci"][a:b] - lo,
        g["rows_r"][a:b],
        np.random.default_rng([g["seed"], i]),
        lean=g.get("lean", False),
    )


def _gen_copy_job(i: int) -> tuple[int, ChunkCounts, float]:
    """Generate chunk i and COPY it on this worker's own connection (one transaction).

    Each worker generating and loading its own chunks keeps one PostgreSQL backend per
    worker busy (the COPYs run in parallel) and sends no CSV through the pool's pipe.
    """
    import psycopg

    if not _WORKER_PG:
        conn = psycopg.connect(_PLAN["dsn"])
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        conn.commit()
        _WORKER_PG.append(conn)
    pg = _WORKER_PG[0]
    parts, counts = _gen_job(i)
    t0 = time.perf_counter()
    for part in parts:
        copy_csv(pg, part)
    pg.commit()
    return i, counts, time.perf_counter() - t0


def _close_worker_pg(_: int) -> None:
    """Close this worker's connection; the barrier makes every worker take exactly one."""
    while _WORKER_PG:
        _WORKER_PG.pop().close()
    _PLAN["barrier"].wait(timeout=60)


# --- 6. indexes and constraints around the load --------------------------------------------------


def _definitions(pg: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """FK and unique constraints touching TABLES (not PKs), and their plain indexes."""
    with pg.cursor() as cur:
        cur.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype "
            "FROM pg_constraint c WHERE c.contype IN ('f', 'u') AND "
            "(c.conrelid::regclass::text = ANY(%s) OR c.confrelid::regclass::text = ANY(%s))",
            (list(TABLES), list(TABLES)),
        )
        cons = [(t, n, d) for t, n, d, _k in sorted(cur.fetchall(), key=lambda x: x[3] == "f")]
        cur.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            (list(TABLES),),
        )
        idx = [(n, d) for n, d in cur.fetchall()]
    return cons, idx


def _run_parallel(dsn: str, statements: list[str], connections: int) -> None:
    """Run independent DDL statements on `connections` sessions, longest first (threads: the
    work is on the server, each statement in its own autocommit transaction)."""
    import psycopg

    queue = list(statements)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            while True:
                with lock:
                    if not queue or errors:
                        return
                    sql = queue.pop(0)
                try:
                    conn.execute(sql)
                except BaseException as exc:  # re-raised below
                    with lock:
                        errors.append(exc)
                    return

    threads = [threading.Thread(target=work) for _ in range(max(1, connections))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _table_rows(pg: Any) -> dict[str, int]:
    with pg.cursor() as cur:
        cur.execute(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            (list(TABLES),),
        )
        return {name: int(n) for name, n in cur.fetchall()}


@contextmanager
def without_indexes(pg: Any, *, parallel: int = 1, dsn: str | None = None) -> Iterator[None]:
    """Drop FKs, unique constraints and plain indexes of TABLES; rebuild them afterwards.

    With `parallel` > 1 (and a `dsn`), the plain indexes and unique constraints are rebuilt on
    that many sessions at once, biggest table first; then the foreign keys, one by one (a
    foreign key needs its referenced unique index and locks both tables).
    """
    cons, idx = _definitions(pg)
    with pg.cursor() as cur:
        for table, name, _ in sorted(cons, key=lambda x: "FOREIGN KEY" not in x[2]):
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in idx:
            cur.execute(f"DROP INDEX {name}")
    pg.commit()
    yield
    uniques = [c for c in cons if "FOREIGN KEY" not in c[2]]
    fks = [c for c in cons if "FOREIGN KEY" in c[2]]
    if parallel > 1 and dsn is not None:
        rows = _table_rows(pg)
        on = re.compile(r" ON (?:ONLY )?(?:public\.)?(\w+) ")
        # (table, statement); an index build and a unique constraint only lock their table.
        work = [(m.group(1) if (m := on.search(d)) else "", d) for _, d in idx]
        work += [(t, f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}') for t, n, d in uniques]
        work.sort(key=lambda w: rows.get(w[0].rsplit(".", 1)[-1], 0), reverse=True)
        _run_parallel(dsn, [sql for _, sql in work], parallel)
        uniques = []
        idx = []
    with pg.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in idx:
            cur.execute(definition)
        for table, name, definition in [*uniques, *fks]:
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    pg.commit()


def housekeeping(c: Any) -> None:
    from sqlalchemy import text

    with c.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(TABLES)}"))
        conn.execute(text("CHECKPOINT"))


# --- 7. the whole build --------------------------------------------------------------------------


def build_city(
    url: str,
    data_dir: Path,
    *,
    subjects: int,
    records: int,
    seed: int = 20261126,
    templates: int = TEMPLATE_SUBJECTS,
    workers: int = 2,
    lean: bool = False,
    progress: Callable[[str], None] = say,
) -> City:
    """Migrate the database and load the city (see the module docstring).

    `lean`: cloned versions keep their template's sealed personal fields (see gen_chunk);
    for benchmarks that never read personal data.
    """
    from citycredit.db.migrate import upgrade

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    c = make_container(url, data_dir)
    try:
        upgrade(c.engine)
        tokens = _seed_templates(url, data_dir, min(templates, subjects), seed)
        seconds["templates"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        personal_store = Personal(c)
        tp = read_templates(c, personal_store)
        k = len(tp.sid)
        m = subjects - k
        rng = np.random.default_rng(seed)
        t_of = rng.integers(0, k, m)
        target = records - len(tp.rec_owner)
        rows_ci, rows_r = plan_records(tp, t_of, target, rng) if m else (np.zeros(0), np.zeros(0))
        seconds["plan"] = time.perf_counter() - t1
        progress(
            f"templates subjects={k} records={len(tp.rec_owner)} versions={tp.ver.num_rows} "
            f"memberships={tp.mem.num_rows} commitments={tp.cm.num_rows}; "
            f"clones={m} clone_records={len(rows_ci)}"
        )
        t2 = time.perf_counter()
        subjects_t, ident = SubjectMaker(c, tp, seed).make(t_of, rng)
        seconds["identities"] = time.perf_counter() - t2
        chunks = math.ceil(m / CHUNK_SUBJECTS)
        edges = np.arange(0, (chunks + 1) * CHUNK_SUBJECTS, CHUNK_SUBJECTS)
        _PLAN.update(
            tp=tp,
            personal=personal_store,
            subjects=subjects_t,
            ident=ident,
            t_of=t_of,
            rows_ci=rows_ci,
            rows_r=rows_r,
            bounds=np.searchsorted(rows_ci, edges),
            m=m,
            seed=seed,
            lean=lean,
            dsn="postgresql://" + url.split("://", 1)[1],
        )
        t3 = time.perf_counter()
        raw = c.engine.raw_connection()
        try:
            pg = raw.driver_connection
            with without_indexes(pg, parallel=workers, dsn=_PLAN["dsn"]):
                # Each worker generates a chunk and COPYs it on its own connection; one chunk
                # per worker in flight (bounded memory), `workers` COPYs in parallel.
                ctx = multiprocessing.get_context("fork")
                _PLAN["barrier"] = ctx.Barrier(workers)
                with ctx.Pool(workers) as pool:
                    jobs = pool.imap_unordered(_gen_copy_job, range(chunks))
                    for done, (i, got, copy_s) in enumerate(jobs, 1):
                        progress(
                            f"  chunk {done}/{chunks} (#{i + 1}) subjects={got.subjects} "
                            f"records={got.records} versions={got.versions} "
                            f"memberships={got.memberships} copy={copy_s:.1f}s "
                            f"t={time.perf_counter() - t3:.0f}s"
                        )
                    pool.map(_close_worker_pg, range(workers), chunksize=1)
                seconds["copy"] = time.perf_counter() - t3
                t5 = time.perf_counter()
            seconds["indexes"] = time.perf_counter() - t5
        finally:
            raw.close()
        t4 = time.perf_counter()
        housekeeping(c)
        seconds["vacuum"] = time.perf_counter() - t4
        return _summary(c, tokens, k, seconds)
    finally:
        c.dispose()


def _summary(c: Any, tokens: dict[str, str], k: int, seconds: dict[str, float]) -> City:
    from sqlalchemy import text

    with c.engine.connect() as conn:

        def count(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar_one())

        ids = [r[0] for r in conn.execute(text("SELECT subject_id FROM subjects ORDER BY 1"))]
        return City(
            subjects=len(ids),
            records=count("SELECT count(*) FROM records"),
            versions=count("SELECT count(*) FROM record_versions"),
            memberships=count("SELECT count(*) FROM memberships"),
            active_memberships=count(
                "SELECT count(*) FROM memberships WHERE status IN ('decided', 'published')"
            ),
            commitments=count("SELECT count(*) FROM commitments"),
            template_subjects=k,
            tokens=tokens,
            subject_ids=ids,
            seconds=seconds,
        )


def zipf_sample(n: int, size: int, rng: np.random.Generator, s: float = 1.0) -> np.ndarray:
    """`size` indexes into n items, Zipf(s) over a random ranking of the items."""
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    ranks = rng.choice(n, size=size, p=weights / weights.sum())
    return rng.permutation(n)[ranks]


def validate(c: Any, sample: list[str]) -> dict[str, int]:
    """Untimed checks on cloned rows: record keys and content hashes as intake computes them,
    valid codes, personal fields that open under their new record; then the application's own
    reads (public and authorised archive, a credit check) on a few of them."""
    from sqlalchemy import select

    import citycredit.subjects.archive as archive
    from citycredit.accounts.model import SYSTEM
    from citycredit.checks.service import run_check
    from citycredit.ingest.db import RecordRow, RecordVersionRow
    from citycredit.ingest.model import record_key
    from citycredit.lists import default_lists
    from citycredit.shared.ids import is_valid_uscc
    from citycredit.subjects.db import SubjectRow

    store = Personal(c)
    checked = {"subjects": 0, "records": 0, "versions": 0, "reads": 0}
    with c.uow() as uow:
        s = uow.session
        for sid in sample:
            subject = s.get(SubjectRow, sid)
            assert subject is not None, sid
            if subject.uscc:
                assert is_valid_uscc(subject.uscc), subject.uscc
            checked["subjects"] += 1
            for rec in s.scalars(select(RecordRow).where(RecordRow.subject_id == sid)):
                item = c.catalog.item(rec.item_code)
                v = s.scalar(
                    select(RecordVersionRow).where(
                        RecordVersionRow.record_id == rec.id,
                        RecordVersionRow.version == rec.current_version,
                    )
                )
                assert v is not None, rec.id
                opened = store.open(json.dumps(v.personal), rec.id, v.version)
                personal = json.loads(opened or "{}")
                if v.kind != "withdrawal":
                    key, _ = record_key(item.code, sid, item.key_of({**v.payload, **personal}))
                    assert key == rec.record_key, (rec.id, rec.key_text)
                    assert store.digest(v.payload, personal) == v.content_hash, rec.id
                    checked["versions"] += 1
                checked["records"] += 1
    matter = next(iter(default_lists().matters))
    for sid in sample[:20]:
        archive.public_archive(c, SYSTEM, sid)
        archive.authorised_archive(c, SYSTEM, sid, purpose="批量数据校验")
        run_check(c, SYSTEM, subject_id=sid, matter=matter, department="榆林市市场监督管理局")
        checked["reads"] += 1
    return checked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--subjects", type=int, default=20_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--keep", action="store_true", help="keep the database and its data dir")
    args = ap.parse_args()
    with workspace("bulk", keep=args.keep) as (url, data_dir):
        city = city_for(
            url,
            data_dir,
            reuse=False,
            subjects=args.subjects,
            records=args.records,
            seed=args.seed,
        )
        say(city.line())
        c = make_container(url, data_dir)
        try:
            rng = np.random.default_rng(1)
            sample = [city.subject_ids[i] for i in rng.choice(city.subjects, 200, replace=False)]
            say(f"validated {validate(c, sample)}")
        finally:
            c.dispose()


if __name__ == "__main__":
    main()
