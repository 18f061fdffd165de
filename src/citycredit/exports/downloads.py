"""Approved downloads of export files that carry natural persons' data (security.md G35).

The 双公示 files hold natural persons' names and ID numbers (and legal representatives' ID
numbers) in clear. Such a file (``model.carries_personal_data``: its ``personal_rows``) is not
handed out on request any more; files without personal data (the manifest, a file with only
organisations' rows) keep their plain download (``service.export_file``). The workflow:

1. ``request_download``: a credit-office account (信用办管理员, the only role that reads every
   department's records) asks for the files of one export, with a purpose;
2. ``decide_download``: ANOTHER credit-office account approves or refuses (the requester
   deciding their own request is refused, ``same_person``); only named accounts take part
   (a token or web session of a user: the console's ``system`` is nobody in particular);
3. the approval writes a watermarked copy of each file for the requester (``files.
   write_watermarked_copy``: request id, requester, approver, approval time in Beijing time and
   UTC, on every row) and records each copy's SHA-256 (``export_download_copies``), so a leaked
   copy is traced to its request (``list_downloads(sha256=…)``);
4. ``download_copy``: the requester, and only the requester, downloads the copies until
   ``expires_at`` (``export_download_expiry_hours`` after the approval, default 24); each
   download is logged per subject in the disclosure log (查询登记, channel ``download``);
   afterwards the answer is ``CopyExpired`` (HTTP 410) saying how to ask again;
5. ``expire_downloads`` (the ``export_downloads_expire`` job): deletes the copies of expired
   requests and marks them ``expired``; a request still pending
   ``export_download_request_lapse_hours`` after it was made (default 72) is marked ``lapsed``
   — nobody can approve it any more (``decide_download`` answers as for a decided request,
   from the lapse time on even before the job has run); the requester asks again.

Every step writes an operator audit event (``exports.download_*``) in its own transaction.
"""

from __future__ import annotations

import logging
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import add_event, write_event
from citycredit.accounts.model import SYSTEM, Permission, Principal, Role, require
from citycredit.bootstrap import Container
from citycredit.exports.db import (
    ExportDownloadCopyRow,
    ExportDownloadRow,
    ExportRecordRow,
    ExportRow,
)
from citycredit.exports.files import DIR_MODE, write_watermarked_copy
from citycredit.exports.model import KIND, PERSON_SUBJECT_TYPES, carries_personal_data
from citycredit.exports.run import iso
from citycredit.ingest.db import RecordRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.shared.errors import (
    CityCreditError,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
)
from citycredit.shared.files import sha256_file
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

log = logging.getLogger(__name__)

PENDING, APPROVED, REFUSED, EXPIRED = "pending", "approved", "refused", "expired"
LAPSED = "lapsed"  # pending for export_download_request_lapse_hours: nobody decided
STATUSES = (PENDING, APPROVED, REFUSED, EXPIRED, LAPSED)
PURPOSE_MAX = 500
REASON_MAX = 500
_SHA256 = re.compile(r"[0-9a-f]{64}")


class CopyExpired(CityCreditError):
    """An approved copy asked for after its expiry (HTTP 410 Gone)."""

    default_code = "export_copy_expired"


def utc_text(dt: datetime) -> str:
    """UTC, ISO 8601 with ``Z`` (the watermark carries both this and Beijing time)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _require(actor: Principal) -> None:
    # The credit office: the files hold every department's records and persons' ID numbers.
    require(actor, Permission.read_all_submissions)
    require(actor, Permission.read_authorised)


def _named(actor: Principal, step: str) -> int:
    """The user id of a named account; the console, a departmental token and the like are
    refused: the four-eyes rule needs to know who is who."""
    if actor.console or actor.user_id is None or actor.role is not Role.credit_office_admin:
        raise PermissionDenied(
            f"{step}须使用本人的信用办管理员账号（个人令牌或网页登录；命令行用 --token），"
            "系统账号和部门令牌不能申请或审批",
            code="named_account_required",
        )
    return actor.user_id


def _denied(c: Container, actor: Principal, action: str, object_id: str, why: str) -> None:
    """A refused step, in the audit trail (own transaction: the step itself rolls back)."""
    write_event(
        c, action=action, result="denied", actor=actor, object_id=object_id, detail={"why": why}
    )


def _text(field: str, value: str | None, *, limit: int, what: str) -> str:
    text = (value or "").strip()
    if len(text) < 2:
        raise FieldError(field, value, "required", f"请填写{what}（{field}，至少 2 个字）")
    if len(text) > limit:
        raise FieldError(field, text[:40] + "…", "too_long", f"{what}（{field}）不超过 {limit} 字")
    return text


def _export(s: Session, export_id: str) -> ExportRow:
    row = s.get(ExportRow, export_id)
    if row is None or row.kind != KIND:
        raise NotFound(f"导出批次 {export_id} 不存在", code="export_not_found")
    return row


def _request(s: Session, request_id: str, *, lock: bool = False) -> ExportDownloadRow:
    q = select(ExportDownloadRow).where(ExportDownloadRow.id == request_id)
    row = s.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise NotFound(f"下载申请 {request_id} 不存在", code="download_request_not_found")
    return row


def _copies(s: Session, request_id: str) -> list[ExportDownloadCopyRow]:
    return list(
        s.scalars(
            select(ExportDownloadCopyRow)
            .where(ExportDownloadCopyRow.request_id == request_id)
            .order_by(ExportDownloadCopyRow.id)
        )
    )


def _expired(row: ExportDownloadRow, now: datetime) -> bool:
    return row.status == EXPIRED or (
        row.status == APPROVED and row.expires_at is not None and row.expires_at <= now
    )


def _lapses_at(row: ExportDownloadRow, hours: int) -> datetime:
    """When a request nobody decides lapses (the status is set by the job); a lapsed one keeps
    the time it lapsed at in ``decided_at`` (whatever the setting says later)."""
    if row.status == LAPSED and row.decided_at is not None:
        return row.decided_at
    return row.requested_at + timedelta(hours=hours)


def _lapsed(row: ExportDownloadRow, now: datetime, hours: int) -> bool:
    """Marked lapsed, or still pending past its lapse time (the job marks it within its
    interval)."""
    return row.status == LAPSED or (row.status == PENDING and _lapses_at(row, hours) <= now)


def _view(
    row: ExportDownloadRow, copies: list[ExportDownloadCopyRow], now: datetime, lapse_hours: int
) -> dict[str, Any]:
    undecided = row.status in (PENDING, LAPSED)
    return {
        "id": row.id,
        "export_id": row.export_id,
        "files": list(row.files or []),
        "purpose": row.purpose,
        "status": row.status,
        # approved but past its expiry (the job deletes the copies within its interval)
        "expired": _expired(row, now),
        # pending past its lapse time, or marked lapsed: it can no longer be decided
        "lapsed": _lapsed(row, now, lapse_hours),
        "lapses_at": iso(_lapses_at(row, lapse_hours)) if undecided else None,
        "requested_by": row.requested_by,
        "requested_by_user_id": row.requested_by_user_id,
        "requested_at": iso(row.requested_at),
        "decided_by": row.decided_by,
        "decided_by_user_id": row.decided_by_user_id,
        "decided_at": iso(row.decided_at),
        "decided_at_utc": utc_text(row.decided_at) if row.decided_at else None,
        "decision_note": row.decision_note,
        "expires_at": iso(row.expires_at),
        "deleted_at": iso(row.deleted_at),
        "copies": [
            {
                "name": cp.name,
                "item": cp.item,
                "format": cp.format,
                "rows": cp.rows,
                "bytes": cp.size,
                "sha256": cp.sha256,
                "made_at": iso(cp.made_at),
            }
            for cp in copies
        ],
    }


def _how_to_ask(export_id: str) -> str:
    return (
        f"请提交下载申请：POST /api/v1/exports/{export_id}/download-requests（说明用途 purpose），"
        f"或 citycredit export request {export_id} --purpose …；"
        "经另一名信用办管理员批准后，下载带水印的副本"
    )


def approval_required(row: ExportRow, name: str) -> PermissionDenied:
    """The answer to a plain download of a file with natural persons' data."""
    return PermissionDenied(
        f"导出批次 {row.id} 的文件 {name} 含自然人个人信息（姓名、身份证号等），"
        f"批量下载须经第二人审批：{_how_to_ask(row.id)}",
        code="export_approval_required",
    )


# -- 1. request ---------------------------------------------------------------------------------


def request_download(
    c: Container,
    actor: Principal,
    export_id: str,
    *,
    purpose: str,
    files: list[str] | None = None,
) -> dict[str, Any]:
    """Ask to download the files of an export that carry natural persons' data (all of them,
    or the named ones); pending until another credit-office account decides."""
    _require(actor)
    user_id = _named(actor, "申请下载")
    why = _text("purpose", purpose, limit=PURPOSE_MAX, what="下载用途")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        export = _export(s, export_id)
        if export.status != "completed":
            raise Conflict(
                f"导出批次 {export_id} 未成功完成，没有可下载的文件", code="export_failed"
            )
        if export.files_purged_at is not None:
            raise Conflict(
                f"导出批次 {export_id} 的文件已于 {iso(export.files_purged_at)} 按保存期限删除，"
                "请重新导出该时段",
                code="export_files_purged",
            )
        entries = {str(f.get("name")): f for f in export.files or []}
        personal = [n for n, f in entries.items() if carries_personal_data(f)]
        if files:
            wanted = list(dict.fromkeys(n.strip() for n in files if n.strip()))
            for name in wanted:
                if name not in entries:
                    raise FieldError(
                        "files", name, "unknown_file", f"导出批次 {export_id} 中没有文件 {name}"
                    )
                if name not in personal:
                    raise FieldError(
                        "files",
                        name,
                        "not_personal",
                        f"文件 {name} 不含自然人个人信息，无须申请，可直接下载",
                    )
        else:
            wanted = personal
        if not wanted:
            raise FieldError(
                "files",
                ",".join(files or []),
                "no_personal_files",
                f"导出批次 {export_id} 没有含自然人个人信息的文件，无须申请，可直接下载",
            )
        row = ExportDownloadRow(
            id=new_id("xd"),
            export_id=export_id,
            files=wanted,
            purpose=why,
            status=PENDING,
            requested_by=actor.label[:100],
            requested_by_user_id=user_id,
            requested_at=now,
        )
        s.add(row)
        add_event(
            s,
            at=now,
            action="exports.download_request",
            result="success",
            actor=actor,
            object_id=row.id,
            detail={"export_id": export_id, "files": wanted, "purpose": why},
        )
        s.flush()
        view = _view(row, [], now, c.settings.export_download_request_lapse_hours)
        uow.commit()
    return view


# -- 2. decide ----------------------------------------------------------------------------------


def decide_download(
    c: Container,
    actor: Principal,
    request_id: str,
    *,
    approve: bool,
    reason: str | None = None,
) -> dict[str, Any]:
    """Approve (writes the watermarked copies) or refuse (with a reason) a pending request.
    The requester cannot decide their own request."""
    _require(actor)
    step = "审批" if approve else "拒绝"
    user_id = _named(actor, f"{step}下载申请")
    note = None if approve else _text("reason", reason, limit=REASON_MAX, what="拒绝理由")
    action = "exports.download_approve" if approve else "exports.download_refuse"
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _request(s, request_id, lock=True)
        if row.requested_by_user_id == user_id:
            message = (
                f"下载申请 {request_id} 由您本人提出，不能由本人{step}："
                "须由另一名信用办管理员审批（双人审批）"
            )
            uow.rollback()
            _denied(c, actor, action, request_id, "same_person")
            raise PermissionDenied(message, code="same_person")
        hours = c.settings.export_download_request_lapse_hours
        if _lapsed(row, now, hours):
            raise Conflict(
                f"下载申请 {request_id} 已失效（状态 {LAPSED}：提出后 {hours} 小时内无人审批，"
                f"{iso(_lapses_at(row, hours))} 起失效），不能再{step}；"
                "如仍需要，请申请人重新提交申请",
                code="download_request_decided",
            )
        if row.status != PENDING:
            raise Conflict(
                f"下载申请 {request_id} 已处理（状态 {row.status}，"
                f"{row.decided_by or ''} {iso(row.decided_at) or ''}），不能再次{step}",
                code="download_request_decided",
            )
        row.decided_by = actor.label[:100]
        row.decided_by_user_id = user_id
        row.decided_at = now
        copies: list[ExportDownloadCopyRow] = []
        if approve:
            export = _export(s, row.export_id)
            row.status = APPROVED
            row.expires_at = now + timedelta(hours=c.settings.export_download_expiry_hours)
            directory = c.settings.data_dir / "exports" / "downloads" / row.id
            row.directory = str(directory)
            copies = _make_copies(c, export, row, directory)
            s.add_all(copies)
        else:
            row.status = REFUSED
            row.decision_note = note
        detail: dict[str, Any] = {"export_id": row.export_id, "files": list(row.files or [])}
        detail["requested_by_user_id"] = row.requested_by_user_id
        if approve:
            detail["expires_at"] = iso(row.expires_at)
            detail["copies"] = {cp.name: cp.sha256 for cp in copies}
        else:
            detail["reason"] = note
        add_event(
            s, at=now, action=action, result="success", actor=actor, object_id=row.id, detail=detail
        )
        try:
            s.flush()
            view = _view(row, copies, now, hours)
            uow.commit()
        except BaseException:
            if approve:
                _remove_copies(Path(str(row.directory)), [cp.name for cp in copies])
            raise
    return view


def _make_copies(
    c: Container, export: ExportRow, row: ExportDownloadRow, directory: Path
) -> list[ExportDownloadCopyRow]:
    """Write the watermarked copies; checks each source against the export's checksum first
    (a copy is made of exactly what the export wrote). Nothing is left behind on failure."""
    if export.files_purged_at is not None or not export.directory:
        raise Conflict(
            f"导出批次 {export.id} 的文件已按保存期限删除，不能再制作副本：请重新导出该时段",
            code="export_files_purged",
        )
    entries = {str(f.get("name")): f for f in export.files or []}
    now = c.clock.now()
    watermark = {
        "request_id": row.id,
        "export_id": export.id,
        "requested_by": row.requested_by,
        "requested_by_user_id": row.requested_by_user_id,
        "approved_by": row.decided_by,
        "approved_by_user_id": row.decided_by_user_id,
        "approved_at": iso(now),
        "approved_at_utc": utc_text(now),
        "expires_at": iso(row.expires_at),
    }
    watermark["text"] = (
        f"受控副本 申请编号 {row.id}｜申请人 {row.requested_by}（用户 {row.requested_by_user_id}）"
        f"｜审批人 {row.decided_by}（用户 {row.decided_by_user_id}）"
        f"｜批准时间 {iso(now)}（UTC {utc_text(now)}）｜失效 {iso(row.expires_at)}"
        "｜仅限申请用途，禁止转发"
    )
    made: list[ExportDownloadCopyRow] = []
    created = False
    try:
        if not directory.exists():
            directory.mkdir(parents=True, mode=DIR_MODE)
            created = True
        for name in row.files or []:
            entry = entries.get(name)
            source = Path(export.directory) / name
            if entry is None or not source.is_file():
                raise NotFound(
                    f"导出批次 {export.id} 的文件 {name} 已不在服务器上（{export.directory}）",
                    code="export_file_gone",
                )
            if sha256_file(source) != entry.get("sha256"):
                raise Conflict(
                    f"导出批次 {export.id} 的文件 {name} 与导出时记录的校验值不符（文件已被改动），"
                    "不能据此制作副本：请重新导出该时段",
                    code="export_file_changed",
                )
            done = write_watermarked_copy(
                source,
                directory / name,
                item=str(entry.get("item")),
                fmt=str(entry.get("format")),
                watermark=watermark,
            )
            made.append(
                ExportDownloadCopyRow(
                    request_id=row.id,
                    name=name,
                    item=str(entry.get("item")),
                    format=str(entry.get("format")),
                    rows=int(done["rows"]),
                    size=int(done["bytes"]),
                    sha256=str(done["sha256"]),
                    made_at=now,
                )
            )
    except BaseException:
        _remove_copies(directory, [cp.name for cp in made], rmdir=created)
        raise
    return made


# -- 3. download --------------------------------------------------------------------------------


def download_copy(c: Container, actor: Principal, request_id: str, name: str) -> Path:
    """The path of one watermarked copy, for its requester only, until its expiry. Each
    download is audited and logged per subject in the disclosure log."""
    _require(actor)
    user_id = _named(actor, "下载副本")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _request(s, request_id)
        if row.requested_by_user_id != user_id:
            uow.rollback()
            _denied(c, actor, "exports.download_copy", request_id, "not_requester")
            raise PermissionDenied(
                f"下载申请 {request_id} 的副本带有申请人 {row.requested_by} 的水印，仅供申请人本人"
                "下载；如需下载请自行提交申请",
                code="not_requester",
            )
        hours = c.settings.export_download_request_lapse_hours
        if _lapsed(row, now, hours):
            raise Conflict(
                f"下载申请 {request_id} 提出后 {hours} 小时内无人审批，已于 "
                f"{iso(_lapses_at(row, hours))} 失效。如仍需要，" + _how_to_ask(row.export_id),
                code="download_request_lapsed",
            )
        if row.status == PENDING:
            raise Conflict(
                f"下载申请 {request_id} 尚待另一名信用办管理员审批，批准后方可下载",
                code="download_request_pending",
            )
        if row.status == REFUSED:
            raise Conflict(
                f"下载申请 {request_id} 已被 {row.decided_by} 拒绝：{row.decision_note or ''}",
                code="download_request_refused",
            )
        if _expired(row, now):
            gone = "已删除" if row.deleted_at is not None else "将由定时任务删除"
            raise CopyExpired(
                f"下载申请 {request_id} 的副本已于 {iso(row.expires_at)} 过期（批准后 "
                f"{c.settings.export_download_expiry_hours} 小时），{gone}。如仍需要，"
                + _how_to_ask(row.export_id)
            )
        copy = s.scalar(
            select(ExportDownloadCopyRow).where(
                ExportDownloadCopyRow.request_id == request_id, ExportDownloadCopyRow.name == name
            )
        )
        if copy is None:
            raise NotFound(f"下载申请 {request_id} 中没有文件 {name}", code="export_copy_not_found")
        path = Path(str(row.directory)) / name
        if not path.is_file():
            raise NotFound(f"副本 {name} 已不在服务器上", code="export_copy_gone")
        subjects = _log_disclosures(c, s, actor, row, copy, now)
        add_event(
            s,
            at=now,
            action="exports.download_copy",
            result="success",
            actor=actor,
            object_id=row.id,
            detail={
                "export_id": row.export_id,
                "name": name,
                "sha256": copy.sha256,
                "subjects": subjects,
            },
        )
        uow.commit()
    return path


def _log_disclosures(
    c: Container,
    s: Session,
    actor: Principal,
    row: ExportDownloadRow,
    copy: ExportDownloadCopyRow,
    now: datetime,
) -> int:
    """查询登记: one entry per subject whose personal data the copy hands to the requester (a
    row with a non-public field, or about a natural person / individual business / farm
    household)."""
    subjects = s.scalars(
        select(RecordRow.subject_id)
        .join(ExportRecordRow, ExportRecordRow.record_id == RecordRow.id)
        .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
        .where(
            ExportRecordRow.export_id == row.export_id,
            ExportRecordRow.item_code == copy.item,
            ExportRecordRow.personal.is_(True)
            | SubjectRow.subject_type.in_(sorted(PERSON_SUBJECT_TYPES)),
        )
        .distinct()
    ).all()
    for subject_id in sorted(subjects):
        record_disclosure(
            s,
            actor=actor,
            subject_id=subject_id,
            items=[copy.item],
            purpose=row.purpose,
            channel="download",
            at=now,
            detail={"export_id": row.export_id, "request_id": row.id, "sha256": copy.sha256},
        )
    return len(subjects)


# -- reading ------------------------------------------------------------------------------------


def list_downloads(
    c: Container,
    actor: Principal,
    *,
    status: str | None = None,
    export_id: str | None = None,
    sha256: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Download requests, newest first; ``sha256`` finds the request a copy was made for (a
    leaked file: ``sha256sum`` it and look it up)."""
    _require(actor)
    if status is not None and status not in STATUSES:
        raise FieldError("status", status, "invalid_status", f"状态应为 {'、'.join(STATUSES)} 之一")
    digest = None
    if sha256 is not None:
        digest = sha256.strip().lower()
        if not _SHA256.fullmatch(digest):
            raise FieldError("sha256", sha256, "invalid_sha256", "sha256 应为 64 位十六进制校验值")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        q = select(ExportDownloadRow)
        if status is not None:
            q = q.where(ExportDownloadRow.status == status)
        if export_id is not None:
            q = q.where(ExportDownloadRow.export_id == export_id)
        if digest is not None:
            q = q.where(
                ExportDownloadRow.id.in_(
                    select(ExportDownloadCopyRow.request_id).where(
                        ExportDownloadCopyRow.sha256 == digest
                    )
                )
            )
        q = q.order_by(ExportDownloadRow.requested_at.desc(), ExportDownloadRow.id.desc())
        rows = list(s.scalars(q.limit(max(1, min(limit, 500)))))
        hours = c.settings.export_download_request_lapse_hours
        out = [_view(r, _copies(s, r.id), now, hours) for r in rows]
        uow.finish_read()
    return out


def get_download(c: Container, actor: Principal, request_id: str) -> dict[str, Any]:
    """One download request with its copies."""
    _require(actor)
    with c.uow() as uow:
        row = _request(uow.session, request_id)
        hours = c.settings.export_download_request_lapse_hours
        out = _view(row, _copies(uow.session, row.id), c.clock.now(), hours)
        uow.finish_read()
    return out


# -- 4. expiry ----------------------------------------------------------------------------------


def _remove_copies(directory: Path, names: list[str], *, rmdir: bool = True) -> dict[str, int]:
    """Delete exactly the named copies in ``directory`` (missing ones are counted), then the
    directory once empty. Raises OSError when a file cannot be deleted."""
    counts = {"files": 0, "bytes": 0, "missing": 0}
    for name in names:
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            continue
        path = directory / name
        try:
            st = path.lstat()
        except FileNotFoundError:
            counts["missing"] += 1
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        path.unlink(missing_ok=True)
        counts["files"] += 1
        counts["bytes"] += st.st_size
    if rmdir and directory.is_dir() and not directory.is_symlink() and not any(directory.iterdir()):
        directory.rmdir()
    return counts


def expire_downloads(c: Container, actor: Principal = SYSTEM) -> dict[str, Any]:
    """Delete the copies of approved requests past their expiry and mark them ``expired``;
    mark requests still pending ``export_download_request_lapse_hours`` after they were made
    ``lapsed``.

    Exactly the recorded copies are deleted from the request's own directory, which is then
    removed; the request and its copies' checksums stay (tracing). A request whose copies
    cannot be deleted is listed under ``failed`` and tried again next run. Each expired request
    is one audit event (``exports.download_expire``), each lapsed one too
    (``exports.download_lapse``; its ``decided_at`` is the lapse time, nobody decided)."""
    require(actor, Permission.run_jobs)
    now = c.clock.now()
    hours = c.settings.export_download_request_lapse_hours
    out: dict[str, Any] = {"requests": 0, "files": 0, "bytes": 0, "missing": 0, "ids": []}
    out["failed"] = []
    out["lapsed"] = 0
    out["lapsed_ids"] = []
    with c.uow() as uow:
        s = uow.session
        rows = s.scalars(
            select(ExportDownloadRow)
            .where(ExportDownloadRow.status == APPROVED, ExportDownloadRow.expires_at <= now)
            .order_by(ExportDownloadRow.expires_at, ExportDownloadRow.id)
            .with_for_update()
        ).all()
        for row in rows:
            names = [cp.name for cp in _copies(s, row.id)]
            try:
                counts = (
                    _remove_copies(Path(row.directory), names)
                    if row.directory
                    else {"files": 0, "bytes": 0, "missing": 0}
                )
            except OSError as exc:
                log.warning("could not delete the copies of download request %s: %s", row.id, exc)
                out["failed"].append({"id": row.id, "error": f"{type(exc).__name__}: {exc}"})
                add_event(
                    s,
                    at=now,
                    action="exports.download_expire",
                    result="failure",
                    actor=actor,
                    object_id=row.id,
                    detail={"error": f"{type(exc).__name__}: {exc}"},
                )
                continue
            row.status = EXPIRED
            row.deleted_at = now
            out["requests"] += 1
            out["ids"].append(row.id)
            for key, value in counts.items():
                out[key] += value
            add_event(
                s,
                at=now,
                action="exports.download_expire",
                result="success",
                actor=actor,
                object_id=row.id,
                detail={
                    "export_id": row.export_id,
                    "expires_at": iso(row.expires_at),
                    "requested_by_user_id": row.requested_by_user_id,
                    **counts,
                },
            )
        _lapse_pending(s, actor, now, hours, out)
        uow.commit()
    return out


def _lapse_pending(
    s: Session, actor: Principal, now: datetime, hours: int, out: dict[str, Any]
) -> None:
    """Mark the requests pending for ``hours`` as ``lapsed``, one audit event each."""
    rows = s.scalars(
        select(ExportDownloadRow)
        .where(
            ExportDownloadRow.status == PENDING,
            ExportDownloadRow.requested_at <= now - timedelta(hours=hours),
        )
        .order_by(ExportDownloadRow.requested_at, ExportDownloadRow.id)
        .with_for_update()
    ).all()
    for row in rows:
        lapses_at = _lapses_at(row, hours)
        row.status = LAPSED
        row.decided_at = lapses_at
        row.decision_note = f"提出后 {hours} 小时内无人审批，已失效"
        out["lapsed"] += 1
        out["lapsed_ids"].append(row.id)
        add_event(
            s,
            at=now,
            action="exports.download_lapse",
            result="success",
            actor=actor,
            object_id=row.id,
            detail={
                "export_id": row.export_id,
                "files": list(row.files or []),
                "requested_at": iso(row.requested_at),
                "requested_by_user_id": row.requested_by_user_id,
                "lapses_at": iso(lapses_at),
                "lapse_hours": hours,
            },
        )
