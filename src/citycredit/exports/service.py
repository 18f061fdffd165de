"""双公示 outbound export to the provincial platform: run one, list them, read their files.

An export covers the period (since, until] of record-version changes of the licence and
penalty items (new records, corrections, withdrawals); how records and operations are chosen is
in exports/run.py, the layout in exports/model.py. Docs: docs/howto/dual-publicity-export.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.exports.db import ExportRecordRow, ExportRow
from citycredit.exports.model import FORMATS, KIND
from citycredit.exports.run import ExportRun, export_summary, iso, last_until
from citycredit.ingest.db import RecordRow
from citycredit.kernel.disclosure import record_disclosure
from citycredit.shared.calendar import SHANGHAI, day_start
from citycredit.shared.errors import FieldError, NotFound

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
    """--since/--until: YYYY-MM-DD (the day's start; for until, the day's end) or an ISO datetime
    (without an offset: Beijing time)."""
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


def export_dual_publicity(
    c: Container,
    actor: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    out_dir: Path | None = None,
    formats: Sequence[str] = FORMATS,
    trigger: str = "cli",
) -> dict[str, Any]:
    """Write the 双公示 changes of (since, until] for the provincial platform and record it.

    Without ``since`` the export continues from the last successful one (or, the first time,
    from the beginning: a full export); ``until`` defaults to now.
    """
    _require(actor)
    fmts = _formats(formats)
    now = c.clock.now()
    end = _aware(until) if until is not None else now
    if end > now:
        raise FieldError("until", iso(end), "future", f"导出截止时间不能晚于当前时间 {iso(now)}")
    with c.uow() as uow:
        previous = last_until(uow.session)
    if since is None:
        start, mode = previous, "incremental" if previous else "full"
    else:
        start, mode = _aware(since), "explicit"
    if start is not None and start >= end:
        raise FieldError(
            "since",
            iso(start),
            "empty_period",
            f"导出起始时间 {iso(start)} 应早于截止时间 {iso(end)}（上次导出已到此时间）",
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


def export_file(
    c: Container, actor: Principal, export_id: str, name: str, *, purpose: str | None = None
) -> Path:
    """The path of one file of a completed export; reading a data file is logged per subject."""
    _require(actor)
    with c.uow() as uow:
        s = uow.session
        row = _export(s, export_id)
        entry = next((f for f in row.files or [] if f.get("name") == name), None)
        if entry is None or row.status != "completed" or not row.directory:
            raise NotFound(f"导出批次 {export_id} 中没有文件 {name}", code="export_file_not_found")
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
