"""The daily 双公示 export: the changes since the last successful export, for the province."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.exports.service import export_dual_publicity
from citycredit.kernel.jobs import Job


def daily_dual_publicity_export(c: Container) -> dict[str, Any]:
    """导出双公示: one export per day, continuing from the previous one (files + manifest)."""
    done = export_dual_publicity(c, SYSTEM, trigger="job")
    return {
        "export_id": done["id"],
        "since": done["since"],
        "until": done["until"],
        "rows": done["counts"]["total"],
        "directory": done["directory"],
    }


JOBS = [
    Job(
        "dual_publicity_export",
        timedelta(days=1),
        daily_dual_publicity_export,
        "每日导出行政许可、行政处罚的新增、更正和撤销（双公示），供报送省级平台",
    ),
]
