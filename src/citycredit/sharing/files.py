"""The file channel: pending entries of file subscriptions written to data_dir/feeds/<id>/.

Each run writes, per subscription, one data file with the entries after its file cursor
(``<id>-<first seq>-<last seq>.jsonl`` or ``.csv``) and a manifest beside it
(``….manifest.json``: subscription, department, seq range, count, sha256, format, written at).
Files are written to a temporary name and renamed, then the deliveries and the new cursor are
committed; if the commit fails the same range is written again under the same name next time.

Files are readable by the platform's own account only (0600, folders 0700), never hold clear
personal values (a subscription with clear personal fields is pull-only), and the department
fetches them over the API (`list_files`, `read_file`: its own token; each download is in the
audit trail). When a record is withdrawn, repaired or leaves an access after a file was
written, the file is written again from the feed (its redacted entries without data), so the
exchange folder never keeps what the department was told to stop using. Files first written
more than ``feed_file_retention_days`` ago are deleted with their manifest (`purge_feed_files`,
the daily ``feed_files_purge`` job); a ``….purged.json`` tombstone (name, seq range, sha256,
when written and purged — no entry) stays, so a later download says the file was purged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from citycredit.accounts.audit import add_event
from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import SYSTEM, Permission, Principal, Role, require
from citycredit.bootstrap import Container
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.errors import FieldError, NotFound, PermissionDenied
from citycredit.sharing.db import FeedEntryRow, SubscriptionRow
from citycredit.sharing.fanout import fan_out
from citycredit.sharing.model import Channel, FileFormat, Status
from citycredit.sharing.service import deliver, render_entries, visible_subscription

log = logging.getLogger(__name__)

MAX_PER_FILE = 10_000
MANIFEST_SUFFIX = ".manifest.json"
PURGED_SUFFIX = ".purged.json"  # the tombstone of a file deleted after the retention
CSV_COLUMNS = (
    "seq",
    "kind",
    "record_id",
    "version",
    "item",
    "subject_id",
    "changed_at",
    "note",
    "redacted",
    "data",
)


def feeds_dir(c: Container, subscription_id: str) -> Path:
    return c.settings.data_dir / "feeds" / subscription_id


def _encode(entries: list[dict[str, Any]], fmt: FileFormat) -> bytes:
    if fmt is FileFormat.jsonl:
        return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode("utf-8")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for e in entries:
        w.writerow(
            [
                json.dumps(e[k], ensure_ascii=False)
                if k in ("data", "redacted") and e[k] is not None
                else ("" if e[k] is None else e[k])
                for k in CSV_COLUMNS
            ]
        )
    return buf.getvalue().encode("utf-8-sig")  # Excel opens UTF-8 CSV with a BOM correctly


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _file_actor(dept: DepartmentRow) -> Principal:
    return Principal(
        role=Role.department_staff,
        label=f"{dept.name}（文件交换）",
        department_id=dept.id,
        department_name=dept.name,
    )


def _store(
    c: Container,
    sub: SubscriptionRow,
    dept: DepartmentRow,
    name: str,
    fmt: FileFormat,
    rows: list[FeedEntryRow],
    entries: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """Write one data file and its manifest; returns the manifest."""
    data = _encode(entries, fmt)
    manifest = {
        "subscription": sub.id,
        "department": dept.name,
        "file": name,
        "format": fmt.value,
        "first_seq": rows[0].seq,
        "last_seq": rows[-1].seq,
        "count": len(rows),
        "sha256": hashlib.sha256(data).hexdigest(),
        "written_at": c.clock.now().isoformat(),
        # Entries without data when written; redaction only ever grows it, so a larger count
        # in the feed later means the file must be written again (_rewrite_redacted).
        "redacted": sum(1 for e in rows if e.redacted_at is not None),
        **extra,
    }
    folder = feeds_dir(c, sub.id)
    _write_atomic(folder / name, data)
    _write_atomic(
        folder / f"{name}.manifest.json",
        (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    return manifest


def _write_one(c: Container, sub_id: str) -> dict[str, Any] | None:
    with c.uow() as uow:
        s = uow.session
        sub = s.get(SubscriptionRow, sub_id, with_for_update=True, populate_existing=True)
        if sub is None or sub.status == Status.suspended.value or sub.file_after >= sub.last_seq:
            return None
        dept = s.get(DepartmentRow, sub.department_id)
        assert dept is not None
        rows = list(
            s.scalars(
                select(FeedEntryRow)
                .where(FeedEntryRow.subscription_id == sub.id, FeedEntryRow.seq > sub.file_after)
                .order_by(FeedEntryRow.seq)
                .limit(MAX_PER_FILE)
            )
        )
        if not rows:
            return None
        fmt = FileFormat(sub.file_format)
        name = _file_name(sub.id, rows[0].seq, rows[-1].seq, fmt)
        entries = deliver(c, _file_actor(dept), s, sub, rows, channel=Channel.file, cursor=name)
        manifest = _store(c, sub, dept, name, fmt, rows, entries)
        sub.file_after = rows[-1].seq
        uow.commit()
        return manifest


def _file_name(sub_id: str, first: int, last: int, fmt: FileFormat) -> str:
    return f"{sub_id}-{first:09d}-{last:09d}.{fmt.value}"


def _written_files(c: Container, sub_id: str) -> list[tuple[str, int, int, dict[str, Any]]]:
    """(file, first seq, last seq, manifest) of a subscription's written files, by seq."""
    folder = feeds_dir(c, sub_id)
    out = []
    for m in sorted(folder.glob("*.manifest.json")) if folder.is_dir() else []:
        manifest = json.loads(m.read_text(encoding="utf-8"))
        out.append((manifest["file"], manifest["first_seq"], manifest["last_seq"], manifest))
    return sorted(out, key=lambda x: x[1])


def _rewrite_redacted(c: Container, sub_id: str) -> list[dict[str, Any]]:
    """Write again the files holding entries redacted after the file was written."""
    rewritten: list[dict[str, Any]] = []
    with c.uow() as uow:  # one query: the (few) redacted entries of the whole feed
        redacted_seqs = sorted(
            uow.session.scalars(
                select(FeedEntryRow.seq).where(
                    FeedEntryRow.subscription_id == sub_id, FeedEntryRow.redacted_at.is_not(None)
                )
            )
        )
    if not redacted_seqs:
        return rewritten
    for name, first, last, manifest in _written_files(c, sub_id):
        redacted = bisect_right(redacted_seqs, last) - bisect_left(redacted_seqs, first)
        if not redacted or redacted <= manifest.get("redacted", 0):
            continue
        with c.uow() as uow:
            s = uow.session
            sub = s.get(SubscriptionRow, sub_id)
            assert sub is not None
            dept = s.get(DepartmentRow, sub.department_id)
            assert dept is not None
            rows = list(
                s.scalars(
                    select(FeedEntryRow)
                    .where(
                        FeedEntryRow.subscription_id == sub_id,
                        FeedEntryRow.seq.between(first, last),
                    )
                    .order_by(FeedEntryRow.seq)
                )
            )
            # The same entries, now without the redacted data: not a new delivery.
            entries = render_entries(c, _file_actor(dept), s, rows, fill_clear=False)
            rewritten.append(
                _store(
                    c,
                    sub,
                    dept,
                    name,
                    FileFormat(manifest["format"]),
                    rows,
                    entries,
                    first_written_at=manifest.get("first_written_at") or manifest["written_at"],
                    rewritten_at=c.clock.now().isoformat(),
                )
            )
    return rewritten


def list_files(c: Container, actor: Principal, subscription_id: str) -> list[dict[str, Any]]:
    """The manifests of a file subscription's files (its department, or the credit office)."""
    _readable(c, actor, subscription_id)
    return [m for _name, _first, _last, m in _written_files(c, subscription_id)]


def read_file(
    c: Container, actor: Principal, subscription_id: str, name: str
) -> tuple[Path, dict[str, Any]]:
    """The path of one of the subscription's files (data or manifest) and its manifest."""
    _readable(c, actor, subscription_id)
    for file, _first, _last, manifest in _written_files(c, subscription_id):
        if name in (file, f"{file}.manifest.json"):
            return feeds_dir(c, subscription_id) / name, manifest
    base = name.removesuffix(MANIFEST_SUFFIX)
    tomb = _purged_files(c, subscription_id).get(base)
    if tomb is not None:
        purged = _when(tomb.get("purged_at"))
        on = f"已于 {purged.astimezone(SHANGHAI).date().isoformat()} " if purged else "已"
        raise NotFound(
            f"订阅 {subscription_id} 没有文件 {name}：该文件{on}按个人信息保存期限删除"
            f"（写出后保留 {tomb.get('retention_days')} 天，请在此期限内下载文件）",
            code="feed_file_purged",
        )
    raise NotFound(f"订阅 {subscription_id} 没有文件 {name}", code="feed_file_not_found")


def _readable(c: Container, actor: Principal, subscription_id: str) -> None:
    with c.uow() as uow:
        sub = visible_subscription(uow.session, actor, subscription_id)
        if sub.channel != Channel.file.value:
            raise FieldError(
                "subscription",
                subscription_id,
                "not_file_channel",
                "该订阅通过拉取接口接收，没有文件",
            )
        if actor.department_id != sub.department_id and not actor.can(
            Permission.read_all_submissions
        ):
            raise PermissionDenied("只有订阅部门本身可以下载文件", code="not_subscriber")


def write_files(
    c: Container, actor: Principal, *, subscription_id: str | None = None
) -> list[dict[str, Any]]:
    """Fan out pending changes, then write every file subscription's new entries."""
    require(actor, Permission.run_jobs)
    fan_out(c)
    with c.uow() as uow:
        stmt = select(SubscriptionRow.id).where(SubscriptionRow.channel == Channel.file.value)
        if subscription_id:
            stmt = stmt.where(SubscriptionRow.id == subscription_id)
        ids = list(uow.session.scalars(stmt.order_by(SubscriptionRow.id)))
    written = []
    for sub_id in ids:
        written.extend(_rewrite_redacted(c, sub_id))
        while (manifest := _write_one(c, sub_id)) is not None:
            written.append(manifest)
    return written


# -- retention ------------------------------------------------------------------------------


def _when(text: Any) -> datetime | None:
    """A manifest's time (ISO 8601; without an offset: UTC), or None when unreadable."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _purged_files(c: Container, sub_id: str) -> dict[str, dict[str, Any]]:
    """The tombstones of a subscription's purged files, by data file name."""
    folder = feeds_dir(c, sub_id)
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob(f"*{PURGED_SUFFIX}")) if folder.is_dir() else []:
        try:
            tomb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(tomb, dict) and tomb.get("file"):
            out[str(tomb["file"])] = tomb
    return out


def _purge_one(folder: Path, manifest: dict[str, Any], retention: int, now: datetime) -> int:
    """Replace one file and its manifest by a tombstone; returns the bytes deleted. The
    tombstone is written first: a crash leaves the file listed, and the next run purges it."""
    name = str(manifest["file"])
    data = folder / name
    size = data.stat().st_size if data.is_file() else 0
    tomb = {
        "subscription": manifest.get("subscription"),
        "file": name,
        "format": manifest.get("format"),
        "first_seq": manifest.get("first_seq"),
        "last_seq": manifest.get("last_seq"),
        "count": manifest.get("count"),
        "sha256": manifest.get("sha256"),
        "written_at": manifest.get("first_written_at") or manifest.get("written_at"),
        "purged_at": now.isoformat(),
        "retention_days": retention,
    }
    _write_atomic(
        folder / f"{name}{PURGED_SUFFIX}",
        (json.dumps(tomb, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    data.unlink(missing_ok=True)
    (folder / f"{name}{MANIFEST_SUFFIX}").unlink(missing_ok=True)
    return size


def purge_feed_files(c: Container, actor: Principal = SYSTEM) -> dict[str, Any]:
    """Delete feed files first written more than ``feed_file_retention_days`` ago.

    Storage limitation: the department fetches its files within that time; afterwards the data
    file and its manifest are deleted in every subscription folder (cancelled subscriptions
    included) and a ``<file>.purged.json`` tombstone is left (name, seq range, count, sha256,
    written and purged at — no entry), so `list_files` no longer lists the file, `read_file`
    answers ``feed_file_purged`` and a later redaction does not write it again. A rewrite after
    a redaction does not restart the clock (``first_written_at``). 0 days: nothing is purged.
    A file that cannot be deleted is listed under ``failed``. One audit event records the run.
    """
    require(actor, Permission.run_jobs)
    days = c.settings.feed_file_retention_days
    now = c.clock.now()
    cutoff = now - timedelta(days=days) if days else None
    out: dict[str, Any] = {
        "retention_days": days,
        "cutoff": cutoff.isoformat() if cutoff else None,
        "subscriptions": 0,
        "files": 0,
        "bytes": 0,
        "by_subscription": {},
        "failed": [],
    }
    root = c.settings.data_dir / "feeds"
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        if cutoff is None:
            break
        purged = 0
        for path in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
                name = str(manifest["file"])
                written = _when(manifest.get("first_written_at") or manifest["written_at"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                where = f"{folder.name}/{path.name}"
                out["failed"].append({"file": where, "error": f"unreadable manifest: {exc}"})
                continue
            if path.name != f"{name}{MANIFEST_SUFFIX}" or written is None:
                where = f"{folder.name}/{path.name}"
                out["failed"].append({"file": where, "error": "manifest does not fit"})
                continue
            if written >= cutoff:
                continue
            try:
                out["bytes"] += _purge_one(folder, manifest, days, now)
            except OSError as exc:
                log.warning("could not purge feed file %s: %s", folder / name, exc)
                where = f"{folder.name}/{name}"
                out["failed"].append({"file": where, "error": f"{type(exc).__name__}: {exc}"})
                continue
            purged += 1
        if purged:
            out["subscriptions"] += 1
            out["files"] += purged
            out["by_subscription"][folder.name] = purged
    with c.uow() as uow:
        add_event(
            uow.session,
            at=now,
            action="sharing.files_purge",
            result="failure" if out["failed"] else "success",
            actor=actor,
            detail=out,
        )
        uow.commit()
    return out
