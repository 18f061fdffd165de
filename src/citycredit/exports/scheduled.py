"""The daily 双公示 export (the changes since the last successful export, for the province), the
daily deletion of export files past their retention, and the deletion of approved download
copies past their expiry with the lapse of download requests nobody decided (G35, every 10
minutes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.exports.downloads import expire_downloads
from citycredit.exports.service import export_dual_publicity, purge_export_files
from citycredit.kernel.jobs import BATCH, Job


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


def export_files_purge(c: Container) -> dict[str, Any]:
    """删除保存期满的导出文件: files of exports older than export_file_retention_days (audited).
    An export whose files could not be deleted makes the run fail (after the others are done),
    so the job log shows it; it is tried again next time."""
    done = purge_export_files(c, SYSTEM)
    if done["failed"]:
        failed = "; ".join(f"{f['id']}: {f['error']}" for f in done["failed"])
        raise RuntimeError(f"{len(done['failed'])} 个导出批次的文件未能删除：{failed}")
    return done


def export_downloads_expire(c: Container) -> dict[str, Any]:
    """删除过期的下载副本: watermarked copies of approved download requests past their expiry
    (export_download_expiry_hours after the approval; audited per request); requests pending
    export_download_request_lapse_hours after they were made lapse (status lapsed, audited per
    request). A request whose copies could not be deleted makes the run fail (after the
    others); tried again next time."""
    done = expire_downloads(c, SYSTEM)
    if done["failed"]:
        failed = "; ".join(f"{f['id']}: {f['error']}" for f in done["failed"])
        raise RuntimeError(f"{len(done['failed'])} 个下载申请的副本未能删除：{failed}")
    return done


JOBS = [
    Job(
        "dual_publicity_export",
        timedelta(days=1),
        daily_dual_publicity_export,
        "每日导出行政许可、行政处罚的新增、更正和撤销（双公示），供报送省级平台",
        lane=BATCH,
    ),
    Job(
        "export_files_purge",
        timedelta(days=1),
        export_files_purge,
        "每日删除超过保存期限的双公示导出文件（含明文身份证号；导出完成后保留"
        " CITYCREDIT_EXPORT_FILE_RETENTION_DAYS 天，默认30天，0 为不删除），删除记入审计",
    ),
    Job(
        "export_downloads_expire",
        timedelta(minutes=10),
        export_downloads_expire,
        "每10分钟删除过期的双公示下载副本（带水印，含个人信息；批准后"
        " CITYCREDIT_EXPORT_DOWNLOAD_EXPIRY_HOURS 小时，默认24小时），并使提出后"
        " CITYCREDIT_EXPORT_DOWNLOAD_REQUEST_LAPSE_HOURS 小时（默认72小时）无人审批的下载申请失效，"
        "均记入审计",
    ),
]
