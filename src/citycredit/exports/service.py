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
    why = "导出只能包含已经发生的变更；要导出到此刻，请省略 --until（或写具体时间）"
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
