"""信用数据链 services: checkpoints, proofs, the search index, proof bundles, alarms."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.kernel.outbox import deliver
from citycredit.ledger.bundle import BUNDLE_FORMAT
from citycredit.ledger.db import (
    LedgerAlarmRow,
    LedgerCheckpointRow,
    LedgerLeafRow,
    LedgerLogRow,
)
from citycredit.ledger.entries import disclose
from citycredit.ledger.merkle import consistency_proof, inclusion_proof
from citycredit.ledger.store import DbNodeReader, latest_checkpoint
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.subjects.archive import (
    PERSON_TYPES,
    is_public_now,
    is_shared_now,
    public_entry,  # the public views' rendering
)
from citycredit.subjects.db import SubjectRow

MAX_SEARCH = 200


def integrate_now(c: Container) -> int:
    """Run the sequencer now (the deliveries sweep does the same every 30 s)."""
    return deliver(c.uow, "ledger", c.consumers["ledger"], at=c.clock.now())


def log_row(s: Session) -> LedgerLogRow:
    row = s.get(LedgerLogRow, 1)
    if row is None:
        raise NotFound("数据链尚未创建（还没有任何记录入链）", code="ledger_empty")
    return row


def checkpoint(c: Container) -> dict[str, Any]:
    """The latest signed checkpoint and the log's public key."""
    with c.uow() as uow:
        log = log_row(uow.session)
        cp = latest_checkpoint(uow.session)
        if cp is None:
            raise NotFound("数据链尚无检查点", code="ledger_empty")
        return {
            "origin": log.origin,
            "suite": log.suite,
            "vkey": log.vkey,
            "size": cp.size,
            "root": base64.b64encode(cp.root).decode(),
            "checkpoint": cp.note,
            "created_at": cp.created_at.isoformat(),
        }


def _check_size(s: Session, size: int, name: str) -> None:
    cp = latest_checkpoint(s)
    current = cp.size if cp else 0
    if size < 1 or size > current:
        raise FieldError(name, str(size), "out_of_range", f"树大小必须在 1 到 {current} 之间")


def inclusion(c: Container, index: int, size: int) -> dict[str, Any]:
    """RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""
    with c.uow() as uow:
        s = uow.session
        log = log_row(s)
        _check_size(s, size, "size")
        if not 0 <= index < size:
            raise FieldError(
                "index", str(index), "out_of_range", f"叶子序号必须在 0 到 {size - 1} 之间"
            )
        h = hash_suite(Suite(log.suite))
        proof = inclusion_proof(h, DbNodeReader(s), index, size)
        leaf = s.get(LedgerLeafRow, index)
        assert leaf is not None
        return {
            "index": index,
            "size": size,
            "leaf_hash": leaf.leaf_hash.hex(),
            "hashes": [base64.b64encode(p).decode() for p in proof],
        }


def consistency(c: Container, first: int, second: int) -> dict[str, Any]:
    """RFC 9162 consistency proof between two tree sizes."""
    with c.uow() as uow:
        s = uow.session
        log = log_row(s)
        _check_size(s, second, "second")
        if not 1 <= first <= second:
            raise FieldError(
                "first", str(first), "out_of_range", f"first 必须在 1 到 {second} 之间"
            )
        proof = consistency_proof(hash_suite(Suite(log.suite)), DbNodeReader(s), first, second)
        return {
            "first": first,
            "second": second,
            "hashes": [base64.b64encode(p).decode() for p in proof],
        }


def _leaf_dict(r: LedgerLeafRow) -> dict[str, Any]:
    return {
        "index": r.idx,
        "type": r.entry_type,
        "ref": r.ref,
        "subject_id": r.subject_id,
        "record_key": r.record_key,
        "leaf_hash": r.leaf_hash.hex(),
        "data": json.loads(r.data),
        "integrated_at": r.integrated_at.isoformat(),
    }


def search(
    c: Container,
    actor: Principal,
    *,
    purpose: str,
    subject_id: str | None = None,
    record_key: str | None = None,
    entry_type: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The search index beside the log, for staff: which leaves concern a subject, record or type.

    The existence of records is not public (arrears, unpublished penalties), so a search is a
    read of non-public information and is logged.
    """
    require(actor, Permission.read_authorised)
    if not (subject_id or record_key or entry_type):
        raise FieldError(
            "subject_id", "", "required", "至少给出 subject_id、record_key 或 type 之一"
        )
    stmt = select(LedgerLeafRow).order_by(LedgerLeafRow.idx).limit(max(1, min(limit, MAX_SEARCH)))
    if subject_id:
        stmt = stmt.where(LedgerLeafRow.subject_id == subject_id)
    if record_key:
        stmt = stmt.where(LedgerLeafRow.record_key == record_key)
    if entry_type:
        stmt = stmt.where(LedgerLeafRow.entry_type == entry_type)
    with c.uow() as uow:
        rows = [_leaf_dict(r) for r in uow.session.scalars(stmt)]
        for sid in sorted({r["subject_id"] for r in rows if r["subject_id"]}):
            record_disclosure(
                uow.session,
                actor=actor,
                subject_id=sid,
                items=["ledger"],
                purpose=purpose,
                channel="api",
                at=c.clock.now(),
                detail={"ledger_search": True},
            )
        uow.commit()
        return rows


def public_disclosure(
    c: Container, record: RecordRow, version: RecordVersionRow, subject: SubjectRow, today: date
) -> dict[str, Any]:
    """The fields an anonymous bundle discloses: those the public archive and 双公示 show exactly
    as stored. A field shown masked or scrubbed (a person's name, free text with a phone or ID
    number or the person's name in it) or not shown at all stays an undisclosed digest — a
    disclosed value must hash to the leaf, so it cannot be disclosed in its masked form, and
    disclosing it raw would undo the masking. The public form is `subjects.archive.public_entry`'s,
    the one function both public views use (no second masking here)."""
    item = c.catalog.item(record.item_code)
    shown = public_entry(
        item,
        record,
        version,
        subject,
        public=True,
        today=today,
        depts={},
        personal={},
        # a free text naming another person is shown masked, so it stays an undisclosed digest
        mask_names=c.settings.mask_names_in_public_text,
    )
    raw = version.payload
    return {
        f["code"]: raw[f["code"]]
        for f in shown["fields"]
        if f["code"] in raw and f["value"] == raw[f["code"]]
    }


def bundle(
    c: Container,
    actor: Principal,
    record_id: str,
    *,
    purpose: str | None = None,
) -> dict[str, Any]:
    """An offline proof bundle for the current version of a record.

    Anyone gets the bundle of a record shown publicly today (`subjects.archive.is_public_now`:
    not withdrawn, expired, repaired, a minor's or non-public — those answer 404 like a missing
    record), disclosing only the fields the public views show unchanged (`public_disclosure`),
    except a natural person's: its leaf names the person's subject_id (which would link the
    person's records), so it goes only to the person's own account. Staff with a purpose get
    any record still shared (`subjects.archive.is_shared_now`: not withdrawn, not repaired),
    disclosing every non-personal field (logged). Personal fields are never disclosed.
    """
    with c.uow() as uow:
        s = uow.session
        log = log_row(s)
        record = s.get(RecordRow, record_id)
        if record is None:
            raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        today = local_date(c.clock.now())
        staff = purpose is not None and actor.can(Permission.read_authorised)
        if staff and not is_shared_now(record):
            raise NotFound(
                f"记录 {record_id} 已撤销或已信用修复，停止共享和使用", code="record_not_shared"
            )
        if not staff and not is_public_now(record, today):
            raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        subject = s.get(SubjectRow, record.subject_id)
        if subject is None:  # pragma: no cover - records reference their subject
            raise NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        version = s.scalar(
            select(RecordVersionRow).where(
                RecordVersionRow.record_id == record.id,
                RecordVersionRow.version == record.current_version,
            )
        )
        leaf = s.scalar(
            select(LedgerLeafRow).where(
                LedgerLeafRow.ref == f"{record.id}/{record.current_version}"
            )
        )
        cp = latest_checkpoint(s)
        if leaf is None or cp is None or version is None:
            raise Conflict("该记录的最新版本尚未收录到数据链，请稍后再试", code="ledger_pending")
        item = c.catalog.item(record.item_code)
        if staff:
            fields = dict(version.payload)
            record_disclosure(
                s,
                actor=actor,
                subject_id=record.subject_id,
                items=[record.item_code],
                purpose=purpose or "",
                channel="api",
                at=c.clock.now(),
                detail={"ledger_bundle": record.id},
            )
        else:
            if subject.subject_type in PERSON_TYPES and not actor.acts_for(subject.subject_id):
                # The leaf's bytes name the subject_id, which would link every record of the
                # person that anyone holds a bundle of: a person's bundle is the person's own
                # (or staff's, with a purpose).
                raise PermissionDenied(
                    "自然人记录的数据链凭证只向本人（登录信用账户）或经授权并说明用途的查询方提供",
                    code="bundle_person_only",
                )
            fields = public_disclosure(c, record, version, subject, today)
        out = proof_bundle(
            s,
            log,
            leaf,
            cp,
            fields,
            record={
                "record_id": record.id,
                "version": record.current_version,
                "item": record.item_code,
                "item_name": item.name,
                # a person's bundle reaches only the person or staff (above)
                "subject_id": record.subject_id,
            },
        )
        uow.commit()
        return out


def proof_bundle(
    s: Session,
    log: LedgerLogRow,
    leaf: LedgerLeafRow,
    cp: LedgerCheckpointRow,
    fields: dict[str, Any],
    **about: Any,
) -> dict[str, Any]:
    """An offline proof bundle (ledger.bundle.verify_bundle) of a leaf under a checkpoint,
    disclosing `fields`; `about` adds what the leaf is about (``record=…``, ``report=…``)."""
    h = hash_suite(Suite(log.suite))
    proof = inclusion_proof(h, DbNodeReader(s), leaf.idx, cp.size)
    return {
        "format": BUNDLE_FORMAT,
        "origin": log.origin,
        "suite": log.suite,
        "vkey": log.vkey,
        **about,
        "leaf": {
            "index": leaf.idx,
            "data": base64.b64encode(leaf.data).decode(),
            "hash": leaf.leaf_hash.hex(),
        },
        "disclosed": disclose(log.suite, leaf.salt, fields),
        "proof": {"size": cp.size, "hashes": [base64.b64encode(p).decode() for p in proof]},
        "checkpoint": cp.note,
    }


def alarms(c: Container, actor: Principal, *, open_only: bool = True) -> list[dict[str, Any]]:
    """Tamper alarms for the credit office."""
    require(actor, Permission.run_jobs)
    with c.uow() as uow:
        stmt = select(LedgerAlarmRow).order_by(LedgerAlarmRow.id.desc())
        if open_only:
            stmt = stmt.where(LedgerAlarmRow.acknowledged_at.is_(None))
        return [
            {
                "id": a.id,
                "raised_at": a.raised_at.isoformat(),
                "kind": a.kind,
                "detail": a.detail,
                "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
            }
            for a in uow.session.scalars(stmt)
        ]


def acknowledge_alarm(c: Container, actor: Principal, alarm_id: int) -> None:
    """The credit office acknowledges an alarm (it stays in the history)."""
    require(actor, Permission.run_jobs)
    with c.uow() as uow:
        a = uow.session.get(LedgerAlarmRow, alarm_id)
        if a is None:
            raise NotFound(f"告警 {alarm_id} 不存在", code="alarm_not_found")
        a.acknowledged_at, a.acknowledged_by = c.clock.now(), actor.label
        uow.commit()
