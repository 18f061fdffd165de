"""Retention of the clear files the platform writes (PIPL storage limitation).

双公示 export files (ID numbers in clear) and sharing feed files are deleted once their
retention has passed (`export_files_purge`, `feed_files_purge`); the export row and a feed
file's tombstone say so, and downloads answer `export_files_purged` / `feed_file_purged`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Principal
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.exports.db import ExportRow
from citycredit.exports.run import iso
from citycredit.exports.service import (
    export_dual_publicity,
    export_file,
    get_export,
    purge_export_files,
)
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.jobs import registered_jobs, run_due
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import NotFound
from citycredit.sharing import service as sharing
from citycredit.sharing.files import feeds_dir, list_files, purge_feed_files, read_file, write_files
from citycredit.sharing.service import NewSubscription
from support import PENALTY_COLUMNS_WITH_ID, department, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

TAX = "榆林市税务局"
PERSON = id_number("610802", "19800101")
CO1 = uscc("91", "610802", "MA6RET01")
CO2 = uscc("91", "610881", "MA6RET02")
CO3 = uscc("91", "610802", "MA6RET03")


def submit(c: Container, who: Principal, rows: list[list[Any]]) -> None:
    folder = c.settings.data_dir / "in"
    folder.mkdir(exist_ok=True)
    path = write_csv(folder / f"f{len(list(folder.iterdir()))}.csv", PENALTY_COLUMNS_WITH_ID, rows)
    receipt = ingest_submission(c, who, path=path, item_code="penalty")
    assert receipt.counts.rejected == 0, receipt.notes


def person_row(wsh: str) -> list[Any]:
    return penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="王某某",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=PERSON,
        CF_WSH=wsh,
    )


def company_row(code: str, wsh: str) -> list[Any]:
    return penalty_row(
        PENALTY_COLUMNS_WITH_ID, CF_XDR_MC="榆林某公司", CF_XDR_SHXYM=code, CF_WSH=wsh
    )


def retention(c: Container, **days: int) -> None:
    c.settings = c.settings.model_copy(
        update={f"{k}_file_retention_days": v for k, v in days.items()}
    )


def audit_events(c: Container, action: str) -> list[AuditEventRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.action == action)
                .order_by(AuditEventRow.id)
            )
        )


def record_id(c: Container, wsh: str) -> str:
    with c.uow() as uow:
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.key_text.contains(wsh)))
    assert rid is not None
    return rid


# -- 双公示 export files ------------------------------------------------------------------------


def test_export_files_older_than_the_retention_are_purged(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    submit(c, samr, [person_row("榆市监罚〔2026〕31号")])
    old = export_dual_publicity(c, SYSTEM)
    old_dir = Path(old["directory"])
    assert old_dir.name.endswith(f"_{old['id']}") and PERSON in "".join(
        p.read_text("utf-8-sig") for p in old_dir.glob("XZCF_*")
    )

    # A re-send into an operator's directory that holds other files too.
    out_dir = tmp_path / "upload"
    out_dir.mkdir()
    (out_dir / "upload.log").write_text("uploaded\n", encoding="utf-8")
    victim = tmp_path / "victim.txt"  # outside every export directory
    victim.write_text("keep\n", encoding="utf-8")
    clock.advance(hours=1)
    resent = export_dual_publicity(
        c, SYSTEM, since=clock.now() - timedelta(days=2), out_dir=out_dir, formats=["csv"]
    )
    assert resent["mode"] == "explicit" and Path(resent["directory"]) == out_dir
    with c.uow() as uow:  # a row naming a path outside its directory must not reach it
        row = uow.session.get(ExportRow, resent["id"])
        assert row is not None
        row.files = [*row.files, {"name": "../victim.txt", "format": "csv", "item": "penalty"}]
        uow.commit()

    clock.advance(days=20)
    submit(c, samr, [company_row(CO1, "榆市监罚〔2026〕32号")])
    clock.advance(minutes=5)
    young = export_dual_publicity(c, SYSTEM)
    assert young["counts"]["total"] == 1
    clock.advance(days=11)  # old and resent: 31 days; young: 11 days

    (old_dir / old["files"][0]["name"]).unlink()  # an operator already removed one file
    resent_names = [f["name"] for f in resent["files"]]
    on_disk = sum(p.stat().st_size for p in old_dir.iterdir()) + sum(
        (out_dir / n).stat().st_size for n in resent_names
    )

    done = purge_export_files(c)
    assert done["retention_days"] == 30
    assert done["exports"] == 2 and sorted(done["export_ids"]) == sorted([old["id"], resent["id"]])
    assert done["files"] == len(old["files"]) - 1 + len(resent_names)
    assert done["missing"] == 1 and done["skipped"] == 1 and done["failed"] == []
    assert done["bytes"] == on_disk

    assert not old_dir.exists()  # the export's own directory, empty: removed
    assert out_dir.is_dir() and sorted(p.name for p in out_dir.iterdir()) == ["upload.log"]
    assert victim.read_text(encoding="utf-8") == "keep\n"
    young_dir = Path(young["directory"])
    assert all((young_dir / f["name"]).is_file() for f in young["files"])

    purged_at = iso(clock.now())
    assert purged_at == "2026-12-26T11:05:00+08:00"
    assert get_export(c, SYSTEM, old["id"])["files_purged_at"] == purged_at
    assert get_export(c, SYSTEM, resent["id"])["files_purged_at"] == purged_at
    assert get_export(c, SYSTEM, young["id"])["files_purged_at"] is None
    with c.uow() as uow:
        row = uow.session.get(ExportRow, old["id"])
        assert row is not None and row.files == old["files"]  # counts and checksums stay

    name = next(f["name"] for f in old["files"] if f["format"] == "csv")
    with pytest.raises(NotFound) as gone:
        export_file(c, SYSTEM, old["id"], name)
    assert gone.value.code == "export_files_purged"
    message = gone.value.message
    assert "2026-12-26" in message and "30 天" in message and "重新导出" in message
    assert f"--until {old['until']}" in message
    with pytest.raises(NotFound) as gone:
        export_file(c, SYSTEM, old["id"], "manifest.json")
    assert gone.value.code == "export_files_purged"
    with pytest.raises(NotFound) as unknown:
        export_file(c, SYSTEM, old["id"], "nope.csv")
    assert unknown.value.code == "export_file_not_found"
    assert export_file(c, SYSTEM, young["id"], "manifest.json") == young_dir / "manifest.json"

    again = purge_export_files(c)  # nothing left to purge
    assert (again["exports"], again["files"], again["export_ids"]) == (0, 0, [])
    events = audit_events(c, "exports.files_purge")
    assert [(e.result, e.actor_label) for e in events] == [("success", "system")] * 2
    assert events[0].detail["export_ids"] == done["export_ids"]
    assert events[0].detail["files"] == done["files"]

    clock.advance(days=20)  # young is now 31 days old
    assert purge_export_files(c)["export_ids"] == [young["id"]]
    assert not young_dir.exists()


def test_export_retention_zero_keeps_the_files(container: Container, clock: FixedClock) -> None:
    c = container
    submit(c, department(c), [person_row("榆市监罚〔2026〕33号")])
    done = export_dual_publicity(c, SYSTEM)
    clock.advance(days=400)
    retention(c, export=0)
    result = purge_export_files(c)
    assert (result["exports"], result["files"], result["cutoff"]) == (0, 0, None)
    directory = Path(done["directory"])
    assert all((directory / f["name"]).is_file() for f in done["files"])
    assert get_export(c, SYSTEM, done["id"])["files_purged_at"] is None
    assert len(audit_events(c, "exports.files_purge")) == 1  # the run itself is recorded
    retention(c, export=365)
    assert purge_export_files(c)["export_ids"] == [done["id"]]


# -- sharing feed files ------------------------------------------------------------------------


def file_subscription(c: Container, actor: Principal) -> str:
    new = NewSubscription(name="处罚信息", items=["penalty"], channel="file")
    return str(sharing.subscribe(c, actor, new)["id"])


def test_feed_files_older_than_the_retention_are_purged(
    container: Container, clock: FixedClock
) -> None:
    c = container
    samr = department(c)
    submit(c, samr, [company_row(CO1, "罚〔2026〕41号"), company_row(CO2, "罚〔2026〕42号")])
    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01"))
    tax = department_principal(c, TAX)
    sub = file_subscription(c, tax)
    (first,) = write_files(c, SYSTEM)
    clock.advance(days=20)
    submit(c, samr, [company_row(CO3, "罚〔2026〕43号")])
    (second,) = write_files(c, SYSTEM)
    assert (first["first_seq"], first["last_seq"], second["first_seq"]) == (1, 2, 3)
    folder = feeds_dir(c, sub)
    size = (folder / first["file"]).stat().st_size

    clock.advance(days=11)  # first: 31 days old; second: 11
    done = purge_feed_files(c)
    assert (done["files"], done["subscriptions"], done["bytes"]) == (1, 1, size)
    assert done["by_subscription"] == {sub: 1} and done["failed"] == []
    assert not (folder / first["file"]).exists()
    assert not (folder / f"{first['file']}.manifest.json").exists()
    tomb_path = folder / f"{first['file']}.purged.json"
    tomb = json.loads(tomb_path.read_text(encoding="utf-8"))
    assert tomb["file"] == first["file"] and tomb["sha256"] == first["sha256"]
    assert (tomb["first_seq"], tomb["last_seq"]) == (1, 2)
    assert tomb["written_at"] == first["written_at"]
    assert tomb["purged_at"] == clock.now().isoformat()
    assert "data" not in tomb and "罚〔2026〕41号" not in tomb_path.read_text(encoding="utf-8")
    assert tomb_path.stat().st_mode & 0o777 == 0o600
    assert (folder / second["file"]).is_file()

    assert [m["file"] for m in list_files(c, tax, sub)] == [second["file"]]
    for name in (first["file"], f"{first['file']}.manifest.json"):
        with pytest.raises(NotFound) as gone:
            read_file(c, tax, sub, name)
        assert gone.value.code == "feed_file_purged" and "30 天" in gone.value.message
    with pytest.raises(NotFound) as missing:
        read_file(c, tax, sub, f"{first['file']}.purged.json")
    assert missing.value.code == "feed_file_not_found"
    assert read_file(c, tax, sub, second["file"])[0] == folder / second["file"]

    # A redaction of an entry of the purged file does not write that file again; the clock of
    # a rewritten file is its first writing, not the rewrite.
    withdraw_record(c, samr, record_id(c, "罚〔2026〕41号"), "决定已撤销")
    withdraw_record(c, samr, record_id(c, "罚〔2026〕43号"), "决定已撤销")
    written = write_files(c, SYSTEM)
    assert [(m["file"], "rewritten_at" in m) for m in written] == [
        (second["file"], True),
        (f"{sub}-000000004-000000005.jsonl", False),
    ]
    assert not (folder / first["file"]).exists()
    assert not (folder / f"{first['file']}.manifest.json").exists()
    clock.advance(days=20)  # second: first written 31 days ago, rewritten 20 days ago
    later = purge_feed_files(c)
    assert later["files"] == 1 and not (folder / second["file"]).exists()
    assert (
        json.loads((folder / f"{second['file']}.purged.json").read_text("utf-8"))["written_at"]
        == second["written_at"]
    )
    assert [m["file"] for m in list_files(c, tax, sub)] == [f"{sub}-000000004-000000005.jsonl"]

    events = audit_events(c, "sharing.files_purge")
    assert [(e.result, e.detail["files"]) for e in events] == [("success", 1), ("success", 1)]


def test_feed_retention_zero_keeps_the_files(container: Container, clock: FixedClock) -> None:
    c = container
    samr = department(c)
    submit(c, samr, [company_row(CO1, "罚〔2026〕44号")])
    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01"))
    tax = department_principal(c, TAX)
    sub = file_subscription(c, tax)
    (m,) = write_files(c, SYSTEM)
    clock.advance(days=400)
    retention(c, feed=0)
    assert purge_feed_files(c)["files"] == 0
    assert [x["file"] for x in list_files(c, tax, sub)] == [m["file"]]
    assert (feeds_dir(c, sub) / m["file"]).is_file()


# -- the jobs ------------------------------------------------------------------------------------


def test_purge_jobs_are_registered_and_run(container: Container, clock: FixedClock) -> None:
    c = container
    jobs = {j.name: j for j in registered_jobs()}
    for name in ("export_files_purge", "feed_files_purge"):
        assert jobs[name].interval == timedelta(days=1) and jobs[name].description
    samr = department(c)
    submit(c, samr, [person_row("榆市监罚〔2026〕51号")])
    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01"))
    sub = file_subscription(c, department_principal(c, TAX))
    export = export_dual_publicity(c, SYSTEM)
    (feed_file,) = write_files(c, SYSTEM)
    clock.advance(days=31)

    (job,) = run_due(c, only="export_files_purge")  # never run: due
    assert job.status == "ok" and job.detail["export_ids"] == [export["id"]]
    assert not Path(export["directory"]).exists()
    (job,) = run_due(c, only="feed_files_purge")
    assert job.status == "ok" and job.detail["by_subscription"] == {sub: 1}
    assert not (feeds_dir(c, sub) / feed_file["file"]).exists()
    assert run_due(c, only="export_files_purge") == []  # ran today: not due again
    assert run_due(c, only="feed_files_purge") == []


def test_only_the_recorded_files_are_deleted_and_failures_fail_the_job(
    container: Container, clock: FixedClock
) -> None:
    c = container
    samr = department(c)
    submit(c, samr, [person_row("榆市监罚〔2026〕52号")])
    done = export_dual_publicity(c, SYSTEM)
    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01"))
    sub = file_subscription(c, department_principal(c, TAX))
    (feed_file,) = write_files(c, SYSTEM)
    clock.advance(days=31)
    # The row now names a directory that is not its own, holding a directory of the name of
    # one of its files: neither is removed.
    elsewhere = c.settings.data_dir / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / done["files"][0]["name"]).mkdir()
    (elsewhere / done["files"][1]["name"]).write_text("x", encoding="utf-8")
    with c.uow() as uow:
        uow.session.execute(
            update(ExportRow).where(ExportRow.id == done["id"]).values(directory=str(elsewhere))
        )
        uow.commit()
    result = purge_export_files(c)
    assert (result["files"], result["skipped"]) == (1, 1)
    assert result["missing"] == len(done["files"]) - 2
    assert [p.name for p in elsewhere.iterdir()] == [done["files"][0]["name"]]

    # A feed folder with a manifest that cannot be read: the other files are purged, the run
    # is recorded as a failure and the job fails (so the job log shows it).
    folder = feeds_dir(c, sub)
    (folder / "broken.manifest.json").write_text("{", encoding="utf-8")
    (job,) = run_due(c, only="feed_files_purge")
    assert job.status == "failed" and "broken.manifest.json" in job.detail["error"]
    assert not (folder / feed_file["file"]).exists()
    assert (folder / "broken.manifest.json").exists()
    (event,) = audit_events(c, "sharing.files_purge")
    assert event.result == "failure" and event.detail["files"] == 1
