"""Sweeps of 共享调度: catch late commits in the fan-out, write the file channel's files."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job
from citycredit.sharing.fanout import fan_out, open_gaps
from citycredit.sharing.files import write_files


def sharing_fanout(c: Container) -> dict[str, Any]:
    """Run the fan-out even when no new event woke the `sharing` consumer (late commits)."""
    return {"events": fan_out(c), "open_gaps": len(open_gaps(c))}


def sharing_files(c: Container) -> dict[str, Any]:
    """Write the pending entries of every file subscription."""
    written = write_files(c, SYSTEM)
    return {"files": [m["file"] for m in written]}


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
]
