"""双公示 outbound export to the provincial platform: run one, list them, read their files.

An export covers the period (since, until] of record-version changes of the licence and
penalty items (new records, corrections, withdrawals); how records and operations are chosen is
in exports/run.py, the layout in exports/model.py. Docs: docs/howto/dual-publicity-export.md.
The files carry ID numbers in clear: `purge_export_files` deletes them once
`export_file_retention_days` have passed (the daily `export_files_purge` job).
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import add_event
from citycredit.accounts.model import SYSTEM, Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.exports.db import ExportRecordRow, ExportRow
from citycredit.exports.downloads import approval_required
from citycredit.exports.model import FORMATS, KIND, carries_personal_data
from citycredit.exports.run import ExportRun, export_summary, iso, last_until
from citycredit.exports.verify import PROOF_FILE
from citycredit.ingest.db import RecordRow
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.ledger.bundle import EXPORT_ENTRY, export_ref, manifest_digest, manifest_facts
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.service import log_row, proof_bundle
from citycredit.ledger.store import latest_checkpoint
from citycredit.shared.calendar import SHANGHAI, day_start, local_date
from citycredit.shared.errors import Conflict, FieldError, NotFound

log = logging.getLogger(__name__)

DOWNLOAD_PURPOSE = "下载双公示报送文件"


def _require(actor: Principal) -> None:
    # The files carry ID numbers: the credit office (all submissions, authorised reads) only.
    require(actor, Permission.read_all_submissions)
    require(actor, Permission.read_authorised)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=SHANGHAI).astimezone(UTC)
    return value.astimezone(UTC)


def parse_instant(name: str, text: str, *, end_of_day: bool = False) -> datetime:
    """--since/--until: YYYY-MM-DD (the day's start; for until, the day's end, i.e. the next
    day's 00:00) or an ISO datetime (without an offset: Beijing time)."""
    raw = (text or "").strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return day_start(day + timedelta(days=1) if end_of_day else day).astimezone(UTC)
        return _aware(datetime.fromisoformat(raw))
    except ValueError:
        raise FieldError(
            name,
            text,
            "invalid_datetime",
            f"{name} 应为日期 YYYY-MM-DD 或时间 YYYY-MM-DDTHH:MM[:SS][+08:00]（北京时间）",
        ) from None


def _formats(formats: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise FieldError(
            "format",
            ",".join(bad or wanted),
            "invalid_format",
            "导出格式应为 csv、json 或 csv,json",
        )
    return wanted


def _instant(name: str, value: datetime | str, *, end_of_day: bool = False) -> datetime:
    if isinstance(value, str):
        return parse_instant(name, value, end_of_day=end_of_day)
    return _aware(value)


def _shown(value: datetime | str, parsed: datetime) -> str:
    """A time as the caller gave it (the typed text), else as stored."""
    return value.strip() if isinstance(value, str) else iso(parsed) or ""


def _check_out(out_dir: Path | None) -> None:
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise FieldError(
            "out",
            str(out_dir),
            "not_a_directory",
            f"输出目录 {out_dir} 已存在且不是目录：--out 应为一个目录（不存在时自动创建）",
        )


def export_dual_publicity(
    c: Container,
    actor: Principal,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    out_dir: Path | None = None,
    formats: Sequence[str] = FORMATS,
    trigger: str = "cli",
) -> dict[str, Any]:
    """Write the 双公示 changes of (since, until] for the provincial platform and record it.

    Without ``since`` the export continues from the last successful full or incremental one
    (or, the first time, from the beginning: a full export); ``until`` defaults to now.
    ``since``/``until`` may be given as typed (``parse_instant``; errors then quote the text).
    ``until`` is stored in whole seconds (a given one rounded down, the default "now" up), so
    the value printed in the manifest and by ``export list`` is exactly the stored one (and can
    be pasted as the next ``--since``).
    """
    _require(actor)
    fmts = _formats(formats)
    _check_out(out_dir)
    now = c.clock.now()
    if until is None:
        # Now, to the next whole second: what this run sees is all in the period (a later
        # version stamped in that second is re-read by the next export's late window).
        end = now.replace(microsecond=0)
        end += timedelta(seconds=1) if end < now else timedelta(0)
    else:
        end = _instant("until", until, end_of_day=True).replace(microsecond=0)
        if end > now:
            raise _future_until(until, end, now)
    with c.uow() as uow:
        previous = last_until(uow.session)
    if since is None:
        start, mode = previous, "incremental" if previous else "full"
    else:
        start, mode = _instant("since", since), "explicit"
    if start is not None and start >= end:
        if since is None:
            raise FieldError(
                "since",
                iso(start),
                "empty_period",
                f"上次导出已到 {iso(start)}，不早于截止时间 {iso(end)}：没有新的时段可导出",
            )
        shown_until = _shown(until, end) if until is not None else f"当前时间 {iso(end)}"
        raise FieldError(
            "since",
            _shown(since, start),
            "empty_period",
            f"导出起始时间 {_shown(since, start)} 应早于截止时间 {shown_until}",
        )
    run = ExportRun(c, actor, mode=mode, since=start, until=end, formats=fmts, out_dir=out_dir)
    try:
        return run.execute(trigger)
    except Exception as exc:
        run.discard()
        if run.started:
            try:
                _record_failure(c, actor, run, trigger, exc)
            except Exception:  # the database itself may be what failed: keep the first error
                log.exception("could not record the failed export %s", run.export_id)
        raise


def _future_until(until: datetime | str, end: datetime, now: datetime) -> FieldError:
    """An --until after now is refused: an export may only cover changes that have happened
    (the daily job would otherwise start its next export after changes not yet made, and a
    re-send would claim a period it did not see). A date means that day's end, so today's
    date is refused until the day is over."""
    why = "导出只能包含已经发生的变更；要导出到此刻，请不填截止时间（until），或写一个已过去的时间"
    if isinstance(until, str) and len(until.strip()) == 10:
        message = (
            f"截止日期 {until.strip()} 表示该日结束（至 {iso(end)}），晚于当前时间 {iso(now)}"
            f"（当日尚未结束）：{why}"
        )
    elif isinstance(until, str):
        message = f"截止时间 {until.strip()}（{iso(end)}）晚于当前时间 {iso(now)}：{why}"
    else:
        day_end = "（日期作为截止时间表示该日结束，即次日 00:00）" if _midnight(end) else ""
        message = f"截止时间 {iso(end)}{day_end}晚于当前时间 {iso(now)}：{why}"
    return FieldError("until", _shown(until, end), "future", message)


def _midnight(value: datetime) -> bool:
    local = value.astimezone(SHANGHAI)
    return (local.hour, local.minute, local.second) == (0, 0, 0)


def _record_failure(
    c: Container, actor: Principal, run: ExportRun, trigger: str, exc: Exception
) -> None:
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    with c.uow() as uow:
        uow.session.add(
            ExportRow(
                id=run.export_id,
                kind=KIND,
                mode=run.mode,
                period_since=run.since,
                period_until=run.until,
                status="failed",
                trigger=trigger,
                counts={},
                files=[],
                directory=str(run.directory),
                catalog_version=c.catalog.version,
                error=message[:2000],
                created_by=actor.label,
                user_id=actor.user_id,
                started_at=run.started_at,
                completed_at=c.clock.now(),
            )
        )
        uow.commit()


# -- reading exports --------------------------------------------------------------------------


def list_exports(c: Container, actor: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
    """Recent exports, newest first (the credit office)."""
    _require(actor)
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(ExportRow)
            .where(ExportRow.kind == KIND)
            .order_by(ExportRow.started_at.desc(), ExportRow.period_until.desc())
            .limit(max(1, min(limit, 500)))
        )
        return [export_summary(r) for r in rows]


def get_export(c: Container, actor: Principal, export_id: str) -> dict[str, Any]:
    """One export."""
    _require(actor)
    with c.uow() as uow:
        return export_summary(_export(uow.session, export_id))


def _export(s: Session, export_id: str) -> ExportRow:
    row = s.get(ExportRow, export_id)
    if row is None or row.kind != KIND:
        raise NotFound(f"导出批次 {export_id} 不存在", code="export_not_found")
    return row


def export_proof(c: Container, actor: Principal, export_id: str) -> dict[str, Any]:
    """The export's ledger proof for the province: the ``export.completed`` leaf, its inclusion
    proof to the latest signed checkpoint, the manifest as committed (``"manifest"``) and the
    leaf's fields disclosed (export id, kind, period, counts, manifest digest) — the bundle
    format of ``ledger.bundle.verify_bundle``, which checks it offline
    (``citycredit export verify DIRECTORY --bundle …``, ``citycredit ledger verify-bundle``).

    Before the sequencer has taken the leaf in: 409 ``ledger_pending``. An export with no
    leaf at all (failed, or completed before exports were committed to the ledger): 404
    ``export_not_in_ledger``. The manifest comes from the export's outbox event (no personal
    data), so the proof outlives the files' retention.
    """
    _require(actor)
    with c.uow() as uow:
        s = uow.session
        row = _export(s, export_id)
        event = s.scalar(
            select(OutboxEventRow).where(
                OutboxEventRow.aggregate_type == "export",
                OutboxEventRow.aggregate_id == row.id,
                OutboxEventRow.event_type == EXPORT_ENTRY,
            )
        )
        manifest = (event.payload or {}).get("manifest") if event is not None else None
        if row.status != "completed" or not isinstance(manifest, dict):
            why = (
                f"未成功完成（状态 {row.status}）"
                if row.status != "completed"
                else "完成于导出登记入数据链之前"
            )
            raise NotFound(
                f"导出批次 {row.id} {why}，数据链中没有它的登记，无法出具凭证",
                code="export_not_in_ledger",
            )
        leaf = s.scalar(select(LedgerLeafRow).where(LedgerLeafRow.ref == export_ref(row.id)))
        cp = latest_checkpoint(s)
        if leaf is None or cp is None or leaf.idx >= cp.size:
            raise Conflict("该导出批次尚未收录到数据链，请稍后再试", code="ledger_pending")
        log = log_row(s)
        fields = {**manifest_facts(manifest), "manifest_hash": manifest_digest(log.suite, manifest)}
        out = proof_bundle(s, log, leaf, cp, fields, manifest=manifest)
        uow.finish_read()
        return out


def export_file(
    c: Container, actor: Principal, export_id: str, name: str, *, purpose: str | None = None
) -> Path:
    """The path of one file of a completed export; reading a data file is logged per subject.

    A file that carries natural persons' data (``model.carries_personal_data``) is refused
    (``export_approval_required``): it is downloaded as a watermarked copy after a second
    person's approval (exports/downloads.py, security.md G35)."""
    _require(actor)
    with c.uow() as uow:
        s = uow.session
        row = _export(s, export_id)
        entry = next((f for f in row.files or [] if f.get("name") == name), None)
        if entry is None or row.status != "completed" or not row.directory:
            raise NotFound(f"导出批次 {export_id} 中没有文件 {name}", code="export_file_not_found")
        if row.files_purged_at is not None:
            raise _purged(c, row, name)
        if carries_personal_data(entry):
            # G35: natural persons' data in bulk only through an approved, watermarked copy
            # (exports/downloads.py); the manifest and files without such rows stay open.
            raise approval_required(row, name)
        path = Path(row.directory) / name
        if not path.is_file():
            raise NotFound(
                f"文件 {name} 已不在服务器上（{row.directory}）", code="export_file_gone"
            )
        if entry.get("format") != "manifest":
            _log_download(c, s, actor, row, entry["item"], purpose)
        uow.commit()
        return path


def _log_download(
    c: Container, s: Session, actor: Principal, row: ExportRow, item: str, purpose: str | None
) -> None:
    pairs = s.execute(
        select(RecordRow.subject_id)
        .join(ExportRecordRow, ExportRecordRow.record_id == RecordRow.id)
        .where(
            ExportRecordRow.export_id == row.id,
            ExportRecordRow.item_code == item,
            ExportRecordRow.personal.is_(True),
        )
        .distinct()
    )
    now = c.clock.now()
    for (subject_id,) in pairs:
        record_disclosure(
            s,
            actor=actor,
            subject_id=subject_id,
            items=[item],
            purpose=purpose or DOWNLOAD_PURPOSE,
            channel="download",
            at=now,
            detail={"export_id": row.id},
        )


# -- retention ------------------------------------------------------------------------------


def _purged(c: Container, row: ExportRow, name: str) -> NotFound:
    """A file of an export whose files were deleted after the retention: say when, and how to
    send the period again (a re-send writes the records in their current state)."""
    assert row.files_purged_at is not None
    days = c.settings.export_file_retention_days
    kept = f"（保留期：导出完成后 {days} 天）" if days else ""
    since = iso(row.period_since) or "<最早日期>"
    return NotFound(
        f"导出批次 {row.id} 的文件 {name} 已于 {local_date(row.files_purged_at).isoformat()} "
        f"按个人信息保存期限删除{kept}。如需再次报送该时段，请重新导出："
        f"citycredit export dual-publicity --since {since} --until {iso(row.period_until)}"
        "（或 POST /api/v1/exports/dual-publicity），新文件按记录的当前状态写出",
        code="export_files_purged",
    )


def _plain_name(name: str) -> bool:
    """A bare file name as the export wrote it: never a path out of the export's directory."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def _own_directory(row: ExportRow, directory: Path) -> bool:
    """The export's default directory (``<stamp>_<export id>``), not an operator's ``--out``."""
    return directory.name.endswith(f"_{row.id}")


def _delete_files(row: ExportRow) -> dict[str, int]:
    """Delete exactly the files the export recorded in its directory (already missing ones
    are counted, not an error); remove the export's own directory once empty. Raises OSError
    when a file cannot be deleted."""
    counts = {"files": 0, "bytes": 0, "missing": 0, "skipped": 0}
    if not row.directory:
        return counts
    directory = Path(row.directory)
    for entry in row.files or []:
        name = str(entry.get("name") or "")
        if not _plain_name(name):
            counts["skipped"] += 1
            continue
        path = directory / name
        try:
            st = path.lstat()
        except FileNotFoundError:
            counts["missing"] += 1
            continue
        if stat.S_ISDIR(st.st_mode):  # not what the export wrote: left alone
            counts["skipped"] += 1
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            counts["missing"] += 1
            continue
        counts["files"] += 1
        counts["bytes"] += st.st_size if stat.S_ISREG(st.st_mode) else 0
    if _own_directory(row, directory):
        # the proof `citycredit export proof` wrote beside the files (no personal data; the
        # platform can write it again from the ledger) goes with them
        (directory / PROOF_FILE).unlink(missing_ok=True)
    if (
        _own_directory(row, directory)
        and directory.is_dir()
        and not directory.is_symlink()
        and not any(directory.iterdir())
    ):
        directory.rmdir()
    return counts


def purge_export_files(c: Container, actor: Principal = SYSTEM) -> dict[str, Any]:
    """Delete the files of completed exports older than ``export_file_retention_days``.

    Storage limitation (PIPL art. 19): the files hold natural persons' ID numbers in clear and
    are needed only until the province has them. For each completed export that completed
    before the cut-off and whose files were not yet purged, exactly the files named in
    ``files`` are deleted from ``directory`` (nothing else: an operator's ``--out`` directory
    keeps its other files, and stays), the export's own directory is removed when empty, and
    ``files_purged_at`` is set; the row keeps counts and checksums. An export whose files cannot
    be deleted is listed under ``failed`` and tried again next time. 0 days: nothing is purged.
    One audit event records the run.
    """
    require(actor, Permission.run_jobs)
    days = c.settings.export_file_retention_days
    now = c.clock.now()
    cutoff = now - timedelta(days=days) if days else None
    out: dict[str, Any] = {
        "retention_days": days,
        "cutoff": iso(cutoff),
        "exports": 0,
        "files": 0,
        "bytes": 0,
        "missing": 0,
        "skipped": 0,
        "export_ids": [],
        "failed": [],
    }
    with c.uow() as uow:
        s = uow.session
        if cutoff is not None:
            rows = s.scalars(
                select(ExportRow)
                .where(
                    ExportRow.status == "completed",
                    ExportRow.files_purged_at.is_(None),
                    ExportRow.completed_at < cutoff,
                )
                .order_by(ExportRow.completed_at, ExportRow.id)
                .with_for_update()
            ).all()
            for row in rows:
                try:
                    counts = _delete_files(row)
                except OSError as exc:
                    log.warning("could not delete the files of export %s: %s", row.id, exc)
                    out["failed"].append({"id": row.id, "error": f"{type(exc).__name__}: {exc}"})
                    continue
                row.files_purged_at = now
                out["exports"] += 1
                out["export_ids"].append(row.id)
                for key, value in counts.items():
                    out[key] += value
        add_event(
            s,
            at=now,
            action="exports.files_purge",
            result="failure" if out["failed"] else "success",
            actor=actor,
            detail=out,
        )
        uow.commit()
    return out
