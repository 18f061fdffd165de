"""归集: one function per intent — ingest a submission, read receipts, withdraw a record.

Every submitted row is either stored (new, corrected, duplicate) or quarantined with one reason
per failing field; a submission runs in one transaction, so an interrupted run leaves the
database as it was and re-running completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, require, require_subject_access
from citycredit.accounts.service import acting_department
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.catalog.values import parse_field
from citycredit.ingest.db import (
    RecordRow,
    RecordVersionRow,
    RejectRow,
    SubmissionRow,
)
from citycredit.ingest.intake import FLUSH_EVERY, Intake, roles_of
from citycredit.ingest.model import Counts, canonical_bytes, record_key
from citycredit.ingest.readers import FileInfo, ReadError, SourceRow, open_source
from citycredit.kernel import outbox
from citycredit.ledger.entries import record_version_entry
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import reject_aad, version_aad
from citycredit.shared.calendar import local_date
from citycredit.shared.digest import content_hash
from citycredit.shared.errors import Conflict, FieldError, NotFound
from citycredit.shared.idgen import new_id
from citycredit.shared.personal import is_sealed
from citycredit.subjects.service import SubjectRegistry, facts_from_roles


@dataclass(frozen=True)
class Receipt:
    """回执 of one submission."""

    submission_id: str
    item: str
    department: str
    status: str
    dry_run: bool
    filename: str
    format: str
    encoding: str | None
    encoding_reason: str | None
    sha256: str
    counts: Counts
    notes: list[str]
    created_at: datetime
    completed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "submission_id": self.submission_id,
            "item": self.item,
            "department": self.department,
            "status": self.status,
            "dry_run": self.dry_run,
            "filename": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "encoding_reason": self.encoding_reason,
            "sha256": self.sha256,
            "received": c.received,
            "new": c.new,
            "corrected": c.corrected,
            "duplicate": c.duplicate,
            "rejected": c.rejected,
            "unresolved": c.unresolved,
            "balanced": c.balanced,
            "notes": self.notes,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


def ingest_submission(
    c: Container,
    actor: Principal,
    *,
    path: Path,
    item_code: str,
    department: str | None = None,
    filename: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    fast: bool | None = None,
) -> Receipt:
    """Validate and store one file of one catalog item for one department (or only validate).

    ``fast`` chooses the vectorised intake (ingest/fast, same results) or the row loop; by
    default files of at least ``settings.intake_fast_min_bytes`` take the vectorised one.
    """
    require(actor, Permission.submit_records)
    item = c.catalog.item(item_code)
    info, rows = open_source(path)
    mapping, unknown = _map_headers(item, info)
    use_fast = _fast_path(c, item.code, path, fast)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        dept = acting_department(s, actor, department)
        require(actor, Permission.submit_records, department_id=dept.id)
        submission = SubmissionRow(
            id=new_id("sub"),
            department_id=dept.id,
            item_code=item.code,
            catalog_version=item.version,
            filename=filename or path.name,
            format=info.format.value,
            encoding=info.encoding,
            encoding_reason=info.encoding_reason,
            sha256=info.sha256,
            status="processing",
            submitted_by=actor.label,
            created_at=now,
        )
        s.add(submission)
        s.flush()
        intake = Intake(c, s, item, dept, submission.id, actor, now)
        if unknown:
            intake.note("未识别的列（原样保存在问题数据与原始行中）：" + "、".join(unknown))
        if use_fast:
            from citycredit.ingest.fast import run_fast

            rows.close()  # type: ignore[attr-defined]
            run_fast(intake, path, info, mapping, progress)
        else:
            _run_rows(c, intake, rows, mapping, progress)
        counts = intake.counts
        submission = s.get(SubmissionRow, intake.submission_id)  # type: ignore[assignment]
        assert submission is not None
        for k in ("received", "new", "corrected", "duplicate", "rejected", "unresolved"):
            setattr(submission, k, getattr(counts, k))
        submission.notes = intake.notes
        submission.status = "completed"
        submission.completed_at = c.clock.now()
        if not counts.balanced:  # an invariant, not an input problem: never store a broken receipt
            raise AssertionError(f"receipt does not balance: {counts}")
        outbox.emit(
            s,
            event_type="submission.completed",
            aggregate_type="submission",
            aggregate_id=submission.id,
            at=now,
            payload={"item": item.code, "department_id": dept.id, **counts.__dict__},
        )
        receipt = _receipt(submission, dept.name, counts, dry_run)
        if dry_run:
            uow.rollback()
        else:
            uow.commit()
        return receipt


def _fast_path(c: Container, item_code: str, path: Path, fast: bool | None) -> bool:
    """Whether a submission takes the vectorised intake (never for 登记基本信息)."""
    from citycredit.ingest.fast import FAST_ITEMS_EXCLUDED

    if item_code in FAST_ITEMS_EXCLUDED:
        return False
    if fast is not None:
        return fast
    limit = c.settings.intake_fast_min_bytes
    return limit is not None and path.stat().st_size >= limit


def _run_rows(
    c: Container,
    intake: Intake,
    rows: Iterator[SourceRow],
    mapping: dict[str, str],
    progress: Callable[[int], None] | None,
) -> None:
    hook = c.fault_hook
    done = 0
    for row in rows:
        mapped = {code: row.values.get(header) for header, code in mapping.items()}
        raw = dict(row.values)  # the row as sent, empty cells included
        intake.process(row.number, raw, mapped)
        done += 1
        if done % FLUSH_EVERY == 0:
            intake.s.flush()
            intake.s.expunge_all()  # flat memory: the identity map would otherwise keep every row
            if progress:
                progress(done)
        if callable(hook):
            hook(done)
    if progress:
        progress(done)


def _map_headers(item: CatalogItem, info: FileInfo) -> tuple[dict[str, str], list[str]]:
    mapping: dict[str, str] = {}
    unknown: list[str] = []
    taken: dict[str, str] = {}
    for header in info.headers:
        code = item.resolve_header(header)
        if code is None:
            unknown.append(header)
            continue
        if code in taken:
            raise ReadError(
                f"列「{header}」与列「{taken[code]}」都对应字段 {code}，无法确定使用哪一列",
                field="header",
                value=header,
            )
        taken[code] = header
        mapping[header] = code
    if not mapping:
        raise ReadError(
            f"文件的列名与信息项「{item.name}」的字段都不对应：{'、'.join(info.headers[:10])}",
            field="header",
            value=",".join(info.headers[:10]),
        )
    return mapping, unknown


def _receipt(row: SubmissionRow, department: str, counts: Counts, dry_run: bool) -> Receipt:
    return Receipt(
        submission_id=row.id,
        item=row.item_code,
        department=department,
        status=row.status,
        dry_run=dry_run,
        filename=row.filename,
        format=row.format,
        encoding=row.encoding,
        encoding_reason=row.encoding_reason,
        sha256=row.sha256,
        counts=counts,
        notes=list(row.notes or []),
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


def get_receipt(c: Container, actor: Principal, submission_id: str) -> Receipt:
    """The receipt of a stored submission (own department's, or any for the credit office)."""
    with c.uow() as uow:
        row = uow.session.get(SubmissionRow, submission_id)
        if row is None:
            raise NotFound(f"报送批次 {submission_id} 不存在", code="submission_not_found")
        _require_submission_access(actor, row)
        dept = uow.session.get(DepartmentRow, row.department_id)
        counts = Counts(
            row.received, row.new, row.corrected, row.duplicate, row.rejected, row.unresolved
        )
        return _receipt(row, dept.name if dept else "", counts, False)


def _require_submission_access(actor: Principal, row: SubmissionRow) -> None:
    if actor.can(Permission.read_all_submissions):
        return
    require(actor, Permission.read_own_submissions, department_id=row.department_id)


def list_rejects(c: Container, actor: Principal, submission_id: str) -> list[dict[str, Any]]:
    """Quarantined rows of a submission with their reasons."""
    with c.uow() as uow:
        row = uow.session.get(SubmissionRow, submission_id)
        if row is None:
            raise NotFound(f"报送批次 {submission_id} 不存在", code="submission_not_found")
        _require_submission_access(actor, row)
        rejects = uow.session.scalars(
            select(RejectRow)
            .where(RejectRow.submission_id == submission_id)
            .order_by(RejectRow.row_number)
        )
        return [_open_reject(c, actor, row.department_id, r) for r in rejects]


def _open_reject(
    c: Container, actor: Principal, department_id: int, r: RejectRow
) -> dict[str, Any]:
    """A quarantined row in clear for its department (or the credit office): raw and reasons."""
    opened = open_personal(
        c,
        actor,
        r.raw,
        aad=reject_aad(r.submission_id, r.row_number),
        purpose=Purpose.own_submission,
        department_id=department_id,
    )
    if is_sealed(r.raw):
        raw, reasons = opened["raw"], opened["reasons"]
    else:  # a row quarantined before sealing (docs/adr/0008): not yet re-sealed by rotation
        raw, reasons = opened, r.reasons
    return {"row": r.row_number, "status": r.status, "reasons": reasons, "raw": raw}


def withdraw_record(
    c: Container, actor: Principal, record_id: str, reason: str, *, for_subject: bool = False
) -> int:
    """撤销: a tombstone version with a reason; the record leaves every public view.

    ``for_subject``: the subject withdraws information it supplied itself (自主公示), through an
    account bound to it or the service-hall window (see ``store_platform_record``).
    """
    if not for_subject:
        require(actor, Permission.withdraw_records)
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise FieldError("reason", reason, "required", "撤销必须说明理由（reason）")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        record = s.get(RecordRow, record_id)
        if record is None:
            raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        if for_subject:
            require_subject_access(actor, record.subject_id, office=True)
        else:
            require(actor, Permission.withdraw_records, department_id=record.department_id)
        if record.status == "withdrawn":
            raise Conflict(f"记录 {record_id} 已撤销", code="already_withdrawn")
        record.current_version += 1
        record.status = "withdrawn"
        record.updated_at = now
        s.add(
            RecordVersionRow(
                record_id=record.id,
                version=record.current_version,
                kind="withdrawal",
                submission_id=None,
                row_number=None,
                payload={},
                personal=c.personal_codec.seal(
                    {}, aad=version_aad(record.id, record.current_version)
                ),
                content_hash=content_hash(canonical_bytes({"withdrawn": reason})),
                reason=reason,
                created_by=actor.label,
                created_at=now,
            )
        )
        outbox.emit(
            s,
            event_type="record.withdrawn",
            aggregate_type="record",
            aggregate_id=record.id,
            subject_id=record.subject_id,
            at=now,
            payload={
                "item": record.item_code,
                "version": record.current_version,
                "reason": reason,
                "ledger": record_version_entry(
                    c.settings.ledger_suite,
                    record_id=record.id,
                    version=record.current_version,
                    kind="withdrawal",
                    item=record.item_code,
                    subject_id=record.subject_id,
                    department_id=record.department_id,
                    record_key=record.record_key,
                    fields={},
                    at=now,
                    reason=reason,
                ).as_payload(),
            },
        )
        uow.commit()
        return record.current_version


def record_history(c: Container, actor: Principal, record_id: str) -> list[dict[str, Any]]:
    """Every version of a record, oldest first (department of origin or credit office)."""
    with c.uow() as uow:
        record = uow.session.get(RecordRow, record_id)
        if record is None:
            raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        if not actor.can(Permission.read_all_submissions):
            require(actor, Permission.read_own_submissions, department_id=record.department_id)
        versions = uow.session.scalars(
            select(RecordVersionRow)
            .where(RecordVersionRow.record_id == record_id)
            .order_by(RecordVersionRow.version)
        )
        return [
            {
                "version": v.version,
                "kind": v.kind,
                "submission_id": v.submission_id,
                "row": v.row_number,
                "payload": v.payload,
                "reason": v.reason,
                "content_hash": v.content_hash,
                "created_by": v.created_by,
                "created_at": v.created_at.isoformat(),
            }
            for v in versions
        ]


def locate_record(
    c: Container, actor: Principal, item_code: str, row: dict[str, str | None]
) -> str:
    """Find a record by what a department knows: subject code or name and the key fields."""
    require(actor, Permission.withdraw_records)
    item = c.catalog.item(item_code)
    mapped: dict[str, str | None] = {}
    for header, value in row.items():
        code = item.resolve_header(header)
        if code is None:
            raise FieldError(
                header, value, "unknown_field", f"信息项「{item.name}」没有字段 {header}"
            )
        mapped[code] = value
    values: dict[str, Any] = {}
    for code, raw in mapped.items():
        values[code] = parse_field(item.field(code), raw, today=local_date(c.clock.now()))
    with c.uow() as uow:
        registry = SubjectRegistry(
            uow.session, c.digester, now=c.clock.now(), actor_label=actor.label
        )
        resolution = registry.resolve(facts_from_roles(values, roles_of(item)), create=False)
        if resolution.subject is None:
            raise NotFound("找不到该记录的主体", code="subject_not_found")
        key_hash, key_text = record_key(
            item.code, resolution.subject.subject_id, item.key_of(values)
        )
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.record_key == key_hash))
        if rid is None:
            raise NotFound(f"找不到记录（{key_text}）", code="record_not_found")
        return rid


def store_platform_record(
    c: Container,
    actor: Principal,
    *,
    department_id: int,
    item_code: str,
    subject_id: str,
    values: dict[str, str | None],
    for_subject: bool = False,
) -> tuple[str, str]:
    """A record the platform itself produces (e.g. a breached credit commitment) for a subject.

    It goes through the same catalog parsing, publication rules, versioning, outbox event and
    ledger leaf as a department's file; no submission row is involved. Returns (outcome, id).
    ``for_subject``: the subject itself supplies the information (自主公示) through an account
    bound to it or the service-hall window; the department is the receiving unit.
    """
    from citycredit.ingest.intake import Intake
    from citycredit.subjects.db import SubjectRow

    if for_subject:
        require_subject_access(actor, subject_id, office=True)
    else:
        require(actor, Permission.submit_records, department_id=department_id)
    item = c.catalog.item(item_code)
    with c.uow() as uow:
        s = uow.session
        dept = s.get(DepartmentRow, department_id)
        subject = s.get(SubjectRow, subject_id)
        if dept is None or subject is None:
            raise NotFound("部门或主体不存在", code="not_found")
        mapped = {}
        for header, value in values.items():
            code = item.resolve_header(header)
            if code is None:
                raise FieldError(
                    header, value, "unknown_field", f"信息项「{item.name}」没有字段 {header}"
                )
            mapped[code] = value
        result = Intake(c, s, item, dept, None, actor, c.clock.now()).store_row(
            None, subject, mapped
        )
        uow.commit()
        return result


def current_values(session: Session, record_id: str) -> tuple[str, str, dict[str, Any]] | None:
    """(item code, subject id, non-personal payload) of a record's current version.

    None when the record does not exist or is withdrawn (its current version is a tombstone).
    For other areas that mirror records (lists: external memberships); personal fields are
    never returned.
    """
    record = session.get(RecordRow, record_id)
    if record is None or record.status == "withdrawn":
        return None
    version = session.scalar(
        select(RecordVersionRow).where(
            RecordVersionRow.record_id == record.id,
            RecordVersionRow.version == record.current_version,
        )
    )
    if version is None or version.kind == "withdrawal":
        return None
    return record.item_code, record.subject_id, dict(version.payload or {})
