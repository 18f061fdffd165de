"""已公示信息准确性核对 (G40): re-check a sample of published records against the source.

A department's snapshot is a full export of what its source system holds now for one catalog
item, in any layout the intake reads (CSV / XLSX / JSON, national CF_* / XK_* codes, catalog
labels or aliases). The check:

1. takes the department's records of that item that are published now (`is_public_now`, the
   one rule of every public read) — the population;
2. draws a seeded random sample of them (`draw_sample`; the seed is stored, so a check can be
   repeated). Sample size: the caller's, capped by the population, or `default_sample_size`:
   n0 = z²·p(1−p)/e² with z = 1.96 (95 % confidence), p = 0.5 (the most conservative) and
   e = 0.05 (±5 %), i.e. n0 ≈ 384.1, then the finite-population correction
   n = ⌈n0 / (1 + (n0 − 1)/N)⌉, capped by N (so a population of 50 gives 45, of 10 000 gives
   370, and every population of twenty or fewer is checked whole);
3. reads the snapshot with the intake's own reader, header mapping and row parser
   (`Intake.parse`: the same value normalisation, required fields and category checks,
   `publication_for`), resolves each candidate row's subject without creating any
   (`SubjectRegistry.resolve(create=False)`) and computes its record key with `record_key` —
   the key the intake would have stored the row under. Only rows whose key fields equal a
   sampled record's are parsed in full; rows of records not sampled are not judged;
4. compares, field by field, what the public sees of the stored current version with the
   snapshot row normalised as the intake would (`split_fields`): the catalog's public fields
   that the snapshot has a column for (the others are listed as not compared). Amounts compare
   as numbers;
5. gives each sampled record one outcome: ``match``; ``mismatch`` (the differing field codes —
   the two values only for fields that are not personal: never a catalog-personal field, an
   address or phone, nor any free-text field of a natural person's record; values are scrubbed
   of ID and phone numbers); ``missing_at_source`` (we publish what the source no longer
   holds); ``unparseable_at_source`` (the source row with that key would be quarantined by the
   intake: field and reason code, no value).

Error rate = (mismatch + missing_at_source) / sampled, with a Wilson 95 % interval. Every
non-matching item is open work for the credit office's clerk (``citycredit accuracy show``;
``close_item`` records what was done); records are never changed here — a correction comes
from the department through the intake, as any correction does. Each run is stored
(``accuracy_checks``, ``accuracy_check_items``), audited (``quality.accuracy_check``, counts and
rate only) and announced on the outbox (``accuracy.checked``). A snapshot that cannot be read
is stored as a failed check and audited as a failure.

`check_dropped_snapshots` (job ``accuracy_check``) checks what departments drop into
``data_dir/accuracy/<department code>/<item>/`` (the newest file per item, each file once).
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import add_event
from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import SYSTEM, Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem, FieldSpec, FieldType, Openness
from citycredit.catalog.publication import publication_for
from citycredit.catalog.values import parse_field
from citycredit.ingest.db import (
    AccuracyCheckItemRow,
    AccuracyCheckRow,
    RecordRow,
    RecordVersionRow,
)
from citycredit.ingest.intake import PERSON_TYPES, Intake
from citycredit.ingest.model import Reason, json_value, record_key
from citycredit.ingest.quality import REASON_LABELS
from citycredit.ingest.readers import FileInfo, ReadError, SourceRow, open_source
from citycredit.ingest.service import (
    DELETE_OPERATION,
    _map_headers,
    _operation_of,
    _operations,
)
from citycredit.kernel import outbox
from citycredit.privacy.records import PERSON_ROLES, is_sealed_field, split_fields
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import CityCreditError, Conflict, FieldError, NotFound
from citycredit.shared.files import sha256_file
from citycredit.shared.idgen import new_id
from citycredit.shared.masking import scrub_value
from citycredit.subjects.archive import current_versions, is_public_now
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.service import facts_from_roles

log = logging.getLogger(__name__)

__all__ = [
    "OUTCOMES",
    "OUTCOME_LABELS",
    "check_dropped_snapshots",
    "close_item",
    "compare_record",
    "default_sample_size",
    "draw_sample",
    "get_check",
    "list_checks",
    "run_accuracy_check",
    "wilson_interval",
]

Z95 = 1.959963984540054  # two-sided 95 %
MARGIN = 0.05  # ±5 %
MAX_SEED = 2**31 - 1
OUTCOMES = ("match", "mismatch", "missing_at_source", "unparseable_at_source")
OUTCOME_LABELS = {
    "match": "一致",
    "mismatch": "不一致",
    "missing_at_source": "源系统已无此记录",
    "unparseable_at_source": "源数据无法解析",
}
STATUS_LABELS = {"ok": "无需处理", "open": "待处理", "closed": "已处理"}
TRIGGERS = ("cli", "job", "api")
SNAPSHOT_SUFFIXES = (".csv", ".xlsx", ".json")
DROP_FOLDER = "accuracy"
KEY_TEXT_MAX = 400  # records.key_text keeps the first 400 characters of the key


# -- pure parts ---------------------------------------------------------------------------------


def default_sample_size(
    population: int, *, margin: float = MARGIN, z: float = Z95, p: float = 0.5
) -> int:
    """n for ±margin at the z confidence, with the finite-population correction, capped by N."""
    if population <= 0:
        return 0
    n0 = z * z * p * (1 - p) / (margin * margin)
    n = n0 / (1 + (n0 - 1) / population)
    return min(population, math.ceil(n - 1e-9))


def wilson_interval(errors: int, n: int, *, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of errors / n (None for an empty sample)."""
    if n <= 0:
        return None
    p = errors / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def draw_sample(ids: Sequence[str], n: int, seed: int) -> list[str]:
    """A repeatable random sample of n ids (sorted): the same ids and seed, the same sample."""
    population = sorted(ids)
    n = max(0, min(n, len(population)))
    return sorted(random.Random(seed).sample(population, n))


def _same(spec: FieldSpec, published: Any, source: Any) -> bool:
    if published == source:
        return True
    if spec.type is FieldType.decimal and published is not None and source is not None:
        try:
            return Decimal(str(published)) == Decimal(str(source))
        except InvalidOperation:
            return False
    return False


def values_allowed(spec: FieldSpec, *, natural_person: bool) -> bool:
    """Whether a differing field's two values may be kept in clear on the check's item."""
    if spec.personal or spec.role in PERSON_ROLES:
        return False
    # A natural person's name and free text (违法事实 …) name the person: field codes only.
    return not (natural_person and spec.type is FieldType.text)


def comparable_fields(item: CatalogItem, columns: set[str]) -> tuple[list[str], list[str]]:
    """(fields compared, public fields the snapshot has no column for)."""
    public = [spec.code for spec in item.fields if spec.public and not spec.personal]
    return [c for c in public if c in columns], [c for c in public if c not in columns]


def compare_record(
    item: CatalogItem,
    published: Mapping[str, Any],
    source_values: Mapping[str, Any],
    columns: set[str],
    *,
    natural_person: bool,
) -> list[dict[str, Any]]:
    """The fields where the public sees something other than the source holds.

    ``published``: the stored current version's payload; ``source_values``: the snapshot row as
    `Intake.parse` returns it (normalised like the intake, then split like the intake stores).
    """
    source, _personal = split_fields(item, source_values, natural_person=natural_person)
    diffs: list[dict[str, Any]] = []
    for spec in item.fields:
        code = spec.code
        if code not in columns:
            continue
        if is_sealed_field(item, spec, published, natural_person=natural_person) or (
            is_sealed_field(item, spec, source, natural_person=natural_person)
        ):
            continue  # never on the public view of this record
        if not (item.is_public_field(code, published) or item.is_public_field(code, source)):
            continue
        a, b = published.get(code), source.get(code)
        if _same(spec, a, b):
            continue
        entry: dict[str, Any] = {"field": code, "label": spec.label}
        if values_allowed(spec, natural_person=natural_person):
            entry["published"] = scrub_value(a)
            entry["source"] = scrub_value(b)
        else:
            entry["values_withheld"] = True
        diffs.append(entry)
    return diffs


def _suffix(key: tuple[object, ...]) -> str:
    """The key fields part of a record's key text ("|" + fields), as `record_key` writes it."""
    return "|" + "|".join("" if v is None else str(json_value(v)) for v in key)


def _stored_suffix(record: RecordRow) -> tuple[str, bool]:
    """(key fields part of the stored key text, whether the text was cut at 400 characters)."""
    head = f"{record.item_code}|{record.subject_id}"
    return record.key_text[len(head) :], len(record.key_text) >= KEY_TEXT_MAX


# -- the check ----------------------------------------------------------------------------------


@dataclass
class _SourceRow:
    number: int
    values: dict[str, Any]
    reasons: list[Reason]


@dataclass
class _Scan:
    rows: int = 0
    deleted: int = 0  # OPERATION=删除 rows: not held by the source
    unreadable_keys: int = 0  # the key fields themselves could not be read: not attributable
    duplicates: int = 0
    found: dict[str, _SourceRow] = field(default_factory=dict)  # record id → its source row


def _department(s: Session, department: int | str) -> DepartmentRow:
    if isinstance(department, int):
        dept = s.get(DepartmentRow, department)
    else:
        text = department.strip()
        dept = s.scalar(
            select(DepartmentRow).where(
                (DepartmentRow.code == text.upper()) | (DepartmentRow.name == text)
            )
        )
    if dept is None:
        raise NotFound(f"部门「{department}」不存在", code="department_not_found")
    return dept


def _require_access(actor: Principal, department_id: int) -> None:
    """The credit office checks every department; a department checks its own records."""
    if actor.can(Permission.read_all_submissions):
        return
    require(actor, Permission.read_own_submissions, department_id=department_id)


def _population(s: Session, department_id: int, item_code: str, today: date) -> list[RecordRow]:
    """The department's records of the item that are published now (the public view's rule)."""
    rows = s.scalars(
        select(RecordRow)
        .where(
            RecordRow.department_id == department_id,
            RecordRow.item_code == item_code,
            RecordRow.status == "active",
            RecordRow.openness == Openness.public.value,
            RecordRow.published,
            RecordRow.repaired_at.is_(None),
        )
        .order_by(RecordRow.id)
    )
    return [r for r in rows if is_public_now(r, today)]


def _check_arguments(sample_size: int | None, seed: int | None, trigger: str) -> None:
    if sample_size is not None and sample_size < 1:
        raise FieldError(
            "sample_size", str(sample_size), "out_of_range", "抽样数量（sample）必须是正整数"
        )
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise FieldError(
            "seed", str(seed), "out_of_range", f"随机种子（seed）必须在 0 到 {MAX_SEED} 之间"
        )
    if trigger not in TRIGGERS:
        raise FieldError("trigger", trigger, "invalid", "触发方式只能是 cli、job 或 api")


def run_accuracy_check(
    c: Container,
    department_id: int | str,
    snapshot_path: Path,
    *,
    item_code: str,
    sample_size: int | None = None,
    seed: int | None = None,
    actor: Principal,
    trigger: str = "cli",
    filename: str | None = None,
) -> dict[str, Any]:
    """Check a sample of the department's published records of one item against its snapshot.

    ``department_id``: the department's id, or its code (统一社会信用代码) or name. Returns the
    stored report (`get_check`'s shape). Records are never changed.
    """
    _check_arguments(sample_size, seed, trigger)
    item = c.catalog.item(item_code)
    path = Path(snapshot_path)
    now = c.clock.now()
    today = local_date(now)
    with c.uow() as uow:
        s = uow.session
        dept = _department(s, department_id)
        _require_access(actor, dept.id)
        dept_id, dept_name = dept.id, dept.name
        population = _population(s, dept.id, item.code, today)
        if sample_size is not None:
            n, rule = min(sample_size, len(population)), "argument"
        else:
            n, rule = default_sample_size(len(population)), "formula"
        if seed is None:
            seed = secrets.randbelow(MAX_SEED + 1)
        sample = draw_sample([r.id for r in population], n, seed)
        try:
            info, rows = open_source(path)
            mapping, unknown = _map_headers(item, info)
            scan = _scan(c, s, item, dept, actor, population, sample, info, rows, mapping, unknown)
        except (ReadError, FieldError) as exc:
            uow.rollback()
            _record_failure(c, actor, dept_id, item.code, path, filename, trigger, exc)
            raise
        columns = set(mapping.values())
        compared, uncompared = comparable_fields(item, columns)
        by_id = {r.id: r for r in population}
        chosen = [by_id[i] for i in sample]
        versions = current_versions(s, chosen)
        kinds = _subject_types(s, {r.subject_id for r in chosen})
        check = AccuracyCheckRow(
            id=new_id("acc"),
            department_id=dept.id,
            item_code=item.code,
            status="completed",
            trigger=trigger,
            filename=(filename or path.name)[:255],
            sha256=info.sha256,
            format=info.format.value,
            encoding=info.encoding,
            population=len(population),
            sample_size=n,
            sample_rule=rule,
            seed=seed,
            sampled=len(chosen),
            snapshot_rows=scan.rows,
            created_by=actor.label[:100],
            created_at=now,
        )
        s.add(check)
        s.flush()
        counts: Counter[str] = Counter()
        for record in chosen:
            row = _judge(
                item,
                record,
                versions[record.id],
                scan.found.get(record.id),
                columns,
                natural_person=kinds.get(record.subject_id) in PERSON_TYPES,
            )
            row.check_id = check.id
            counts[row.outcome] += 1
            s.add(row)
        errors = counts["mismatch"] + counts["missing_at_source"]
        interval = wilson_interval(errors, len(chosen))
        check.matched, check.mismatched = counts["match"], counts["mismatch"]
        check.missing, check.unparseable = (
            counts["missing_at_source"],
            counts["unparseable_at_source"],
        )
        check.error_rate = errors / len(chosen) if chosen else None
        check.ci_low, check.ci_high = interval if interval else (None, None)
        notes = _notes(scan, sample_size, n, len(population), unknown)
        check.summary = {
            "compared_fields": compared,
            "uncompared_fields": uncompared,
            "deleted_rows": scan.deleted,
            "unattributable_rows": scan.unreadable_keys,
            "duplicate_keys": scan.duplicates,
            "notes": notes,
        }
        detail = _audit_detail(check)
        add_event(
            s,
            at=now,
            action="quality.accuracy_check",
            result="success",
            actor=actor,
            object_id=check.id,
            detail=detail,
        )
        outbox.emit(
            s,
            event_type="accuracy.checked",
            aggregate_type="accuracy_check",
            aggregate_id=check.id,
            at=now,
            payload=detail,
        )
        s.flush()
        report = _view(c, check, dept_name, _items(s, check.id))
        uow.commit()
    log.info(
        "accuracy check %s: department %s item %s sampled %d errors %d",
        report["id"],
        dept_id,
        item.code,
        report["sampled"],
        errors,
    )
    return report


def _notes(
    scan: _Scan, requested: int | None, n: int, population: int, unknown: list[str]
) -> list[str]:
    notes = []
    if requested is not None and requested > population:
        notes.append(f"指定抽样 {requested} 条，超过公示中记录数 {population}，按 {n} 条抽样")
    if scan.unreadable_keys:
        notes.append(f"快照中 {scan.unreadable_keys} 行的主键字段无法读取，无法对应记录")
    if scan.duplicates:
        notes.append(f"快照中 {scan.duplicates} 行与前面的行主键相同，按最后一行核对（同归集）")
    if scan.deleted:
        notes.append(f"快照中 {scan.deleted} 行为 删除 操作，视为源系统不再持有")
    if unknown:
        notes.append("未识别的列（不参与核对）：" + "、".join(unknown[:20]))
    return notes


def _audit_detail(check: AccuracyCheckRow) -> dict[str, Any]:
    """What the audit trail and the outbox keep of a check: counts and rates, no values."""
    return {
        "department_id": check.department_id,
        "item": check.item_code,
        "trigger": check.trigger,
        "sha256": check.sha256,
        "population": check.population,
        "sample_size": check.sample_size,
        "sample_rule": check.sample_rule,
        "seed": check.seed,
        "sampled": check.sampled,
        "match": check.matched,
        "mismatch": check.mismatched,
        "missing_at_source": check.missing,
        "unparseable_at_source": check.unparseable,
        "error_rate": check.error_rate,
        "ci_low": check.ci_low,
        "ci_high": check.ci_high,
    }


def _scan(
    c: Container,
    s: Session,
    item: CatalogItem,
    dept: DepartmentRow,
    actor: Principal,
    population: list[RecordRow],
    sample: list[str],
    info: FileInfo,
    rows: Iterator[SourceRow],
    mapping: dict[str, str],
    unknown: list[str],
) -> _Scan:
    """Find the snapshot row of each sampled record, as the intake would key it."""
    intake = Intake(c, s, item, dept, None, actor, c.clock.now())
    today = intake.today
    ops = _operations(info, unknown)
    chosen = set(sample)
    by_hash = {r.record_key: r for r in population if r.id in chosen}
    by_suffix: dict[str, list[RecordRow]] = {}
    cut: list[tuple[str, RecordRow]] = []
    suffix_count: Counter[str] = Counter()
    for r in population:
        suffix, truncated = _stored_suffix(r)
        suffix_count[suffix] += 1
        if r.id in chosen:
            if truncated:
                cut.append((suffix, r))
            else:
                by_suffix.setdefault(suffix, []).append(r)
    key_codes = set(item.key_fields) | {fb for _, fb in item.key_fallbacks}
    key_headers = {h: code for h, code in mapping.items() if code in key_codes}
    scan = _Scan()
    try:
        for row in rows:
            scan.rows += 1
            if _operation_of(row, ops) == DELETE_OPERATION:
                scan.deleted += 1
                continue
            # First only the key fields: most rows belong to records not sampled (not judged).
            keys: dict[str, Any] = {}
            try:
                for header, code in key_headers.items():
                    keys[code] = parse_field(item.field(code), row.values.get(header), today=today)
            except FieldError:
                scan.unreadable_keys += 1
                continue
            key = item.key_of(keys)
            if all(v is None or v == "" for v in key):
                scan.unreadable_keys += 1
                continue
            suffix = _suffix(key)
            candidates = by_suffix.get(suffix, []) + [r for p, r in cut if suffix.startswith(p)]
            if not candidates:
                continue
            mapped = {code: row.values.get(header) for header, code in mapping.items()}
            values, reasons = intake.parse(mapped)
            if not reasons:
                try:
                    publication_for(item, values, intake._decision_date(values))
                except FieldError as e:
                    reasons = [Reason(e.field, e.value, e.code, e.message)]
            record = _attribute(
                intake, item, values, key, suffix, candidates, by_hash, suffix_count
            )
            if record is None:
                continue
            if record.id in scan.found:
                scan.duplicates += 1
            scan.found[record.id] = _SourceRow(row.number, values, reasons)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # a generator holds the file open until closed
    return scan


def _attribute(
    intake: Intake,
    item: CatalogItem,
    values: dict[str, Any],
    key: tuple[object, ...],
    suffix: str,
    candidates: list[RecordRow],
    by_hash: dict[str, RecordRow],
    suffix_count: Counter[str],
) -> RecordRow | None:
    """The sampled record a source row is about: its subject resolved as the intake would (never
    created) and the record key; a row whose subject cannot be resolved (no code, a name that is
    not unique) by its key fields, when exactly one of the department's published records of the
    item has them."""
    facts = facts_from_roles(values, intake.roles)
    resolution = intake.registry.resolve(facts, create=False)
    if resolution.subject is not None:
        key_hash, _ = record_key(item.code, resolution.subject.subject_id, key)
        return by_hash.get(key_hash)
    if len(candidates) == 1 and suffix_count[suffix] == 1:
        return candidates[0]
    return None


def _judge(
    item: CatalogItem,
    record: RecordRow,
    version: RecordVersionRow,
    source: _SourceRow | None,
    columns: set[str],
    *,
    natural_person: bool,
) -> AccuracyCheckItemRow:
    fields: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []
    if source is None:
        outcome = "missing_at_source"
    elif source.reasons:
        outcome = "unparseable_at_source"
        reasons = [
            {"field": r.field, "code": r.code, "label": REASON_LABELS.get(r.code, r.code)}
            for r in source.reasons
        ]
    else:
        fields = compare_record(
            item, version.payload or {}, source.values, columns, natural_person=natural_person
        )
        outcome = "mismatch" if fields else "match"
    return AccuracyCheckItemRow(
        record_id=record.id,
        record_version=version.version,
        outcome=outcome,
        fields=fields,
        reasons=reasons,
        source_row=source.number if source else None,
        status="ok" if outcome == "match" else "open",
    )


def _subject_types(s: Session, subject_ids: set[str]) -> dict[str, str]:
    ids = sorted(subject_ids)
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        for sid, kind in s.execute(
            select(SubjectRow.subject_id, SubjectRow.subject_type).where(
                SubjectRow.subject_id.in_(ids[i : i + 500])
            )
        ):
            out[sid] = kind
    return out


def _record_failure(
    c: Container,
    actor: Principal,
    department_id: int,
    item_code: str,
    path: Path,
    filename: str | None,
    trigger: str,
    exc: Exception,
) -> None:
    """A snapshot that cannot be read: a failed check (so a dropped file is not retried) and an
    audit event with the error."""
    try:
        digest: str | None = sha256_file(path)
    except OSError:
        digest = None
    message = getattr(exc, "message", str(exc))
    value = getattr(exc, "value", None)
    error = {
        "message": message,
        "field": getattr(exc, "field", None),
        "value": None if value is None else str(value)[:200],
    }
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        check = AccuracyCheckRow(
            id=new_id("acc"),
            department_id=department_id,
            item_code=item_code,
            status="failed",
            trigger=trigger,
            filename=(filename or path.name)[:255],
            sha256=digest,
            sample_rule="none",
            summary={"error": error},
            created_by=actor.label[:100],
            created_at=now,
        )
        s.add(check)
        s.flush()
        add_event(
            s,
            at=now,
            action="quality.accuracy_check",
            result="failure",
            actor=actor,
            object_id=check.id,
            detail={
                "department_id": department_id,
                "item": item_code,
                "trigger": trigger,
                "sha256": digest,
                "error": message[:300],
            },
        )
        uow.commit()


# -- reading and closing ------------------------------------------------------------------------


def _items(s: Session, check_id: str) -> list[AccuracyCheckItemRow]:
    return list(
        s.scalars(
            select(AccuracyCheckItemRow)
            .where(AccuracyCheckItemRow.check_id == check_id)
            .order_by(AccuracyCheckItemRow.id)
        )
    )


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _summary(check: AccuracyCheckRow, department: str, item_name: str) -> dict[str, Any]:
    return {
        "id": check.id,
        "status": check.status,
        "department_id": check.department_id,
        "department": department,
        "item": check.item_code,
        "item_name": item_name,
        "trigger": check.trigger,
        "filename": check.filename,
        "sha256": check.sha256,
        "format": check.format,
        "encoding": check.encoding,
        "population": check.population,
        "sample_size": check.sample_size,
        "sample_rule": check.sample_rule,
        "seed": check.seed,
        "sampled": check.sampled,
        "counts": {
            "match": check.matched,
            "mismatch": check.mismatched,
            "missing_at_source": check.missing,
            "unparseable_at_source": check.unparseable,
        },
        "error_rate": _rate(check.error_rate),
        "ci_low": _rate(check.ci_low),
        "ci_high": _rate(check.ci_high),
        "snapshot_rows": check.snapshot_rows,
        "created_by": check.created_by,
        "created_at": check.created_at.isoformat(),
    }


def _item_view(row: AccuracyCheckItemRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "record_id": row.record_id,
        "version": row.record_version,
        "outcome": row.outcome,
        "outcome_label": OUTCOME_LABELS[row.outcome],
        "fields": list(row.fields or []),
        "reasons": list(row.reasons or []),
        "source_row": row.source_row,
        "status": row.status,
        "closed_by": row.closed_by,
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "note": row.note,
    }


def _view(
    c: Container, check: AccuracyCheckRow, department: str, items: list[AccuracyCheckItemRow]
) -> dict[str, Any]:
    item = c.catalog.items.get(check.item_code)
    out = _summary(check, department, item.name if item else check.item_code)
    out.update(check.summary or {})
    out["items"] = [_item_view(r) for r in items]
    out["open"] = sum(1 for r in items if r.status == "open")
    return out


def get_check(c: Container, actor: Principal, check_id: str) -> dict[str, Any]:
    """One check with its items: the clerk's work list (open items) and what matched."""
    with c.uow() as uow:
        s = uow.session
        check = s.get(AccuracyCheckRow, check_id)
        if check is None:
            raise NotFound(f"核对批次 {check_id} 不存在", code="accuracy_check_not_found")
        _require_access(actor, check.department_id)
        dept = s.get(DepartmentRow, check.department_id)
        view = _view(c, check, dept.name if dept else "", _items(s, check.id))
        uow.finish_read()
        return view


def list_checks(
    c: Container, actor: Principal, *, department: int | str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Recent checks, newest first (a department sees its own)."""
    limit = max(1, min(limit, 500))
    with c.uow() as uow:
        s = uow.session
        stmt = select(AccuracyCheckRow)
        if department is not None:
            dept = _department(s, department)
            _require_access(actor, dept.id)
            stmt = stmt.where(AccuracyCheckRow.department_id == dept.id)
        elif not actor.can(Permission.read_all_submissions):
            require(actor, Permission.read_own_submissions, department_id=actor.department_id)
            stmt = stmt.where(AccuracyCheckRow.department_id == actor.department_id)
        rows = list(
            s.scalars(
                stmt.order_by(AccuracyCheckRow.created_at.desc(), AccuracyCheckRow.id).limit(limit)
            )
        )
        names = {d.id: d.name for d in s.scalars(select(DepartmentRow))}
        open_counts: Counter[str] = Counter(
            cid
            for (cid,) in s.execute(
                select(AccuracyCheckItemRow.check_id).where(
                    AccuracyCheckItemRow.check_id.in_([r.id for r in rows]),
                    AccuracyCheckItemRow.status == "open",
                )
            )
        )
        out = []
        for r in rows:
            item = c.catalog.items.get(r.item_code)
            view = _summary(r, names.get(r.department_id, ""), item.name if item else r.item_code)
            view["open"] = open_counts[r.id]
            if r.status == "failed":
                view["error"] = (r.summary or {}).get("error")
            out.append(view)
        uow.finish_read()
        return out


def close_item(c: Container, actor: Principal, item_id: int, note: str) -> dict[str, Any]:
    """The clerk records what was done about a discrepancy (the department corrected its source
    or resubmitted; the publication was confirmed …). The record itself is not touched."""
    require(actor, Permission.read_all_submissions)
    note = (note or "").strip()
    if len(note) < 2:
        raise FieldError("note", note, "required", "处理说明（note）至少两个字")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = s.get(AccuracyCheckItemRow, item_id)
        if row is None:
            raise NotFound(f"核对条目 {item_id} 不存在", code="accuracy_item_not_found")
        if row.status != "open":
            raise Conflict(
                f"核对条目 {item_id} 的状态是「{STATUS_LABELS.get(row.status, row.status)}」，"
                "不是待处理",
                code="accuracy_item_not_open",
            )
        row.status, row.closed_by, row.closed_at, row.note = "closed", actor.label, now, note
        add_event(
            s,
            at=now,
            action="quality.accuracy_item_close",
            result="success",
            actor=actor,
            object_id=str(row.id),
            detail={"check_id": row.check_id, "record_id": row.record_id, "outcome": row.outcome},
        )
        outbox.emit(
            s,
            event_type="accuracy.item_closed",
            aggregate_type="accuracy_check",
            aggregate_id=row.check_id,
            at=now,
            payload={"item_id": row.id, "record_id": row.record_id},
        )
        s.flush()
        view = _item_view(row)
        uow.commit()
        return view


# -- the drop folder (job accuracy_check) -------------------------------------------------------


def drop_folder(c: Container) -> Path:
    return c.settings.data_dir / DROP_FOLDER


def _private_dir(path: Path) -> None:
    """Folders readable by the platform's own account only (as the sharing exchange folder)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.is_symlink())


def check_dropped_snapshots(c: Container, actor: Principal = SYSTEM) -> dict[str, Any]:
    """Check the newest snapshot each department dropped per item, each file once.

    ``data_dir/accuracy/<department code>/<item code>/*.csv|xlsx|json``: folders are made
    0700 and a file 0600 before it is read (it may hold ID numbers); symbolic links are not
    followed. A file already checked by this job (same department, item and SHA-256) is
    skipped, so is any file older than the item's newest.
    """
    root = drop_folder(c)
    _private_dir(root)
    out: dict[str, Any] = {"checked": [], "skipped": 0, "failed": [], "ignored": []}
    for dept_dir in _entries(root):
        rel = dept_dir.relative_to(root).as_posix()
        if not dept_dir.is_dir():
            out["ignored"].append({"path": rel, "reason": "不是部门代码目录"})
            continue
        with c.uow() as uow:
            dept = uow.session.scalar(
                select(DepartmentRow).where(DepartmentRow.code == dept_dir.name.upper())
            )
            dept_id = dept.id if dept else None
            uow.finish_read()
        if dept_id is None:
            out["ignored"].append({"path": rel, "reason": f"没有代码为 {dept_dir.name} 的部门"})
            continue
        os.chmod(dept_dir, 0o700)
        for item_dir in _entries(dept_dir):
            rel = item_dir.relative_to(root).as_posix()
            if not item_dir.is_dir() or item_dir.name not in c.catalog.items:
                out["ignored"].append({"path": rel, "reason": "不是目录中的信息项代码"})
                continue
            os.chmod(item_dir, 0o700)
            files = [
                p
                for p in _entries(item_dir)
                if p.is_file() and p.suffix.lower() in SNAPSHOT_SUFFIXES
            ]
            if not files:
                continue
            newest = max(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
            rel = newest.relative_to(root).as_posix()
            try:
                os.chmod(newest, 0o600)
                digest = sha256_file(newest)
            except OSError as exc:
                out["ignored"].append({"path": rel, "reason": f"无法读取：{exc.strerror}"})
                continue
            if _checked_before(c, dept_id, item_dir.name, digest):
                out["skipped"] += 1
                continue
            try:
                report = run_accuracy_check(
                    c, dept_id, newest, item_code=item_dir.name, actor=actor, trigger="job"
                )
            except (CityCreditError, ReadError) as exc:
                out["failed"].append({"path": rel, "error": getattr(exc, "message", str(exc))})
                continue
            out["checked"].append(
                {
                    "path": rel,
                    "id": report["id"],
                    "sampled": report["sampled"],
                    "error_rate": report["error_rate"],
                    "open": report["open"],
                }
            )
    return out


def _checked_before(c: Container, department_id: int, item_code: str, digest: str) -> bool:
    with c.uow() as uow:
        found = uow.session.scalar(
            select(AccuracyCheckRow.id)
            .where(
                AccuracyCheckRow.department_id == department_id,
                AccuracyCheckRow.item_code == item_code,
                AccuracyCheckRow.sha256 == digest,
                AccuracyCheckRow.trigger == "job",
            )
            .limit(1)
        )
        uow.finish_read()
        return found is not None
