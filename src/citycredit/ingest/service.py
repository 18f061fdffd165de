"""归集: one function per intent — ingest a submission, read receipts, withdraw a record.

Every submitted row is either stored (new, corrected, duplicate) or quarantined with one reason
per failing field; a submission runs in one transaction, so an interrupted run leaves the
database as it was and re-running completes it.

A file with an ``OPERATION`` column (the 双公示 export's platform column, exports/model.py) may
carry ``删除`` rows: each withdraws the record it identifies (subject and decision number; the
reason is ``CHANGE_REASON``), as ``withdraw_record`` would, and counts as ``withdrawn`` on the
receipt. Such files always take the row path (the vectorised one does not withdraw).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import (
    Permission,
    Principal,
    hidden_as,
    require,
    require_subject_access,
)
from citycredit.accounts.service import acting_department
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem, header_key
from citycredit.catalog.values import parse_field
from citycredit.ingest.db import (
    RecordRow,
    RecordVersionRow,
    RejectRow,
    SubmissionRow,
)
from citycredit.ingest.intake import FLUSH_EVERY, Intake, roles_of
from citycredit.ingest.model import Counts, Reason, canonical_bytes, record_key
from citycredit.ingest.readers import FileInfo, ReadError, SourceRow, open_source
from citycredit.kernel import outbox
from citycredit.ledger.entries import record_version_entry
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import reject_aad, version_aad
from citycredit.shared.calendar import local_date
from citycredit.shared.digest import content_hash
from citycredit.shared.errors import Conflict, FieldError, NotFound
from citycredit.shared.idgen import new_id
from citycredit.shared.masking import scrub_value
from citycredit.shared.personal import is_sealed
from citycredit.subjects.service import SubjectRegistry, facts_from_roles

# The 双公示 export's row operation (its platform columns OPERATION and CHANGE_REASON).
OPERATION_HEADERS = frozenset(header_key(h) for h in ("OPERATION", "操作类型"))
REASON_HEADERS = frozenset(header_key(h) for h in ("CHANGE_REASON", "变更原因"))
DELETE_OPERATION = "删除"
STORE_OPERATIONS = frozenset({"新增", "更新"})  # and empty: the row is stored as usual
DEFAULT_DELETE_REASON = "报送单位删除（OPERATION=删除）"
# A dry run's receipt lists the reasons of at most this many quarantined rows (the total is
# `rejected`): nothing is stored, so they cannot be read back through …/rejects.
DRY_RUN_REJECTS = 100
# Roles that identify the record a 删除 row takes down (its subject and its decision).
_LOCATING_ROLES = frozenset(
    {
        "subject_name",
        "subject_category",
        "uscc",
        "id_number",
        "registration_no",
        "org_code",
        "address",
        "division_code",
        "authority_code",
    }
)


@dataclass
class ReceiptCounts(Counts):
    """Counts with the rows applied as withdrawals (OPERATION=删除); still balanced."""

    withdrawn: int = 0

    @property
    def balanced(self) -> bool:
        stored = self.new + self.corrected + self.duplicate + self.rejected + self.withdrawn
        return self.received == stored


@dataclass(frozen=True)
class _Operations:
    """Where a file carries its row operation and the reason of a 删除."""

    header: str
    reason_header: str | None


@dataclass(frozen=True)
class Receipt:
    """回执 of one submission (a dry run's: no submission id, its quarantined rows inline)."""

    submission_id: str | None
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
    rejects: list[dict[str, Any]] | None = None  # dry run only: the first DRY_RUN_REJECTS

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
            "withdrawn": getattr(c, "withdrawn", 0),
            "rejected": c.rejected,
            "unresolved": c.unresolved,
            "balanced": c.balanced,
            "notes": self.notes,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "rejects": self.rejects,
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
    default files of at least ``settings.intake_fast_min_bytes`` take the vectorised one. A
    file with rows whose OPERATION is 删除 (or not 新增/更新) always takes the row loop.
    """
    require(actor, Permission.submit_records)
    item = c.catalog.item(item_code)
    info, rows = open_source(path)
    mapping, unknown = _map_headers(item, info)
    _require_fitting_item(c, item, info, mapping)
    ops = _operations(info, unknown)
    if ops is not None:
        unknown = [h for h in unknown if h not in (ops.header, ops.reason_header)]
    use_fast = _fast_path(c, item.code, path, fast)
    routed = use_fast and ops is not None and _has_row_operations(path, info, ops)
    use_fast = use_fast and not routed
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
        intake.counts = ReceiptCounts()
        if unknown:
            intake.note(
                "未识别的列（不属于该信息项，未保存，问题数据中也不保留）：" + "、".join(unknown)
            )
        if ops is not None:
            intake.note(
                f"操作列 {ops.header}：新增、更新 按常规归集，删除 按撤销处理"
                + (f"（撤销理由取 {ops.reason_header} 列）" if ops.reason_header else "")
            )
        if routed:
            intake.note("文件含 删除 等操作行：按逐行方式归集（快速归集不处理删除行）")
        if use_fast:
            from citycredit.ingest.fast import run_fast

            rows.close()  # type: ignore[attr-defined]
            run_fast(intake, path, info, mapping, progress)
        else:
            _run_rows(c, intake, rows, mapping, progress, ops)
        counts = intake.counts
        withdrawn = getattr(counts, "withdrawn", 0)
        if withdrawn:
            intake.notes.insert(0, f"按 删除 行撤销记录 {withdrawn} 条")
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
            # Nothing is kept: no id to read back, the reasons travel with the receipt.
            receipt = _dry_run_receipt(c, s, item, receipt, submission.id)
            uow.rollback()
        else:
            uow.commit()
        return receipt


def _dry_run_receipt(
    c: Container, s: Session, item: CatalogItem, receipt: Receipt, submission_id: str
) -> Receipt:
    """The receipt of a dry run: no submission id (nothing is kept) and the first
    DRY_RUN_REJECTS quarantined rows with their reasons, personal values hidden and ID/phone
    numbers scrubbed as on the credit office's view of …/rejects. Read from the quarantine the
    run wrote inside its (rolled back) transaction, so both intake paths answer alike."""
    s.flush()
    rows = s.scalars(
        select(RejectRow)
        .where(RejectRow.submission_id == submission_id)
        .order_by(RejectRow.row_number)
        .limit(DRY_RUN_REJECTS)
    )
    personal = {f.code for f in item.fields if f.personal}
    rejects = []
    for r in rows:
        opened = c.personal_codec.open(r.raw, aad=reject_aad(submission_id, r.row_number))
        reasons = opened["reasons"] if is_sealed(r.raw) else r.reasons
        rejects.append({"row": r.row_number, "reasons": [_masked(personal, x) for x in reasons]})
    notes = [*receipt.notes, "试校验：未入库，不生成报送批次；问题数据的原因列在回执中"]
    total = receipt.counts.rejected
    if total > len(rejects):
        notes.append(f"试校验：问题数据共 {total} 行，回执列出前 {len(rejects)} 行")
    return replace(receipt, submission_id=None, rejects=rejects, notes=notes)


def _masked(personal: set[str], reason: dict[str, Any]) -> dict[str, Any]:
    """One reason with a personal field's value hidden (in its message too) and ID and phone
    numbers scrubbed from the rest."""
    value, message = reason.get("value"), str(reason.get("message") or "")
    if reason.get("field") in personal and value not in (None, ""):
        message = message.replace(str(value), HIDDEN)
        value = HIDDEN
    return {
        "field": reason.get("field"),
        "value": scrub_value(value),
        "code": reason.get("code"),
        "message": scrub_value(message),
    }


def _fast_path(c: Container, item_code: str, path: Path, fast: bool | None) -> bool:
    """Whether a submission takes the vectorised intake (never for 登记基本信息)."""
    from citycredit.ingest.fast import FAST_ITEMS_EXCLUDED

    if item_code in FAST_ITEMS_EXCLUDED:
        return False
    if fast is not None:
        return fast
    limit = c.settings.intake_fast_min_bytes
    return limit is not None and path.stat().st_size >= limit


def _operations(info: FileInfo, unknown: list[str]) -> _Operations | None:
    """The OPERATION column of a file (a header no catalog field claims), if any."""
    header = next((h for h in unknown if header_key(h) in OPERATION_HEADERS), None)
    if header is None:
        return None
    reason = next((h for h in unknown if header_key(h) in REASON_HEADERS), None)
    return _Operations(header, reason)


def _operation_of(row: SourceRow, ops: _Operations | None) -> str:
    if ops is None:
        return ""
    value = row.values.get(ops.header)
    return "" if value is None else str(value).strip()


def _has_row_operations(path: Path, info: FileInfo, ops: _Operations) -> bool:
    """Whether any row's OPERATION is something other than 新增/更新/empty (one fast scan)."""
    import polars as pl

    from citycredit.ingest.fast.reader import header_column, read_batches

    column = header_column(info.headers.index(ops.header))
    for batch in read_batches(path, info):
        values = batch.get_column(column).drop_nulls()
        if not values.is_in(pl.Series(sorted(STORE_OPERATIONS))).all():
            return True
    return False


def _run_rows(
    c: Container,
    intake: Intake,
    rows: Iterator[SourceRow],
    mapping: dict[str, str],
    progress: Callable[[int], None] | None,
    ops: _Operations | None = None,
) -> None:
    hook = c.fault_hook
    done = 0
    for row in rows:
        mapped = {code: row.values.get(header) for header, code in mapping.items()}
        raw = dict(row.values)  # the row as sent, empty cells included
        operation = _operation_of(row, ops)
        if operation == DELETE_OPERATION:
            assert ops is not None
            reason = row.values.get(ops.reason_header) if ops.reason_header else None
            _withdraw_row(intake, row.number, raw, mapped, str(reason or "").strip())
        elif operation and operation not in STORE_OPERATIONS:
            intake.counts.received += 1
            assert ops is not None
            message = f"操作类型（{ops.header}）应为 新增、更新 或 删除，不能是「{operation}」"
            intake.reject(
                row.number, raw, [Reason(ops.header, operation, "invalid_operation", message)]
            )
        else:
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


def _withdraw_row(
    intake: Intake,
    number: int,
    raw: dict[str, Any],
    mapped: dict[str, str | None],
    reason: str,
) -> None:
    """One OPERATION=删除 row: withdraw the record it identifies (this department's own), as
    ``withdraw_record`` does; a record already withdrawn counts as a duplicate."""
    counts = intake.counts
    counts.received += 1
    record, problem = _locate_for_withdrawal(intake, mapped)
    if record is None:
        assert problem is not None
        intake.reject(number, raw, [problem])
        return
    actor = intake.actor
    if record.department_id != intake.dept.id or not actor.can(Permission.withdraw_records):
        code = intake.item.key_fields[0]
        message = f"记录 {record.id} 不是本部门报送的记录，或无权撤销记录：不能按 删除 行撤销"
        intake.reject(number, raw, [Reason(code, mapped.get(code), "not_withdrawable", message)])
        return
    if record.status == "withdrawn":
        counts.duplicate += 1
        intake.note(f"第 {number} 行：记录 {record.id} 已撤销，删除 行不再处理")
        return
    _withdraw(
        intake.c,
        intake.s,
        actor,
        record,
        reason if len(reason) >= 2 else DEFAULT_DELETE_REASON,
        intake.now,
        submission_id=intake.submission_id,
        row_number=number,
    )
    assert isinstance(counts, ReceiptCounts)
    counts.withdrawn += 1


def _locate_for_withdrawal(
    intake: Intake, mapped: dict[str, str | None]
) -> tuple[RecordRow | None, Reason | None]:
    """The record a 删除 row identifies: by its subject and key fields (``locate_record``);
    a row without any subject identifier (a minor's, sent without personal data) by its key
    fields among this department's records of the item, when exactly one matches."""
    item = intake.item
    roles = {spec.code: spec.role for spec in item.fields}
    keys = set(item.key_fields) | {fallback for _, fallback in item.key_fallbacks}
    values: dict[str, Any] = {}
    for code, text in mapped.items():
        if code not in keys and roles.get(code) not in _LOCATING_ROLES:
            continue  # the facts of a record coming down are not checked
        try:
            values[code] = parse_field(item.field(code), text, today=intake.today)
        except FieldError as e:
            return None, Reason(e.field, e.value, e.code, e.message)
    key = item.key_of(values)
    first = item.key_fields[0]
    if all(v is None or v == "" for v in key):
        message = f"删除 行缺少记录主键（{'、'.join(item.key_fields)}），无法确定要撤销的记录"
        return None, Reason(first, None, "required", message)
    facts = facts_from_roles(values, intake.roles)
    s = intake.s
    if facts.name or facts.uscc or facts.id_number or facts.registration_no or facts.org_code:
        resolution = intake.registry.resolve(facts, create=False)
        if resolution.subject is None:
            message = "找不到要撤销的记录：删除 行的主体无法匹配"
            return None, Reason(first, str(key[0]), "record_not_found", message)
        key_hash, key_text = record_key(item.code, resolution.subject.subject_id, key)
        record = s.scalar(select(RecordRow).where(RecordRow.record_key == key_hash))
        if record is None:
            message = f"找不到要撤销的记录（{key_text}）"
            return None, Reason(first, str(key[0]), "record_not_found", message)
        return record, None
    _, key_text = record_key(item.code, "", key)
    suffix = key_text[len(item.code) + 1 :]  # "|" + the key fields, after the subject
    found = list(
        s.scalars(
            select(RecordRow)
            .where(
                RecordRow.item_code == item.code,
                RecordRow.department_id == intake.dept.id,
                RecordRow.key_text.endswith(suffix, autoescape=True),
            )
            .limit(2)
        )
    )
    if len(found) != 1:
        message = f"删除 行没有主体信息，按主键（{suffix.lstrip('|')}）在本部门的记录中" + (
            "找不到记录" if not found else "找到多条记录，无法确定要撤销哪一条"
        )
        return None, Reason(first, str(key[0]), "record_not_found", message)
    return found[0], None


def _fit(item: CatalogItem, headers: tuple[str, ...] | list[str]) -> tuple[int, bool]:
    """(how many of the headers the item claims, whether one of them is a required field)."""
    codes = {item.resolve_header(h) for h in headers} - {None}
    return len(codes), any(item.field(code).required for code in codes if code)


def _require_fitting_item(
    c: Container, item: CatalogItem, info: FileInfo, mapping: dict[str, str]
) -> None:
    """Refuse a file sent under the wrong item (a licence file as penalty …) before anything is
    stored: every row would be quarantined and count in the public 问题数据率. It does not fit
    when it has none of the item's required fields, or when another item claims more of its
    columns while this one claims fewer than half; that item, if any, is suggested."""
    required = [f.code for f in item.fields if f.required]
    has_required = not required or any(item.field(f).required for f in mapping.values())
    claimed = len(set(mapping.values()))
    best: CatalogItem | None = None
    best_claimed = claimed
    for other in c.catalog.items.values():
        if other.code == item.code:
            continue
        n, other_required = _fit(other, info.headers)
        if other_required and n > best_claimed:
            best, best_claimed = other, n
    poor = 2 * len(mapping) < len(info.headers) and best is not None
    if has_required and not poor:
        return
    message = f"该文件的列与 {item.name}（{item.code}）不符"
    if best is not None:
        message += f"，看起来是 {best.name}（{best.code}）"
    elif not has_required:
        listed = "、".join(required[:8]) + ("等" if len(required) > 8 else "")
        message += f"：没有该信息项的任何必填字段（{listed}）"
    raise FieldError("item", item.code, "item_mismatch", message + "；文件未归集")


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
        row = _visible_submission(uow.session, actor, submission_id)
        dept = uow.session.get(DepartmentRow, row.department_id)
        return _stored_receipt(row, dept.name if dept else "")


def _stored_receipt(row: SubmissionRow, department: str) -> Receipt:
    # Rows applied as withdrawals (OPERATION=删除) have no column of their own: they are the
    # received rows the other counts leave (a stored receipt always balanced).
    withdrawn = row.received - row.new - row.corrected - row.duplicate - row.rejected
    counts = ReceiptCounts(
        row.received,
        row.new,
        row.corrected,
        row.duplicate,
        row.rejected,
        row.unresolved,
        withdrawn=max(0, withdrawn),
    )
    return _receipt(row, department, counts, False)


SUBMISSIONS_PAGE = 100  # receipts per page of a department's list


def list_submissions(
    c: Container,
    actor: Principal,
    *,
    item: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, Any]:
    """A department's own submissions, newest first, each as its receipt (the credit office:
    every department's); `item` narrows to one catalog item."""
    _require_reader(actor)
    if item is not None and item not in c.catalog.items:
        known = "、".join(c.catalog.items)
        raise FieldError("item", item, "unknown", f"目录中没有信息项「{item}」，可用：{known}")
    mine: list[Any] = []
    if not actor.can(Permission.read_all_submissions):
        mine.append(SubmissionRow.department_id == actor.department_id)
    if item is not None:
        mine.append(SubmissionRow.item_code == item)
    with c.uow() as uow:
        s = uow.session
        total = s.scalar(select(func.count()).select_from(SubmissionRow).where(*mine)) or 0
        rows = s.scalars(
            select(SubmissionRow)
            .where(*mine)
            .order_by(SubmissionRow.created_at.desc(), SubmissionRow.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        names = {d.id: d.name for d in s.scalars(select(DepartmentRow))}
        receipts = [_stored_receipt(r, names.get(r.department_id, "")).as_dict() for r in rows]
    return {"count": len(receipts), "total": total, "submissions": receipts}


def rejects_csv(c: Container, actor: Principal, submission_id: str) -> tuple[str, bytes]:
    """The quarantined rows of a submission as a CSV to fix in a spreadsheet and send again:
    the file's own columns in the catalog template's order, then 行号 and 问题说明 (UTF-8 with
    BOM, for Excel);
    the same values `list_rejects` shows this reader. Returns (file name, bytes)."""
    rejects = list_rejects(c, actor, submission_id)
    item = c.catalog.item(get_receipt(c, actor, submission_id).item)
    order = {f.code: i for i, f in enumerate(item.fields)}
    seen: dict[str, None] = {}
    for r in rejects:
        seen.update(dict.fromkeys(r["raw"] or {}))

    def place(header: str) -> int:
        code = item.resolve_header(header)
        return order.get(code, len(order)) if code else len(order)

    columns = sorted(seen, key=place)  # the item's template order; other columns after it
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([*columns, "行号", "问题说明"])
    for r in rejects:
        raw = r["raw"] or {}
        problems = "；".join(str(x.get("message") or "") for x in r["reasons"])
        out.writerow([*("" if raw.get(h) is None else raw[h] for h in columns), r["row"], problems])
    return f"{submission_id}-问题数据.csv", buf.getvalue().encode("utf-8-sig")


def _require_reader(actor: Principal, department_id: int | None = None) -> None:
    """Submissions and records: the credit office reads all, a department its own."""
    if not actor.can(Permission.read_all_submissions):
        require(actor, Permission.read_own_submissions, department_id=department_id)


def _visible_submission(s: Session, actor: Principal, submission_id: str) -> SubmissionRow:
    """The submission for its department or the credit office; a role that reads no
    submission is refused before the lookup, another department's answers like a missing one
    (security goal G8)."""
    _require_reader(actor)
    missing = NotFound(f"报送批次 {submission_id} 不存在", code="submission_not_found")
    row = s.get(SubmissionRow, submission_id)
    if row is None:
        raise missing
    with hidden_as(missing):
        _require_reader(actor, row.department_id)
    return row


def list_rejects(c: Container, actor: Principal, submission_id: str) -> list[dict[str, Any]]:
    """Quarantined rows of a submission with their reasons."""
    with c.uow() as uow:
        row = _visible_submission(uow.session, actor, submission_id)
        rejects = uow.session.scalars(
            select(RejectRow)
            .where(RejectRow.submission_id == submission_id)
            .order_by(RejectRow.row_number)
        )
        opened = [_open_reject(c, actor, row.department_id, r) for r in rejects]
        if actor.department_id == row.department_id or actor.console:
            return opened  # the department itself, or the platform's own console (operators)
        # The credit office reviews every department's quarantine (data quality), but the
        # natural persons' values in it are the submitting department's to read: hidden here.
        item = c.catalog.item(row.item_code)
        return [_hide_personal(item, x) for x in opened]


HIDDEN = "[已隐去]"


def _hide_personal(item: CatalogItem, reject: dict[str, Any]) -> dict[str, Any]:
    """A quarantined row with its personal fields hidden and ID/phone numbers scrubbed."""
    personal = {f.code for f in item.fields if f.personal}

    def hide(code: str | None, value: Any) -> Any:
        if code in personal and value not in (None, ""):
            return HIDDEN
        return scrub_value(value)

    raw = {h: hide(item.resolve_header(h), v) for h, v in (reject["raw"] or {}).items()}
    reasons = [_masked(personal, r) for r in reject["reasons"]]  # the message names the value
    return {**reject, "raw": raw, "reasons": reasons, "personal_hidden": True}


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
        missing = NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        record = s.get(RecordRow, record_id)
        if record is None:
            raise missing
        if for_subject:
            require_subject_access(actor, record.subject_id, office=True)
        else:
            with hidden_as(missing):  # another department's record looks missing (G8)
                require(actor, Permission.withdraw_records, department_id=record.department_id)
        if record.status == "withdrawn":
            raise Conflict(f"记录 {record_id} 已撤销", code="already_withdrawn")
        version = _withdraw(c, s, actor, record, reason, now)
        uow.commit()
        return version


def _withdraw(
    c: Container,
    s: Session,
    actor: Principal,
    record: RecordRow,
    reason: str,
    now: datetime,
    *,
    submission_id: str | None = None,
    row_number: int | None = None,
) -> int:
    """The tombstone version, the record's state and the ``record.withdrawn`` event (with its
    ledger leaf), in the caller's unit of work; a 删除 row names its submission and row."""
    record.current_version += 1
    record.status = "withdrawn"
    record.updated_at = now
    s.add(
        RecordVersionRow(
            record_id=record.id,
            version=record.current_version,
            kind="withdrawal",
            submission_id=submission_id,
            row_number=row_number,
            payload={},
            personal=c.personal_codec.seal({}, aad=version_aad(record.id, record.current_version)),
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
    return record.current_version


def record_history(c: Container, actor: Principal, record_id: str) -> list[dict[str, Any]]:
    """Every version of a record, oldest first (department of origin or credit office)."""
    _require_reader(actor)  # a role that reads no record: refused before the lookup
    with c.uow() as uow:
        missing = NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        record = uow.session.get(RecordRow, record_id)
        if record is None:
            raise missing
        with hidden_as(missing):  # another department's record looks missing (G8)
            _require_reader(actor, record.department_id)
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
                # ID and phone numbers in free text masked as on the archive's views; clear
                # values only through privacy.service (role, purpose, disclosure log).
                "payload": scrub_value(v.payload),
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
