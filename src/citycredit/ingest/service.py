"""归集: one function per intent — ingest a submission, withdraw a record, work the unresolved queue.

Every submitted row is either stored (new, corrected, duplicate) or quarantined with one reason
per failing field; a submission runs in one transaction, so an interrupted run leaves the
database as it was and re-running completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, Role, require
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.catalog.publication import publication_for
from citycredit.catalog.values import check_required, parse_field
from citycredit.ingest.db import (
    RecordRow,
    RecordVersionRow,
    RejectRow,
    SubmissionRow,
    UnresolvedRow,
)
from citycredit.ingest.model import Counts, Reason, canonical_bytes, json_value, record_key
from citycredit.ingest.readers import FileInfo, ReadError, SourceRow, open_source
from citycredit.kernel import outbox
from citycredit.shared.calendar import local_date
from citycredit.shared.digest import content_hash
from citycredit.shared.errors import Conflict, FieldError, NotFound
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType
from citycredit.subjects.service import SubjectRegistry, check_category, facts_from_roles

REGISTRATION_ITEM = "registration"
FLUSH_EVERY = 500
SUBJECT_UNRESOLVED = "subject_unresolved"


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


def _roles(item: CatalogItem) -> dict[str, str]:
    return {spec.role: spec.code for spec in item.fields if spec.role}


class _Intake:
    """The state of one submission being processed inside one unit of work."""

    def __init__(
        self,
        c: Container,
        s: Session,
        item: CatalogItem,
        dept: DepartmentRow,
        submission_id: str,
        actor: Principal,
        now: datetime,
    ) -> None:
        self.c, self.s, self.item, self.dept = c, s, item, dept
        self.submission_id = submission_id
        self.actor = actor
        self.now = now
        self.roles = _roles(item)
        self.registry = SubjectRegistry(s, c.digester, now=now, actor_label=actor.label)
        self.counts = Counts()
        self.notes: list[str] = []
        # record_key → (row number, version row id created by this submission or None, hash)
        self.seen: dict[str, tuple[int, int | None, str]] = {}
        obligations = [
            o
            for o in item.obligations
            if o.department == dept.name and o.frequency == "event" and o.due_working_days
        ]
        self.due_days = obligations[0].due_working_days if obligations else None

    # -- one row ------------------------------------------------------------------------------
    def parse(self, mapped: dict[str, str | None]) -> tuple[dict[str, Any], list[Reason]]:
        values: dict[str, Any] = {}
        reasons: list[Reason] = []
        failed: set[str] = set()
        for code, raw in mapped.items():
            try:
                values[code] = parse_field(self.item.field(code), raw)
            except FieldError as e:
                failed.add(code)
                reasons.append(Reason(e.field, e.value, e.code, e.message))
        for e in check_required(self.item, values):
            if e.field not in failed:
                failed.add(e.field)
                reasons.append(Reason(e.field, e.value, e.code, e.message))
        if not reasons and (cat := self.roles.get("subject_category")):
            facts = facts_from_roles(values, self.roles)
            for e in check_category(facts, category_field=cat):
                reasons.append(Reason(e.field, e.value, e.code, e.message))
        return values, reasons

    def process(self, number: int, raw: dict[str, Any], mapped: dict[str, str | None]) -> None:
        self.counts.received += 1
        values, reasons = self.parse(mapped)
        if reasons:
            self.reject(number, raw, reasons)
            return
        decision = self._decision_date(values)
        try:
            publication = publication_for(self.item, values, decision)
        except FieldError as e:
            self.reject(number, raw, [Reason(e.field, e.value, e.code, e.message)])
            return
        registration = self.item.code == REGISTRATION_ITEM
        facts = facts_from_roles(values, self.roles, registration=registration)
        resolution = self.registry.resolve(
            facts, create=True, origin="registration" if registration else "record"
        )
        if resolution.subject is None:
            self.unresolved(
                number, raw, mapped, values, resolution.candidates, resolution.division_code
            )
            return
        if self.item.code == REGISTRATION_ITEM and not resolution.created:
            self.registry.register(resolution.subject, facts)
        self.store(number, resolution.subject, values, decision, publication)

    def _decision_date(self, values: dict[str, Any]) -> date | None:
        code = self.item.decision_date_field
        value = values.get(code) if code else None
        if isinstance(value, datetime):
            return local_date(value)
        return value if isinstance(value, date) else None

    def reject(self, number: int, raw: dict[str, Any], reasons: list[Reason]) -> RejectRow:
        self.counts.rejected += 1
        row = RejectRow(
            submission_id=self.submission_id,
            row_number=number,
            raw=raw,
            reasons=[r.as_dict() for r in reasons],
            status="open",
            created_at=self.now,
        )
        self.s.add(row)
        return row

    def unresolved(
        self,
        number: int,
        raw: dict[str, Any],
        mapped: dict[str, str | None],
        values: dict[str, Any],
        candidates: list[dict[str, Any]],
        division: str | None,
    ) -> None:
        name_code = self.roles.get("subject_name")
        name = str(values.get(name_code) or "") if name_code else ""
        msg = (
            f"无法确定主体「{name}」：没有统一社会信用代码或证件号码，按注册号、组织机构代码和"
            f"名称+区划均未唯一匹配（候选 {len(candidates)} 个），已转入待认领队列"
        )
        reject = self.reject(
            number, raw, [Reason(name_code or "subject", name, SUBJECT_UNRESOLVED, msg)]
        )
        self.s.flush()
        self.counts.unresolved += 1
        self.s.add(
            UnresolvedRow(
                submission_id=self.submission_id,
                reject_id=reject.id,
                department_id=self.dept.id,
                item_code=self.item.code,
                row_number=number,
                name=name,
                division_code=division,
                values=dict(mapped),
                candidates=candidates,
                status="open",
                created_at=self.now,
            )
        )

    def store(
        self,
        number: int | None,
        subject: SubjectRow,
        values: dict[str, Any],
        decision: date | None,
        publication: Any,
    ) -> tuple[str, str]:
        """Store one valid row as a new record, a correction or a duplicate: (outcome, record id)."""
        key_hash, key_text = record_key(
            self.item.code, subject.subject_id, self.item.key_of(values)
        )
        payload: dict[str, Any] = {}
        personal: dict[str, Any] = {}
        for code, value in values.items():
            if value is None:
                continue
            (personal if self.item.field(code).personal else payload)[code] = json_value(value)
        digest = content_hash(canonical_bytes({"payload": payload, "personal": personal}))
        published, unpublished_reason = (
            publication.published,
            None if publication.published else "severity",
        )
        if published and _minor_at(subject, decision) and self.item.is_adverse(values):
            # Penalties against a person who was a minor at the decision date are never published.
            published, unpublished_reason = False, "minor"
        derived = {
            "decision_date": decision,
            "severity": publication.severity.value if publication.severity else None,
            "severity_inferred": publication.severity_inferred,
            "severity_rule": publication.rule_id,
            "published": published,
            "unpublished_reason": unpublished_reason,
            "publication_end": publication.publication_end,
            "repair_from": publication.repair_from,
            "openness": self.item.openness_for(values).value,
        }
        seen = self.seen.get(key_hash)
        if seen is not None:
            first_row, version_id, seen_hash = seen
            self.notes.append(f"第 {number} 行与第 {first_row} 行主键相同（{key_text}），保留后者")
            if seen_hash == digest or version_id is not None:
                self.counts.duplicate += 1
                if version_id is not None and seen_hash != digest:
                    self._replace_version(
                        version_id, key_hash, payload, personal, digest, number, derived
                    )
                    self.seen[key_hash] = (first_row, version_id, digest)
                return "duplicate", self._record_id(key_hash)
        record = self.s.scalar(select(RecordRow).where(RecordRow.record_key == key_hash))
        if record is None:
            record = RecordRow(
                id=new_id("r"),
                record_key=key_hash,
                key_text=key_text,
                item_code=self.item.code,
                subject_id=subject.subject_id,
                department_id=self.dept.id,
                current_version=1,
                status="active",
                first_submitted_at=self.now,
                updated_at=self.now,
                **derived,
            )
            if decision and self.due_days:
                due = self.c.calendar.add_working_days(decision, self.due_days).due
                record.due_date, record.on_time = due, local_date(self.now) <= due
            self.s.add(record)
            self.s.flush()
            version = self._add_version(record, 1, "original", payload, personal, digest, number)
            self.counts.new += 1
            event, outcome = "record.accepted", "new"
        else:
            current = self.s.scalar(
                select(RecordVersionRow).where(
                    RecordVersionRow.record_id == record.id,
                    RecordVersionRow.version == record.current_version,
                )
            )
            if record.status == "active" and current is not None and current.content_hash == digest:
                self.counts.duplicate += 1
                self.seen[key_hash] = (number or 0, None, digest)
                return "duplicate", record.id
            record.current_version += 1
            record.status = "active"
            record.updated_at = self.now
            for k, v in derived.items():
                setattr(record, k, v)
            version = self._add_version(
                record, record.current_version, "correction", payload, personal, digest, number
            )
            self.counts.corrected += 1
            event, outcome = "record.corrected", "corrected"
        self.seen[key_hash] = (number or 0, version.id, digest)
        outbox.emit(
            self.s,
            event_type=event,
            aggregate_type="record",
            aggregate_id=record.id,
            subject_id=subject.subject_id,
            at=self.now,
            payload={
                "item": self.item.code,
                "version": record.current_version,
                "content_hash": digest,
                "submission_id": self.submission_id,
            },
        )
        return outcome, record.id

    def _record_id(self, key_hash: str) -> str:
        rid = self.s.scalar(select(RecordRow.id).where(RecordRow.record_key == key_hash))
        assert rid is not None
        return rid

    def _add_version(
        self,
        record: RecordRow,
        version: int,
        kind: str,
        payload: dict[str, Any],
        personal: dict[str, Any],
        digest: str,
        number: int | None,
    ) -> RecordVersionRow:
        row = RecordVersionRow(
            record_id=record.id,
            version=version,
            kind=kind,
            submission_id=self.submission_id,
            row_number=number,
            payload=payload,
            personal=personal,
            content_hash=digest,
            created_by=self.actor.label,
            created_at=self.now,
        )
        self.s.add(row)
        self.s.flush()
        return row

    def _replace_version(
        self,
        version_id: int,
        key_hash: str,
        payload: dict[str, Any],
        personal: dict[str, Any],
        digest: str,
        number: int | None,
        derived: dict[str, Any],
    ) -> None:
        """A later row of the same file with the same key replaces the version this file created."""
        version = self.s.get(RecordVersionRow, version_id)
        record = self.s.scalar(select(RecordRow).where(RecordRow.record_key == key_hash))
        assert version is not None and record is not None
        version.payload, version.personal, version.content_hash = payload, personal, digest
        version.row_number = number
        for k, v in derived.items():
            setattr(record, k, v)


def _minor_at(subject: SubjectRow, decision: date | None) -> bool:
    if (
        subject.subject_type != SubjectType.natural_person.value
        or not subject.birth_date
        or not decision
    ):
        return False
    b = subject.birth_date
    age = decision.year - b.year - ((decision.month, decision.day) < (b.month, b.day))
    return age < 18


def _department_for(
    c: Container, s: Session, actor: Principal, department: str | None
) -> DepartmentRow:
    if actor.role is Role.department_staff:
        dept = s.get(DepartmentRow, actor.department_id)
        if dept is None:
            raise NotFound("令牌绑定的部门不存在", code="department_not_found")
        if department and department not in (dept.name, dept.code):
            require(actor, Permission.submit_records, department_id=-1)  # raises: other department
        return dept
    if not department:
        raise FieldError("department", "", "required", "信用办代为报送时必须指定部门（department）")
    dept = s.scalar(
        select(DepartmentRow).where(
            (DepartmentRow.name == department) | (DepartmentRow.code == department.upper())
        )
    )
    if dept is None:
        raise NotFound(f"部门「{department}」不存在", code="department_not_found")
    return dept


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
) -> Receipt:
    """Validate and store one file of one catalog item for one department (or only validate)."""
    require(actor, Permission.submit_records)
    item = c.catalog.item(item_code)
    info, rows = open_source(path)
    mapping, unknown = _map_headers(item, info)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        dept = _department_for(c, s, actor, department)
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
        intake = _Intake(c, s, item, dept, submission.id, actor, now)
        if unknown:
            intake.notes.append("未识别的列（原样保存在问题数据与原始行中）：" + "、".join(unknown))
        _run_rows(c, intake, rows, mapping, progress)
        counts = intake.counts
        submission = s.get(SubmissionRow, intake.submission_id)  # type: ignore[assignment]
        assert submission is not None
        for k in ("received", "new", "corrected", "duplicate", "rejected", "unresolved"):
            setattr(submission, k, getattr(counts, k))
        submission.notes = intake.notes[:200]
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


def _run_rows(
    c: Container,
    intake: _Intake,
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
        return [
            {"row": r.row_number, "status": r.status, "reasons": r.reasons, "raw": r.raw}
            for r in rejects
        ]


def withdraw_record(c: Container, actor: Principal, record_id: str, reason: str) -> int:
    """撤销: a tombstone version with a reason; the record leaves every public view and evaluation."""
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
                personal={},
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
            payload={"item": record.item_code, "version": record.current_version, "reason": reason},
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


# -- the clerk's queue of codeless rows ----------------------------------------------------------


def list_unresolved(
    c: Container, actor: Principal, *, status: str = "open"
) -> list[dict[str, Any]]:
    """待认领: rows whose subject could not be identified."""
    require(actor, Permission.resolve_unresolved)
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(UnresolvedRow).where(UnresolvedRow.status == status).order_by(UnresolvedRow.id)
        )
        return [
            {
                "id": r.id,
                "submission_id": r.submission_id,
                "item": r.item_code,
                "row": r.row_number,
                "name": r.name,
                "division_code": r.division_code,
                "candidates": r.candidates,
                "status": r.status,
                "subject_id": r.subject_id,
                "record_id": r.record_id,
            }
            for r in rows
        ]


def count_unresolved(s: Session, department_id: int | None = None) -> int:
    """Open rows in the queue (optionally for one department)."""
    q = select(func.count()).select_from(UnresolvedRow).where(UnresolvedRow.status == "open")
    if department_id is not None:
        q = q.where(UnresolvedRow.department_id == department_id)
    return int(s.scalar(q) or 0)


def attach_unresolved(c: Container, actor: Principal, unresolved_id: int, subject_id: str) -> str:
    """A clerk attaches a queued row to a subject; the row is stored as a record through intake."""
    require(actor, Permission.resolve_unresolved)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        u = s.get(UnresolvedRow, unresolved_id)
        if u is None or u.status != "open":
            raise NotFound(
                f"待认领记录 {unresolved_id} 不存在或已处理", code="unresolved_not_found"
            )
        subject = s.get(SubjectRow, subject_id)
        if subject is None:
            raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
        dept = s.get(DepartmentRow, u.department_id)
        assert dept is not None
        item = c.catalog.item(u.item_code)
        intake = _Intake(c, s, item, dept, u.submission_id, actor, now)
        values, reasons = intake.parse(dict(u.values))
        if reasons:  # the catalog changed since: the row must go back to the department
            raise FieldError(
                reasons[0].field, reasons[0].value, reasons[0].code, reasons[0].message
            )
        decision = intake._decision_date(values)
        outcome, record_id = intake.store(
            u.row_number, subject, values, decision, publication_for(item, values, decision)
        )
        u.status, u.subject_id, u.record_id = "attached", subject_id, record_id
        u.resolved_by, u.resolved_at = actor.label, now
        reject = s.get(RejectRow, u.reject_id)
        if reject is not None:
            reject.status = "resolved"
        outbox.emit(
            s,
            event_type="unresolved.attached",
            aggregate_type="unresolved",
            aggregate_id=str(u.id),
            subject_id=subject_id,
            at=now,
            payload={"record_id": record_id, "outcome": outcome},
        )
        uow.commit()
        return record_id


def dismiss_unresolved(c: Container, actor: Principal, unresolved_id: int, reason: str) -> None:
    """A clerk returns a queued row to its department (it stays quarantined, with the reason)."""
    require(actor, Permission.resolve_unresolved)
    if len((reason or "").strip()) < 2:
        raise FieldError("reason", reason, "required", "退回必须说明理由（reason）")
    now = c.clock.now()
    with c.uow() as uow:
        u = uow.session.get(UnresolvedRow, unresolved_id)
        if u is None or u.status != "open":
            raise NotFound(
                f"待认领记录 {unresolved_id} 不存在或已处理", code="unresolved_not_found"
            )
        u.status, u.resolved_by, u.resolved_at = "dismissed", actor.label, now
        outbox.emit(
            uow.session,
            event_type="unresolved.dismissed",
            aggregate_type="unresolved",
            aggregate_id=str(u.id),
            at=now,
            payload={"reason": reason},
        )
        uow.commit()


def locate_record(
    c: Container, actor: Principal, item_code: str, row: dict[str, str | None]
) -> str:
    """Find a record by the fields a department knows (subject code/name + the item's key fields)."""
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
        values[code] = parse_field(item.field(code), raw)
    with c.uow() as uow:
        registry = SubjectRegistry(
            uow.session, c.digester, now=c.clock.now(), actor_label=actor.label
        )
        resolution = registry.resolve(facts_from_roles(values, _roles(item)), create=False)
        if resolution.subject is None:
            raise NotFound("找不到该记录的主体", code="subject_not_found")
        key_hash, key_text = record_key(
            item.code, resolution.subject.subject_id, item.key_of(values)
        )
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.record_key == key_hash))
        if rid is None:
            raise NotFound(f"找不到记录（{key_text}）", code="record_not_found")
        return rid
