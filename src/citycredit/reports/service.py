"""信用报告: issue a numbered public credit report of an organisation, read it, and bundle it
with the ledger's proof for offline verification.

A report is what the public archive shows of the subject when it is issued — the records by
catalog item, the lists it is on, its evaluation, its voluntary registration — laid out in
信用中国's fixed categories and order (`reports.layout`: every category present, an empty one
with 查询期内无相关信息), with the status tags 守信激励对象 / 失信惩戒对象, its generation time in
Beijing time and a validity period (有效期, `VALID_DAYS` from 信息截至). It is kept as issued (a
later correction does not change an issued report), and its canonical bytes are hashed with the
ledger suite's hash; a ``report.issued`` leaf commits to that digest (salted, like every leaf),
so anyone holding the report and its bundle can check that the platform issued exactly this
content (`ledger.bundle.verify_bundle`: `citycredit ledger verify-bundle` or /ledger/verify).

The verification page (the QR code's target) checks the stored report against that leaf — not
against a digest stored beside it — through the inclusion proof to the latest checkpoint signed
by the platform's key, and lists what changed since issue (`reports.changes`): withdrawn,
corrected, repaired or no longer published entries, the ones no longer public shown by their
status only — on the page and the PDF (`issued_report` + the marks) and in the JSON answer
(`get_report`: `public_content` replaces them by their status). The leaf commits to one digest
of the whole document, so a bundle cannot leave such an entry out and still verify: once a
report holds one, its bundle goes only to the subject's own account, and to staff with a
purpose while every such entry is still shared (`report_bundle`).

Public reports are of organisations only: natural persons' archives are not searchable
publicly, and their reports are for themselves (the rights area's own view), not issued here.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.kernel import outbox
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.ledger.bundle import BundleError, report_digest, verify_bundle
from citycredit.ledger.db import LedgerLeafRow, LedgerLogRow
from citycredit.ledger.entries import LedgerEntry, field_digest, workflow_entry
from citycredit.ledger.service import log_row, proof_bundle
from citycredit.ledger.signers import verifier_to_vkey
from citycredit.ledger.store import latest_checkpoint
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.lists import service as lists
from citycredit.lists.model import ListKind
from citycredit.reports.changes import changes_since_issue
from citycredit.reports.db import ReportRow
from citycredit.reports.layout import overview
from citycredit.shared.calendar import SHANGHAI, local_date
from citycredit.shared.errors import CityCreditError, Conflict, NotFound, PermissionDenied
from citycredit.subjects import archive
from citycredit.subjects.archive import PERSON_TYPES

__all__ = [
    "REPORT_FORMAT",
    "VALID_DAYS",
    "get_report",
    "issue_report",
    "issued_report",
    "local_time",
    "normalise_no",
    "printable_report",
    "public_content",
    "report_bundle",
]

# 2: 信用中国's fixed categories in the overview, issued_at in Beijing time, valid_until.
REPORT_FORMAT = "citycredit-report/2"
# 有效期: a report is valid for this many days from 信息截至 (inclusive of the last day); a bank
# holding an older one asks for a new report. A module constant, not a setting (yet).
VALID_DAYS = 30
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
    as_of = view["as_of"]
    content: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "title": TITLE,
        "report_no": no,
        "issued_at": now.astimezone(SHANGHAI).isoformat(),  # with its +08:00 offset
        "as_of": as_of,
        "valid_until": _valid_until(as_of),
        "validity_days": VALID_DAYS,
        "issuer": c.settings.ledger_origin,
        "subject": view["subject"],
        "tags": _tags(memberships),
        "overview": [],
        "sections": view["groups"],
        "lists": memberships,
        "evaluation": view["evaluation"],
        "voluntary_registration": view["voluntary_registration"],
        "note": (
            "本报告内容为报告生成时本平台公开的公共信用信息；报告编号可在本平台核验，"
            "报告摘要已收录于信用数据链。报告生成后信息如有撤销、更正或信用修复，"
            "以核验页面所示为准。"
        ),
    }
    content["overview"] = overview(content)
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


def _valid_until(as_of: str) -> str:
    """The last day of a report's validity: `VALID_DAYS` after 信息截至."""
    return (date.fromisoformat(as_of) + timedelta(days=VALID_DAYS)).isoformat()


def local_time(iso: str) -> str:
    """A stored instant as the report prints it: Beijing time, labelled (reports issued before
    format 2 stored UTC; both print the same)."""
    at = datetime.fromisoformat(iso)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


def _load(s: Session, report_no: str) -> tuple[ReportRow, LedgerLeafRow | None]:
    """An issued report (the number as typed) and its ledger leaf, if sequenced."""
    row = s.get(ReportRow, normalise_no(report_no))
    if row is None:
        raise NotFound(f"报告编号 {report_no} 不存在", code="report_not_found")
    leaf = s.scalar(select(LedgerLeafRow).where(LedgerLeafRow.ref == f"{row.report_no}/issued"))
    return row, leaf


def _pending_entry(s: Session, report_no: str) -> LedgerEntry | None:
    """The leaf entry the report's outbox event hands the sequencer (not yet sequenced)."""
    event = s.scalar(
        select(OutboxEventRow).where(
            OutboxEventRow.aggregate_type == "report",
            OutboxEventRow.aggregate_id == report_no,
            OutboxEventRow.event_type == ENTRY_TYPE,
        )
    )
    if event is None or "ledger" not in (event.payload or {}):
        return None
    return LedgerEntry.from_payload(event.payload["ledger"])


def _commits_to(suite: str, data: bytes, salt: bytes, row: ReportRow) -> bool:
    """The leaf bytes (with the salt behind their digests) commit to this report's number,
    subject and the digest of its content as stored now."""
    h = hash_suite(Suite(suite))
    try:
        leaf = json.loads(data)
    except ValueError:
        return False
    committed = leaf.get("fields") or {}
    content_digest = report_digest(suite, row.content)
    return bool(
        leaf.get("type") == ENTRY_TYPE
        and leaf.get("ref") == f"{row.report_no}/issued"
        and leaf.get("subject_id") == row.subject_id
        and committed.get("report_no") == field_digest(h, salt, "report_no", row.report_no)
        and committed.get("content_hash") == field_digest(h, salt, "content_hash", content_digest)
    )


def _trusted_vkey(c: Container, log: LedgerLogRow) -> str:
    """The platform's own verifier key (from its signing key, outside the database); the
    stored one only if that key cannot be loaded (a misconfigured process)."""
    try:
        return verifier_to_vkey(c.ledger_signer.verifier())
    except CityCreditError:
        return log.vkey


def _integrity(
    c: Container, s: Session, row: ReportRow, leaf: LedgerLeafRow | None
) -> tuple[bool, str]:
    """Whether the stored report is the one registered at issue, and how that was checked.

    Never against ``content_hash`` beside the content (both are rewritten together): against
    the ``report.issued`` leaf — once sequenced, the whole offline check of its bundle (the
    leaf's salted digest of the content, the inclusion proof, the checkpoint signed by the
    platform's key); before that, the entry its outbox event hands the sequencer.
    """
    if leaf is not None:
        log = s.get(LedgerLogRow, 1)
        cp = latest_checkpoint(s)
        if log is not None and cp is not None and leaf.idx < cp.size:
            suite = log.suite
            fields = {"content_hash": report_digest(suite, row.content), "report_no": row.report_no}
            bundle = proof_bundle(s, log, leaf, cp, fields, report=row.content)
            try:
                verify_bundle(bundle, trusted_vkey=_trusted_vkey(c, log))
            except BundleError as exc:
                return False, f"与数据链第 {leaf.idx} 号叶子核对不通过：{exc}"
            if json.loads(leaf.data).get("subject_id") != row.subject_id:
                return False, f"数据链第 {leaf.idx} 号叶子登记的是另一个主体的报告"
            return True, (
                f"已与数据链第 {leaf.idx} 号叶子登记的摘要核对"
                f"（树大小 {cp.size} 的签名检查点，包含证明有效）"
            )
        if _commits_to(log.suite if log else c.settings.ledger_suite, leaf.data, leaf.salt, row):
            return True, f"已与数据链第 {leaf.idx} 号叶子登记的摘要核对"
        return False, f"与数据链第 {leaf.idx} 号叶子登记的摘要不符"
    entry = _pending_entry(s, row.report_no)
    if entry is None:
        return False, "数据链中没有该报告的登记"
    if _commits_to(c.settings.ledger_suite, entry.data, entry.salt, row):
        return True, "已与生成时登记、待收录到数据链的摘要核对"
    return False, "与生成时登记、待收录到数据链的摘要不符"


def issued_report(c: Container, actor: Principal, report_no: str) -> dict[str, Any]:
    """An issued report as issued, whether it is the one registered at issue (`_integrity`),
    where the ledger holds it (None while the sequencer has not taken it in), its validity and
    the entries that changed since issue (`reports.changes`).

    The whole stored content, entries no longer public included: for the page and the PDF,
    which show those entries by their ``changes`` mark only (report_body.html). A caller
    answering with the content itself uses `get_report` (the public answer)."""
    require(actor, Permission.read_public)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        row, leaf = _load(s, report_no)
        intact, integrity = _integrity(c, s, row, leaf)
        content = row.content
        valid_until = content.get("valid_until") or _valid_until(str(content["as_of"]))
        out = {
            "report_no": row.report_no,
            "content": content,
            "content_hash": row.content_hash,
            "intact": intact,
            "integrity": integrity,
            "ledger_index": leaf.idx if leaf is not None else None,
            "issued_at_local": local_time(str(content["issued_at"])),
            "valid_until": valid_until,
            "validity_days": int(content.get("validity_days") or VALID_DAYS),
            "expired": today.isoformat() > valid_until,
            "checked_on": today.isoformat(),
            "changes": changes_since_issue(s, row.subject_id, content, today),
        }
        uow.finish_read()
        return out


def _hidden(
    changes: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    """The entries no longer public (`changes_since_issue`'s ``hidden``, the marks the page
    shows in their place): records by id, list entries by their index in content["lists"]."""
    records = {ch["record_id"]: ch for ch in changes if ch["hidden"] and ch["kind"] == "record"}
    memberships = {ch["list_index"]: ch for ch in changes if ch["hidden"] and ch["kind"] == "list"}
    return records, memberships


def _status_only(mark: dict[str, Any], **keep: Any) -> dict[str, Any]:
    """An entry no longer public as the page shows it: where it was, its status, no details."""
    return {
        **{k: v for k, v in keep.items() if v is not None},
        "hidden": True,
        "code": mark["code"],
        "label": mark["label"],
    }


def public_content(content: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """A report's content as the page shows it: every entry no longer public (repaired,
    withdrawn, 不予公示, publication ended, off its list … — the ``hidden`` changes since issue)
    replaced by its status (``record_id`` or the list, ``hidden``, ``code``, ``label``); the
    rest as issued. The counts and the overview stay as printed. Not the issued document: it
    no longer hashes to ``content_hash`` (the bundle carries the whole document, or is refused,
    `report_bundle`)."""
    records, memberships = _hidden(changes)
    if not records and not memberships:
        return content
    sections = [
        {
            **g,
            "records": [
                _status_only(records[e["record_id"]], record_id=e["record_id"])
                if e.get("record_id") in records
                else e
                for e in g.get("records", [])
            ],
        }
        for g in content.get("sections") or []
    ]
    lists_ = [
        _status_only(
            memberships[i],
            list_type=m.get("list_type"),
            list_name=m.get("list_name"),
            record_id=m.get("record_id"),
        )
        if i in memberships
        else m
        for i, m in enumerate(content.get("lists") or [])
    ]
    shown_lists = [m for i, m in enumerate(content.get("lists") or []) if i not in memberships]
    return {**content, "sections": sections, "lists": lists_, "tags": _tags(shown_lists)}


def shown_tags(content: dict[str, Any], changes: list[dict[str, Any]]) -> list[str]:
    """The status tags of a report as it reads today: a list entry no longer public (exited
    early, withdrawn …) no longer makes the subject 守信激励对象 / 失信惩戒对象."""
    _, memberships = _hidden(changes)
    if not memberships:
        return list(content.get("tags") or [])
    return _tags([m for i, m in enumerate(content.get("lists") or []) if i not in memberships])


def get_report(c: Container, actor: Principal, report_no: str) -> dict[str, Any]:
    """The public answer of an issued report (GET /api/v1/reports/{no}): `issued_report` with
    the content the page shows (`public_content`: entries no longer public by their status
    only), whoever asks — the whole document goes only into the bundle (`report_bundle`:
    the subject, or staff with a purpose while still shared). ``complete`` says whether the
    content is the issued document."""
    report = issued_report(c, actor, report_no)
    shown = public_content(report["content"], report["changes"])
    return {**report, "content": shown, "complete": shown is report["content"]}


def printable_report(c: Container, actor: Principal, report_no: str) -> dict[str, Any]:
    """`issued_report` for printing (the PDF): refused when the stored copy is not the one
    registered at issue — the platform does not print what it cannot vouch for."""
    report = issued_report(c, actor, report_no)
    if not report["intact"]:
        raise Conflict(
            "该报告的存档内容与生成时登记的摘要不一致，不能出具 PDF；请联系信用办",
            code="report_altered",
        )
    return report


NOT_PUBLIC_BUNDLE = (
    "该报告含有生成后已不再公示的信息（信用修复、撤销、停止公示等），不再向公众提供完整的"
    "核验凭证：完整凭证只向信用主体本人（经审核绑定的账号）提供；其中的信息均仍在共享的"
    "（停止公示、公示期届满，未撤销、未信用修复），也向说明查询目的（purpose）的授权工作人员"
    "提供。报告各条目的现状请在报告核验页面查看"
)


def _still_shared(s: Session, hidden: list[dict[str, Any]]) -> bool:
    """Every entry no longer public is a record departments' authorised view still shares
    (`subjects.archive.is_shared_now`: not withdrawn, not repaired); a list entry off its list
    is not."""
    for ch in hidden:
        if ch["kind"] != "record":
            return False
        record = s.get(RecordRow, ch["record_id"])
        if record is None or not archive.is_shared_now(record):
            return False
    return True


def report_bundle(
    c: Container, actor: Principal, report_no: str, *, purpose: str | None = None
) -> dict[str, Any]:
    """The report with its ledger proof: leaf, inclusion proof to the latest signed checkpoint,
    and the disclosed digest fields (ledger.bundle.verify_bundle checks all of it offline).

    The leaf commits to the digest of the whole document (`report_digest`), so a bundle with
    an entry left out or replaced by its status would not verify. Once an entry of the report
    is no longer public (the ``hidden`` changes since issue: repaired, withdrawn, …), the
    bundle — the whole report — follows the record bundles' rule (`ledger.service.bundle`): it
    goes to the subject's own bound account, and to staff with a purpose (logged) only while
    every such entry is still shared (`_still_shared`: repair and withdrawal stop sharing);
    anyone else is refused (``report_not_public``).
    """
    require(actor, Permission.read_public)
    with c.uow() as uow:
        s = uow.session
        row, leaf = _load(s, report_no)
        today = local_date(c.clock.now())
        changes = changes_since_issue(s, row.subject_id, row.content, today)
        hidden = [ch for ch in changes if ch["hidden"]]
        logged = False
        if hidden and not actor.acts_for(row.subject_id):
            staff = purpose is not None and actor.can(Permission.read_authorised)
            if not staff or not _still_shared(s, hidden):
                raise PermissionDenied(NOT_PUBLIC_BUNDLE, code="report_not_public")
            logged = True
        cp = latest_checkpoint(s)
        if leaf is None or cp is None or leaf.idx >= cp.size:
            raise Conflict("该报告尚未收录到数据链，请稍后再试", code="ledger_pending")
        fields = {"content_hash": row.content_hash, "report_no": row.report_no}
        out = proof_bundle(s, log_row(s), leaf, cp, fields, report=row.content)
        if not logged:
            uow.finish_read()
            return out
        items = sorted({str(g["item"]) for g in row.content.get("sections") or []})
        record_disclosure(  # staff read entries no longer public: logged like any such read
            s,
            actor=actor,
            subject_id=row.subject_id,
            items=items or ["report"],
            purpose=purpose or "",
            channel="api",
            at=c.clock.now(),
            detail={"report_bundle": row.report_no},
            object_id=row.report_no,
        )
        uow.commit()
        return out
