"""信用报告: issue a numbered public credit report of an organisation, read it, and bundle it
with the ledger's proof for offline verification.

A report is what the public archive shows of the subject when it is issued — the records by
catalog item (信用中国's sections: 行政许可, 行政处罚, …), the lists it is on, its evaluation,
its voluntary registration — with an overview of counts and the status tags 守信激励对象 /
失信惩戒对象. It is kept as issued (a later correction does not change an issued report), and
its canonical bytes are hashed with the ledger suite's hash; a ``report.issued`` leaf commits
to that digest (salted, like every leaf), so anyone holding the report and its bundle can check
that the platform issued exactly this content (`ledger.bundle.verify_bundle`: `citycredit ledger
verify-bundle` or the page /ledger/verify).

Public reports are of organisations only: natural persons' archives are not searchable
publicly, and their reports are for themselves (the rights area's own view), not issued here.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.kernel import outbox
from citycredit.ledger.bundle import report_digest
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.entries import workflow_entry
from citycredit.ledger.service import log_row, proof_bundle
from citycredit.ledger.store import latest_checkpoint
from citycredit.lists import service as lists
from citycredit.lists.model import ListKind
from citycredit.reports.db import ReportRow
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import Conflict, NotFound, PermissionDenied
from citycredit.subjects import archive
from citycredit.subjects.archive import PERSON_TYPES

__all__ = [
    "REPORT_FORMAT",
    "get_report",
    "issue_report",
    "normalise_no",
    "printable_report",
    "report_bundle",
]

REPORT_FORMAT = "citycredit-report/1"
ENTRY_TYPE = "report.issued"
TITLE = "公共信用信息报告"
_B32 = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read aloud and typed back


def _report_no(at: datetime) -> str:
    """YLCR + the issue date (Asia/Shanghai) + 10 random characters: 22 characters."""
    tail = "".join(secrets.choice(_B32) for _ in range(10))
    return f"YLCR{local_date(at).strftime('%Y%m%d')}{tail}"


def _tags(memberships: list[dict[str, Any]]) -> list[str]:
    """信用中国's status tags: on a red list → 守信激励对象; on a serious-dishonesty list →
    失信惩戒对象 (other lists, such as 经营异常名录, have their own section and no tag)."""
    types = lists.lists_catalog().list_types
    kinds = {types[m["list_type"]].kind for m in memberships if m["list_type"] in types}
    tags = []
    if ListKind.red_list in kinds:
        tags.append("守信激励对象")
    if ListKind.serious_dishonesty in kinds:
        tags.append("失信惩戒对象")
    return tags


def issue_report(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """Issue a public credit report of an organisation; returns the stored report."""
    view = archive.public_archive(c, actor, subject_id)  # NotFound for an unknown subject
    if view["subject"]["subject_type"] in PERSON_TYPES:
        raise PermissionDenied(
            "自然人和农户的信用报告只向本人提供，请登录信用账户查询", code="report_not_public"
        )
    memberships = lists.public_subject_lists(c, actor, subject_id)["lists"]
    now = c.clock.now()
    no = _report_no(now)
    overview = [{"section": g["item_name"], "count": g["count"]} for g in view["groups"]]
    overview.append({"section": "信用名单", "count": len(memberships)})
    content: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "title": TITLE,
        "report_no": no,
        "issued_at": now.isoformat(),
        "as_of": view["as_of"],
        "issuer": c.settings.ledger_origin,
        "subject": view["subject"],
        "tags": _tags(memberships),
        "overview": overview,
        "sections": view["groups"],
        "lists": memberships,
        "evaluation": view["evaluation"],
        "voluntary_registration": view["voluntary_registration"],
        "note": (
            "本报告内容为报告生成时本平台公开的公共信用信息；报告编号可在本平台核验，"
            "报告摘要已收录于信用数据链。"
        ),
    }
    suite = c.settings.ledger_suite
    digest = report_digest(suite, content)
    entry = workflow_entry(
        suite,
        entry_type=ENTRY_TYPE,
        ref=f"{no}/issued",
        subject_id=subject_id,
        fields={"content_hash": digest, "report_no": no},
        at=now,
    )
    with c.uow() as uow:
        s = uow.session
        s.add(
            ReportRow(
                report_no=no,
                subject_id=subject_id,
                kind="public",
                content=content,
                content_hash=digest,
                issued_by=actor.label,
                issued_at=now,
            )
        )
        outbox.emit(
            s,
            event_type=ENTRY_TYPE,
            aggregate_type="report",
            aggregate_id=no,
            subject_id=subject_id,
            payload={"ledger": entry.as_payload()},
            at=now,
        )
        uow.commit()
    return {"report_no": no, "content": content, "content_hash": digest}


def normalise_no(report_no: str) -> str:
    """A report number as typed (spaces around it, any case) as it is stored."""
    return report_no.strip().upper()


def _load(s: Session, report_no: str) -> tuple[ReportRow, LedgerLeafRow | None]:
    """An issued report (the number as typed) and its ledger leaf, if sequenced."""
    row = s.get(ReportRow, normalise_no(report_no))
    if row is None:
        raise NotFound(f"报告编号 {report_no} 不存在", code="report_not_found")
    leaf = s.scalar(select(LedgerLeafRow).where(LedgerLeafRow.ref == f"{row.report_no}/issued"))
    return row, leaf


def get_report(c: Container, actor: Principal, report_no: str) -> dict[str, Any]:
    """An issued report as issued, whether its content still matches its digest, and where
    the ledger holds it (None while the sequencer has not taken it in)."""
    require(actor, Permission.read_public)
    with c.uow() as uow:
        row, leaf = _load(uow.session, report_no)
        out = {
            "report_no": row.report_no,
            "content": row.content,
            "content_hash": row.content_hash,
            "intact": report_digest(c.settings.ledger_suite, row.content) == row.content_hash,
            "ledger_index": leaf.idx if leaf is not None else None,
        }
        uow.finish_read()
        return out


def printable_report(c: Container, actor: Principal, report_no: str) -> dict[str, Any]:
    """`get_report` for printing (the PDF): refused when the stored copy no longer matches the
    digest registered at issue — the platform does not print what it cannot vouch for."""
    report = get_report(c, actor, report_no)
    if not report["intact"]:
        raise Conflict(
            "该报告的存档内容与生成时登记的摘要不一致，不能出具 PDF；请联系信用办",
            code="report_altered",
        )
    return report


def report_bundle(c: Container, actor: Principal, report_no: str) -> dict[str, Any]:
    """The report with its ledger proof: leaf, inclusion proof to the latest signed checkpoint,
    and the disclosed digest fields (ledger.bundle.verify_bundle checks all of it offline)."""
    require(actor, Permission.read_public)
    with c.uow() as uow:
        s = uow.session
        row, leaf = _load(s, report_no)
        cp = latest_checkpoint(s)
        if leaf is None or cp is None or leaf.idx >= cp.size:
            raise Conflict("该报告尚未收录到数据链，请稍后再试", code="ledger_pending")
        fields = {"content_hash": row.content_hash, "report_no": row.report_no}
        out = proof_bundle(s, log_row(s), leaf, cp, fields, report=row.content)
        uow.finish_read()
        return out
