"""G35: a bulk download of natural persons' data needs a second person's approval, is a
watermarked copy, expires 24 h after the approval and is then deleted (exports/downloads.py).

Time is the injected FixedClock: the copy is there a minute before its expiry, refused
(CopyExpired → HTTP 410) from the expiry on, and gone from the disk after the
``export_downloads_expire`` job. The round trip replays the watermarked copies of two exports
of the synthetic city into an empty platform through our own intake: no rejects, the same
records as the originals give.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_dual_publicity_export import (
    CREDIT_OFFICE,
    ITEMS,
    at,
    expected_values,
    load_initial_city,
    province_container,
    snapshot,
)

from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import (
    add_department,
    add_user,
    authenticate,
    department_principal,
)
from citycredit.bootstrap import Container
from citycredit.db.migrate import drift
from citycredit.exports.db import ExportDownloadRow
from citycredit.exports.downloads import (
    CopyExpired,
    decide_download,
    download_copy,
    expire_downloads,
    get_download,
    list_downloads,
    request_download,
)
from citycredit.exports.files import WATERMARK_COLUMN
from citycredit.exports.model import carries_personal_data
from citycredit.exports.service import export_dual_publicity, export_file
from citycredit.ingest.service import (
    ingest_submission,
    locate_record,
    withdraw_record,
)
from citycredit.kernel.db import DisclosureRow
from citycredit.kernel.jobs import run_due
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.synth.city import DEFAULT_AS_OF
from support import (
    PENALTY_COLUMNS_WITH_ID,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

PERSON = id_number("610802", "19880808")
CO = uscc("91", "610802", "MA6APR01")
PURPOSE = "上传省级平台前人工核对"


def office(c: Container, username: str, name: str) -> Principal:
    """A credit-office account, as its personal token authenticates it."""
    issued = add_user(
        c, SYSTEM, username=username, display_name=name, role=Role.credit_office_admin
    )
    return authenticate(c, issued.token)


def events(c: Container, prefix: str = "exports.download") -> list[AuditEventRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.action.startswith(prefix))
                .order_by(AuditEventRow.id)
            )
        )


def disclosures(c: Container, channel: str) -> list[DisclosureRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(DisclosureRow)
                .where(DisclosureRow.channel == channel)
                .order_by(DisclosureRow.id)
            )
        )


def small_export(c: Container, tmp_path: Path) -> dict[str, Any]:
    """A natural person's penalty and a company's; no licences (an empty licence file)."""
    samr = department(c)
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="孙某某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON,
            CF_WSH="榆市监罚〔2026〕81号",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="榆林审批测试有限公司",
            CF_XDR_SHXYM=CO,
            CF_WSH="榆市监罚〔2026〕82号",
        ),
    ]
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows)
    ingest_submission(c, samr, path=path, item_code="penalty")
    return export_dual_publicity(c, SYSTEM)


def entry(done: dict[str, Any], item: str, fmt: str) -> dict[str, Any]:
    return next(f for f in done["files"] if f["item"] == item and f["format"] == fmt)


def test_approval_watermark_expiry_and_deletion(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    done = small_export(c, tmp_path)
    zhang, li = office(c, "zhang", "张三"), office(c, "li", "李四")
    assert zhang.user_id != li.user_id

    # Which files carry natural persons' data is recorded per file at export time.
    penalty_csv, penalty_json = entry(done, "penalty", "csv"), entry(done, "penalty", "json")
    licence_csv = entry(done, "licence", "csv")
    assert penalty_csv["rows"] == 2 and penalty_csv["personal_rows"] == 1  # the company: none
    assert licence_csv["rows"] == 0 and licence_csv["personal_rows"] == 0
    assert carries_personal_data(penalty_csv) and not carries_personal_data(licence_csv)

    # Today's access for files without personal data; the others need an approved request.
    directory = Path(done["directory"])
    assert export_file(c, zhang, done["id"], licence_csv["name"]) == directory / licence_csv["name"]
    assert export_file(c, zhang, done["id"], "manifest.json") == directory / "manifest.json"
    for f in (penalty_csv, penalty_json):
        with pytest.raises(PermissionDenied) as refused:
            export_file(c, zhang, done["id"], f["name"], purpose=PURPOSE)
        assert refused.value.code == "export_approval_required"
        assert "download-requests" in refused.value.message and "审批" in refused.value.message

    # Who may ask: named credit-office accounts, with a purpose.
    with pytest.raises(PermissionDenied):
        request_download(
            c, department_principal(c, "榆林市市场监督管理局"), done["id"], purpose=PURPOSE
        )
    with pytest.raises(PermissionDenied) as console:
        request_download(c, SYSTEM, done["id"], purpose=PURPOSE)
    assert console.value.code == "named_account_required"
    with pytest.raises(FieldError) as bad:
        request_download(c, zhang, done["id"], purpose=" ")
    assert bad.value.field == "purpose"
    with pytest.raises(FieldError) as bad:
        request_download(c, zhang, done["id"], purpose=PURPOSE, files=["nope.csv"])
    assert (bad.value.field, bad.value.value, bad.value.code) == (
        "files",
        "nope.csv",
        "unknown_file",
    )
    with pytest.raises(FieldError) as bad:
        request_download(c, zhang, done["id"], purpose=PURPOSE, files=[licence_csv["name"]])
    assert bad.value.code == "not_personal" and bad.value.value == licence_csv["name"]
    with pytest.raises(NotFound):
        request_download(c, zhang, "x-none", purpose=PURPOSE)

    asked = request_download(c, zhang, done["id"], purpose=PURPOSE)
    assert asked["status"] == "pending" and asked["requested_by_user_id"] == zhang.user_id
    assert sorted(asked["files"]) == sorted([penalty_csv["name"], penalty_json["name"]])
    rid = asked["id"]
    with pytest.raises(Conflict) as pending:
        download_copy(c, zhang, rid, penalty_csv["name"])
    assert pending.value.code == "download_request_pending"

    # The requester cannot approve their own request; the refusal is audited.
    with pytest.raises(PermissionDenied) as same:
        decide_download(c, zhang, rid, approve=True)
    assert same.value.code == "same_person" and "另一名" in same.value.message
    assert get_download(c, li, rid)["status"] == "pending"
    denied = [e for e in events(c) if e.result == "denied"]
    assert [(e.action, e.object_id, e.actor_user_id, e.detail["why"]) for e in denied] == [
        ("exports.download_approve", rid, zhang.user_id, "same_person")
    ]

    clock.advance(minutes=30)
    approved_at = clock.now()
    approved = decide_download(c, li, rid, approve=True)
    assert approved["status"] == "approved" and approved["decided_by_user_id"] == li.user_id
    expires = approved_at + timedelta(hours=24)
    assert approved["expires_at"] == "2026-11-26T10:30:00+08:00"
    with pytest.raises(Conflict):
        decide_download(c, li, rid, approve=True)  # decided once

    # The watermark: request id, requester, approver, approval time (Beijing and UTC).
    copies = {cp["name"]: cp for cp in approved["copies"]}
    assert set(copies) == set(asked["files"])
    copy_dir = c.settings.data_dir / "exports" / "downloads" / rid
    for name, cp in copies.items():
        path = copy_dir / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == cp["sha256"]
        assert cp["sha256"] != entry(done, cp["item"], cp["format"])["sha256"]
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    with (copy_dir / penalty_csv["name"]).open(encoding="utf-8-sig", newline="") as fh:
        marked = list(csv.DictReader(fh))
    with (directory / penalty_csv["name"]).open(encoding="utf-8-sig", newline="") as fh:
        original = list(csv.DictReader(fh))
    assert [{k: v for k, v in r.items() if k != WATERMARK_COLUMN} for r in marked] == original
    text = marked[0][WATERMARK_COLUMN]
    assert all(r[WATERMARK_COLUMN] == text for r in marked)
    for part in (rid, "张三", "李四", "2026-11-25T10:30:00+08:00", "2026-11-25T02:30:00Z"):
        assert part in text, (part, text)
    doc = json.loads((copy_dir / penalty_json["name"]).read_text(encoding="utf-8"))
    assert doc["watermark"]["request_id"] == rid
    assert doc["watermark"]["approved_at_utc"] == "2026-11-25T02:30:00Z"
    assert doc["watermark"]["requested_by_user_id"] == zhang.user_id
    assert doc["watermark"]["approved_by_user_id"] == li.user_id
    assert all(r[WATERMARK_COLUMN] == text for r in doc["data"])
    assert PERSON in {r["CF_XDR_ZJHM"] for r in doc["data"]}

    # A leaked copy is traced to its request by its SHA-256.
    traced = list_downloads(c, li, sha256=copies[penalty_csv["name"]]["sha256"].upper())
    assert [t["id"] for t in traced] == [rid]
    with pytest.raises(FieldError) as bad:
        list_downloads(c, li, sha256="abc")
    assert bad.value.field == "sha256"

    # Only the requester downloads, and each download is logged per subject.
    with pytest.raises(PermissionDenied) as other:
        download_copy(c, li, rid, penalty_csv["name"])
    assert other.value.code == "not_requester"
    clock.current = expires - timedelta(minutes=1)
    path = download_copy(c, zhang, rid, penalty_csv["name"])
    assert path == copy_dir / penalty_csv["name"] and path.is_file()
    logged = disclosures(c, "download")
    assert len(logged) == 1 and logged[0].user_id == zhang.user_id
    assert logged[0].purpose == PURPOSE and logged[0].detail["request_id"] == rid
    assert logged[0].detail["sha256"] == copies[penalty_csv["name"]]["sha256"]

    # Before the expiry the job leaves the copies; from the expiry on they are refused, and
    # the job deletes them.
    assert expire_downloads(c)["requests"] == 0
    assert all((copy_dir / n).is_file() for n in copies)
    clock.current = expires
    with pytest.raises(CopyExpired) as gone:
        download_copy(c, zhang, rid, penalty_csv["name"])
    assert gone.value.code == "export_copy_expired"
    assert "过期" in gone.value.message and "download-requests" in gone.value.message
    assert all((copy_dir / n).is_file() for n in copies)  # until the job runs
    (job,) = run_due(c, only="export_downloads_expire")
    assert job.status == "ok" and job.detail["ids"] == [rid] and job.detail["files"] == 2
    assert not copy_dir.exists()
    after = get_download(c, zhang, rid)
    assert after["status"] == "expired" and after["deleted_at"] == "2026-11-26T10:30:00+08:00"
    assert [cp["sha256"] for cp in after["copies"]] == [cp["sha256"] for cp in approved["copies"]]
    with pytest.raises(CopyExpired) as gone:
        download_copy(c, zhang, rid, penalty_csv["name"])
    assert "已删除" in gone.value.message
    assert len(disclosures(c, "download")) == 1  # refused downloads disclose nothing

    # Refusal: a reason is required; afterwards nothing can be downloaded or approved.
    again = request_download(
        c, li, done["id"], purpose="复核省级平台退回数据", files=[penalty_csv["name"]]
    )
    with pytest.raises(FieldError) as bad:
        decide_download(c, zhang, again["id"], approve=False)
    assert bad.value.field == "reason"
    refused_view = decide_download(c, zhang, again["id"], approve=False, reason="用途不明确")
    assert refused_view["status"] == "refused" and refused_view["decision_note"] == "用途不明确"
    with pytest.raises(Conflict) as no:
        download_copy(c, li, again["id"], penalty_csv["name"])
    assert no.value.code == "download_request_refused"
    with pytest.raises(Conflict):
        decide_download(c, zhang, again["id"], approve=True)

    # Every step is in the operator audit trail.
    trail = [(e.action, e.result, e.object_id, e.actor_user_id) for e in events(c)]
    assert trail == [
        ("exports.download_request", "success", rid, zhang.user_id),
        ("exports.download_approve", "denied", rid, zhang.user_id),
        ("exports.download_approve", "success", rid, li.user_id),
        ("exports.download_copy", "denied", rid, li.user_id),
        ("exports.download_copy", "success", rid, zhang.user_id),
        ("exports.download_expire", "success", rid, None),
        ("exports.download_request", "success", again["id"], li.user_id),
        ("exports.download_refuse", "success", again["id"], zhang.user_id),
    ]
    approve_event = events(c, "exports.download_approve")[-1]
    assert approve_event.detail["copies"] == {n: cp["sha256"] for n, cp in copies.items()}


def test_a_request_nobody_decides_lapses(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """A pending request lapses export_download_request_lapse_hours (72) after it was made:
    nobody can approve or refuse it from then on (409 naming the status), the job marks it
    ``lapsed`` with one audit event, lists filter by the new status, the requester asks again."""
    c = container
    assert c.settings.export_download_request_lapse_hours == 72
    done = small_export(c, tmp_path)
    zhang, li = office(c, "zhang", "张三"), office(c, "li", "李四")
    made_at = clock.now()
    asked = request_download(c, zhang, done["id"], purpose=PURPOSE)
    rid = asked["id"]
    assert (asked["lapsed"], asked["lapses_at"]) == (False, "2026-11-28T10:00:00+08:00")
    decided = request_download(c, zhang, done["id"], purpose="复核省级平台退回数据")
    decide_download(c, li, decided["id"], approve=False, reason="用途重复")

    # A minute before the lapse: the job leaves it, it could still be decided.
    clock.current = made_at + timedelta(hours=72) - timedelta(minutes=1)
    swept = expire_downloads(c)
    assert (swept["lapsed"], swept["lapsed_ids"]) == (0, [])
    assert get_download(c, li, rid)["status"] == "pending"

    # From the lapse time on it is refused even before the job has run …
    clock.current = made_at + timedelta(hours=72)
    view = get_download(c, li, rid)
    assert (view["status"], view["lapsed"]) == ("pending", True)
    with pytest.raises(Conflict) as late:
        decide_download(c, li, rid, approve=True)
    assert late.value.code == "download_request_decided"
    assert "lapsed" in late.value.message and "72 小时" in late.value.message
    with pytest.raises(Conflict) as copy:
        download_copy(c, zhang, rid, entry(done, "penalty", "csv")["name"])
    assert copy.value.code == "download_request_lapsed"
    assert "download-requests" in copy.value.message  # how to ask again

    # … and the job marks it lapsed (the refused request stays refused).
    clock.advance(minutes=10)
    (job,) = run_due(c, only="export_downloads_expire")
    assert job.status == "ok", job.detail
    assert (job.detail["lapsed"], job.detail["lapsed_ids"], job.detail["requests"]) == (
        1,
        [rid],
        0,
    )
    after = get_download(c, li, rid)
    assert (after["status"], after["lapsed"], after["decided_by"]) == ("lapsed", True, None)
    assert after["decided_at"] == "2026-11-28T10:00:00+08:00"  # the lapse time
    assert after["decision_note"] == "提出后 72 小时内无人审批，已失效"
    assert after["copies"] == [] and after["expires_at"] is None
    assert not (c.settings.data_dir / "exports" / "downloads" / rid).exists()
    assert get_download(c, li, decided["id"])["status"] == "refused"
    for approve, reason in ((True, None), (False, "用途不明确")):
        with pytest.raises(Conflict) as no:
            decide_download(c, li, rid, approve=approve, reason=reason)
        assert no.value.code == "download_request_decided" and "lapsed" in no.value.message
    assert expire_downloads(c)["lapsed"] == 0  # once

    # Lists filter by the new status; an unknown status names the field and the value.
    assert [r["id"] for r in list_downloads(c, li, status="lapsed")] == [rid]
    assert [r["id"] for r in list_downloads(c, li, status="pending")] == []
    with pytest.raises(FieldError) as bad:
        list_downloads(c, li, status="lapse")
    assert (bad.value.field, bad.value.value) == ("status", "lapse")
    assert "lapsed" in bad.value.message

    # The requester asks again; the new request can be approved.
    again = request_download(c, zhang, done["id"], purpose=PURPOSE)
    assert decide_download(c, li, again["id"], approve=True)["status"] == "approved"

    trail = [(e.action, e.result, e.object_id, e.actor_user_id) for e in events(c)]
    assert trail == [
        ("exports.download_request", "success", rid, zhang.user_id),
        ("exports.download_request", "success", decided["id"], zhang.user_id),
        ("exports.download_refuse", "success", decided["id"], li.user_id),
        ("exports.download_lapse", "success", rid, None),
        ("exports.download_request", "success", again["id"], zhang.user_id),
        ("exports.download_approve", "success", again["id"], li.user_id),
    ]
    lapse = events(c, "exports.download_lapse")[0]
    assert lapse.detail["lapses_at"] == "2026-11-28T10:00:00+08:00"
    assert lapse.detail["lapse_hours"] == 72 and lapse.detail["export_id"] == done["id"]
    assert lapse.detail["requested_by_user_id"] == zhang.user_id


def test_a_changed_source_file_is_not_copied(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    done = small_export(c, tmp_path)
    zhang, li = office(c, "zhang", "张三"), office(c, "li", "李四")
    name = entry(done, "penalty", "csv")["name"]
    rid = request_download(c, zhang, done["id"], purpose=PURPOSE, files=[name])["id"]
    source = Path(done["directory"]) / name
    source.write_bytes(source.read_bytes() + b"tampered\r\n")
    with pytest.raises(Conflict) as changed:
        decide_download(c, li, rid, approve=True)
    assert changed.value.code == "export_file_changed"
    assert get_download(c, li, rid)["status"] == "pending"  # nothing committed, no copy left
    assert not (c.settings.data_dir / "exports" / "downloads" / rid).exists()


def test_legacy_file_entries_and_the_manifest() -> None:
    # Files written before per-file counts: personal unless empty; the manifest never.
    assert carries_personal_data({"format": "csv", "rows": 3})
    assert not carries_personal_data({"format": "csv", "rows": 0})
    assert not carries_personal_data({"format": "manifest", "rows": None})
    assert not carries_personal_data({"format": "json", "rows": 5, "personal_rows": 0})


def test_models_and_migration_0027_agree(container: Container) -> None:
    """`citycredit db check` for the tables of this workflow, on both databases (0032 changed
    the status column's comment: PostgreSQL compares it)."""
    diffs = [d for d in drift(container.engine) if "export_download" in repr(d)]
    assert diffs == []
    with container.uow() as uow:
        assert uow.session.scalars(select(ExportDownloadRow)).all() == []


# -- the round trip on the watermarked copies ----------------------------------------------


def approved_copies(
    c: Container, done: dict[str, Any], asker: Principal, approver: Principal
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Ask for, approve and download every personal file of an export; the files of the
    export as the requester gets them (watermarked copies, or the original where no personal
    data is in it), by name."""
    out: dict[str, Path] = {}
    personal = [f for f in done["files"] if carries_personal_data(f)]
    request: dict[str, Any] = {}
    if personal:
        rid = request_download(c, asker, done["id"], purpose=PURPOSE)["id"]
        request = decide_download(c, approver, rid, approve=True)
        for f in personal:
            out[f["name"]] = download_copy(c, asker, rid, f["name"])
    for f in done["files"]:
        if f["format"] != "manifest" and f["name"] not in out:
            out[f["name"]] = export_file(c, asker, done["id"], f["name"], purpose=PURPOSE)
    return request, out


def test_watermarked_copies_round_trip_through_our_intake(
    request: pytest.FixtureRequest, container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    clock.current = at(DEFAULT_AS_OF, 10)
    manifest = load_initial_city(c, tmp_path, subjects=240, seed=7)
    first = export_dual_publicity(c, SYSTEM)
    clock.advance(hours=2)
    for f in manifest.files:
        if f.kind == "correction":
            actor = department_principal(c, f.department)
            ingest_submission(c, actor, path=tmp_path / "city" / f.path, item_code=f.item)
    for w in manifest.withdrawals:
        actor = department_principal(c, w["department"])
        row = {k: v for k, v in {**w["subject"], **w["key"]}.items() if v}
        withdraw_record(c, actor, locate_record(c, actor, w["item"], row), w["reason"])
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    ops = {op: sum(second["counts"][i][op] for i in ITEMS) for op in ("新增", "更新", "删除")}
    assert ops["更新"] > 0 and ops["删除"] > 0

    zhang, li = office(c, "zhang", "张三"), office(c, "li", "李四")
    got = [approved_copies(c, d, zhang, li) for d in (first, second)]
    marked = [r for r, _ in got if r]
    assert len(marked) == 2, "both exports carry natural persons' data"
    for (req, files), done in zip(got, (first, second), strict=True):
        for cp in req["copies"]:
            path = files[cp["name"]]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == cp["sha256"]
            assert path.parent.name == req["id"]
        # The JSON copy carries the same rows as the original, plus the watermark.
        for cp in (x for x in req["copies"] if x["format"] == "json"):
            orig = json.loads((Path(done["directory"]) / cp["name"]).read_text(encoding="utf-8"))
            copy = json.loads(files[cp["name"]].read_text(encoding="utf-8"))
            assert copy["watermark"]["request_id"] == req["id"]
            assert [
                {k: v for k, v in r.items() if k != WATERMARK_COLUMN} for r in copy["data"]
            ] == orig["data"]
    assert {cp["item"] for r in marked for cp in r["copies"]} == set(ITEMS)
    source = snapshot(c)

    target = province_container(request, c, clock, tmp_path)
    try:
        add_department(target, SYSTEM, name=CREDIT_OFFICE, code=uscc("11", "610800", "MA0FGW01"))
        actor = department_principal(target, CREDIT_OFFICE)
        # The JSON copy of the first export reads as cleanly as the CSV (checked, not stored).
        (req1, files1), _ = got
        json_copy = next(
            cp for cp in req1["copies"] if cp["format"] == "json" and cp["item"] == "penalty"
        )
        trial = ingest_submission(
            target, actor, path=files1[json_copy["name"]], item_code="penalty", dry_run=True
        )
        assert trial.counts.rejected == 0 and trial.counts.unresolved == 0
        receipts = []
        for (_req, files), done in zip(got, (first, second), strict=True):
            for f in done["files"]:
                if f["format"] == "csv":
                    receipts.append(
                        ingest_submission(
                            target, actor, path=files[f["name"]], item_code=f["item"], fast=True
                        )
                    )
        assert all(r.counts.rejected == 0 and r.counts.unresolved == 0 for r in receipts), [
            (r.filename, r.counts) for r in receipts if r.counts.rejected
        ]
        assert sum(r.as_dict()["withdrawn"] for r in receipts) == ops["删除"]
        assert all(r.as_dict()["balanced"] for r in receipts)
        noted = [r for r in receipts if any(WATERMARK_COLUMN in n for n in r.notes)]
        assert noted, "the intake notes the watermark column and ignores it"

        province = snapshot(target)
        sent = {k: s for k, s in source.items() if s["sent"] is not None}
        assert set(province) == set(sent)
        for key, s in sent.items():
            p = province[key]
            if s["sent"] == "删除":
                assert p["status"] == "withdrawn", key
                continue
            assert p["status"] == "active", key
            assert p["values"] in expected_values(c, key[0], s), key
    finally:
        target.dispose()
