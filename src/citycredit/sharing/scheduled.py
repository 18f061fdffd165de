"""Sweeps of 共享调度: catch late commits in the fan-out, write the file channel's files, delete
files past their retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job
from citycredit.sharing.fanout import fan_out, open_gaps
from citycredit.sharing.files import purge_feed_files, write_files


def sharing_fanout(c: Container) -> dict[str, Any]:
    """Run the fan-out even when no new event woke the `sharing` consumer (late commits)."""
    return {"events": fan_out(c), "open_gaps": len(open_gaps(c))}


def sharing_files(c: Container) -> dict[str, Any]:
    """Write the pending entries of every file subscription."""
    written = write_files(c, SYSTEM)
    return {"files": [m["file"] for m in written]}


def feed_files_purge(c: Container) -> dict[str, Any]:
    """Delete feed files past feed_file_retention_days (tombstones stay; audited). A file that
    could not be deleted makes the run fail (after the others are done); tried again next time."""
    done = purge_feed_files(c, SYSTEM)
    if done["failed"]:
        failed = "; ".join(f"{f['file']}: {f['error']}" for f in done["failed"])
        raise RuntimeError(f"{len(done['failed'])} 个共享文件未能删除：{failed}")
    return done


JOBS = [
    Job(
        "sharing_fanout",
        timedelta(seconds=30),
        sharing_fanout,
        "共享调度：把晚提交的记录变更补入各订阅的数据流",
    ),
    Job(
        "sharing_files",
        timedelta(minutes=10),
        sharing_files,
        "共享调度：为文件交换方式的订阅写出新的数据文件和清单",
    ),
    Job(
        "feed_files_purge",
        timedelta(days=1),
        feed_files_purge,
        "共享调度：每日删除超过保存期限的共享文件及其清单（首次写出后保留"
        " CITYCREDIT_FEED_FILE_RETENTION_DAYS 天，默认30天，0 为不删除），删除记入审计",
    ),
]
