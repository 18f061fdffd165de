"""The file channel: pending entries of file subscriptions written to data_dir/feeds/<id>/.

Each run writes, per subscription, one data file with the entries after its file cursor
(``<id>-<first seq>-<last seq>.jsonl`` or ``.csv``) and a manifest beside it
(``….manifest.json``: subscription, department, seq range, count, sha256, format, written at).
Files are written to a temporary name and renamed, then the deliveries and the new cursor are
committed; if the commit fails the same range is written again under the same name next time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Permission, Principal, Role, require
from citycredit.bootstrap import Container
from citycredit.sharing.db import FeedEntryRow, SubscriptionRow
from citycredit.sharing.fanout import fan_out
from citycredit.sharing.model import Channel, FileFormat, Status
from citycredit.sharing.service import deliver

MAX_PER_FILE = 10_000
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
        name = f"{sub.id}-{rows[0].seq:09d}-{rows[-1].seq:09d}.{fmt.value}"
        actor = Principal(
            role=Role.department_staff,
            label=f"{dept.name}（文件交换）",
            department_id=dept.id,
            department_name=dept.name,
        )
        entries = deliver(c, actor, s, sub, rows, channel=Channel.file, cursor=name)
        data = _encode(entries, fmt)
        folder = feeds_dir(c, sub.id)
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
        }
        _write_atomic(folder / name, data)
        _write_atomic(
            folder / f"{name}.manifest.json",
            (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
        )
        sub.file_after = rows[-1].seq
        uow.commit()
        return manifest


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
        while (manifest := _write_one(c, sub_id)) is not None:
            written.append(manifest)
    return written
