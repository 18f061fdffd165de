"""共享调度 on both databases: cursors never skip or repeat, withdrawals reach every consumer.

Also: openness and role limits, the disclosure log for non-public deliveries, one department
never reads another's subscription, the file channel, and — on PostgreSQL with several
connections — transactions that commit out of outbox-id order, fixed and randomised.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.catalog.model import Openness
from citycredit.db.uow import UnitOfWork
from citycredit.ingest.db import RecordRow
from citycredit.ingest.intake import Intake
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.db import DisclosureRow
from citycredit.kernel.deliveries import deliver_all
from citycredit.kernel.jobs import run_due
from citycredit.kernel.outbox import emit
from citycredit.shared.errors import (
    CityCreditError,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.sharing import service as sharing
from citycredit.sharing.db import DeliveryRow, FeedEntryRow
from citycredit.sharing.fanout import fan_out, open_gaps
from citycredit.sharing.files import feeds_dir, write_files
from citycredit.sharing.model import Access, PersonalMode, RecordFacts, project
from citycredit.sharing.service import NewSubscription, consumers_of_record, pull_feed
from citycredit.subjects.db import SubjectRow
from support import (
    PENALTY_COLUMNS,
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

TAX = "榆林市税务局"
DRC = "榆林市发展和改革委员会"
HRSS = "榆林市人力资源和社会保障局"
CO1 = uscc("91", "610802", "MA6XHR01")
CO2 = uscc("91", "610881", "MA6XHR02")
PERSON_ID = id_number("610802", "19800304", "123")
PERSON2_ID = id_number("610802", "19750101", "456")
BASIS = "《陕西省公共信用信息条例》第二十条；榆林市政务数据共享协议 YL-2026-07"
ARREARS = ["QJ_MC", "QJ_LB", "QJ_SHXYM", "QJ_ZJHM", "QJ_XZ", "QJ_SSQ", "QJ_JE", "QJ_RDRQ"]


def dept(c: Container, name: str, body8: str) -> Principal:
    add_department(c, SYSTEM, name=name, code=uscc("11", "610800", body8))
    return department_principal(c, name)


def submit(c: Container, who: Principal, tmp: Path, rows: list[list[Any]], **kw: Any) -> None:
    cols = kw.pop("columns", PENALTY_COLUMNS)
    item = kw.pop("item", "penalty")
    path = write_csv(tmp / f"f{len(list(tmp.iterdir()))}.csv", cols, rows)
    receipt = ingest_submission(c, who, path=path, item_code=item)
    assert receipt.counts.rejected == 0, receipt.notes


def record_id(c: Container, wsh: str) -> str:
    with c.uow() as uow:
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.key_text.contains(wsh)))
    assert rid is not None
    return rid


def pull_all(c: Container, who: Principal, sub: str, after: int = 0, limit: int = 2) -> list[Any]:
    """Follow next_after until has_more is false; returns every entry received."""
    out: list[Any] = []
    while True:
        page = pull_feed(c, who, sub, after=after, limit=limit)
        out += page["entries"]
        assert page["next_after"] == (page["entries"][-1]["seq"] if page["entries"] else after)
        after = page["next_after"]
        if not page["has_more"]:
            return out


def feed(c: Container, sub: str) -> list[FeedEntryRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(FeedEntryRow)
                .where(FeedEntryRow.subscription_id == sub)
                .order_by(FeedEntryRow.seq)
            )
        )


def subscribe(c: Container, actor: Principal, **kw: Any) -> str:
    kw.setdefault("name", "测试订阅")
    return str(sharing.subscribe(c, actor, NewSubscription(**kw))["id"])


@pytest.fixture
def world(container: Container, tmp_path: Path) -> dict[str, Any]:
    samr = department(container)
    rows = [
        penalty_row(
            CF_XDR_MC="榆阳区共享一号商贸有限公司", CF_XDR_SHXYM=CO1, CF_WSH="罚〔2026〕1号"
        ),
        penalty_row(
            CF_XDR_MC="神木市共享二号能源有限公司", CF_XDR_SHXYM=CO2, CF_WSH="罚〔2026〕2号"
        ),
    ]
    submit(container, samr, tmp_path, rows)
    return {
        "c": container,
        "tmp": tmp_path,
        "samr": samr,
        "tax": dept(container, TAX, "MA0TAX01"),
        "drc": dept(container, DRC, "MA0DRC01"),
    }


def test_pull_pages_through_initial_load_and_changes_without_skip_or_repeat(
    world: dict[str, Any],
) -> None:
    c, samr, tax = world["c"], world["samr"], world["tax"]
    sub = subscribe(c, tax, items=["penalty"])
    first = pull_feed(c, tax, sub, after=0, limit=1)
    assert [e["seq"] for e in first["entries"]] == [1] and first["has_more"]
    assert first["next_after"] == 1
    # A correction (larger fine) and a new record arrive; the fan-out appends them.
    rows = [
        penalty_row(
            CF_XDR_MC="榆阳区共享一号商贸有限公司",
            CF_XDR_SHXYM=CO1,
            CF_WSH="罚〔2026〕1号",
            CF_NR_FK="3",
        ),
        penalty_row(
            CF_XDR_MC="榆阳区共享三号商贸有限公司",
            CF_XDR_SHXYM=uscc("91", "610802", "MA6XHR03"),
            CF_WSH="罚〔2026〕3号",
        ),
    ]
    submit(c, samr, world["tmp"], rows)
    assert fan_out(c) >= 2
    assert fan_out(c) == 0  # nothing twice
    rest = pull_all(c, tax, sub, after=first["next_after"], limit=2)
    seqs = [1] + [e["seq"] for e in rest]
    assert seqs == list(range(1, 5))
    r1 = record_id(c, "罚〔2026〕1号")
    kinds = [(e["record_id"], e["version"], e["kind"]) for e in first["entries"] + rest]
    assert (r1, 2, "correction") in kinds and len(set(kinds)) == 4
    corrected = next(e for e in rest if e["kind"] == "correction")
    assert corrected["data"]["fields"]["CF_NR_FK"] == "30000.00"  # 3 万元 in 元
    assert corrected["data"]["subject"]["uscc"] == CO1
    # Pulling past the end answers empty; a cursor beyond the feed is a named error.
    end = pull_feed(c, tax, sub, after=4)
    assert end == {**end, "entries": [], "next_after": 4, "has_more": False}
    with pytest.raises(FieldError) as bad:
        pull_feed(c, tax, sub, after=9)
    assert bad.value.field == "after" and bad.value.value == "9"
    with pytest.raises(FieldError) as bad_limit:
        pull_feed(c, tax, sub, after=0, limit=5000)
    assert bad_limit.value.field == "limit"
    # Every entry returned is a recorded delivery: who received which version when.
    got = consumers_of_record_of(c, r1)
    assert {(x.department, x.version, x.channel) for x in got} == {
        (TAX, 1, "pull"),
        (TAX, 2, "pull"),
    }
    # A later subscriber's initial load: the corrected record is new to it, so `original`
    late = subscribe(c, world["drc"], items=["penalty"])
    loaded = pull_all(c, world["drc"], late, after=0, limit=10)
    assert (r1, 2, "original") in [(e["record_id"], e["version"], e["kind"]) for e in loaded]
    assert {e["kind"] for e in loaded} == {"original"} and len(loaded) == 3


def consumers_of_record_of(c: Container, rid: str) -> list[sharing.Consumer]:
    with c.uow() as uow:
        return consumers_of_record(uow.session, rid)


def test_withdrawal_reaches_every_recorded_consumer(world: dict[str, Any]) -> None:
    """By item, by subject, cancelled since, and no longer allowed to see the new version."""
    c, samr, tax, drc = world["c"], world["samr"], world["tax"], world["drc"]
    hrss = dept(c, HRSS, "MA0HRX01")
    other = dept(c, "榆林市住房和城乡建设局", "MA0JJJ01")
    r1 = record_id(c, "罚〔2026〕1号")
    with c.uow() as uow:
        s1 = uow.session.get(RecordRow, r1)
        assert s1 is not None
        subject1 = s1.subject_id
    by_item = subscribe(c, tax, items=["penalty"])
    by_subject = subscribe(c, drc, subjects=[subject1])
    cancelled = subscribe(c, hrss, items=["penalty"])
    never_pulled = subscribe(c, other, items=["penalty"])
    for who, sub in ((tax, by_item), (drc, by_subject), (hrss, cancelled)):
        assert r1 in {e["record_id"] for e in pull_all(c, who, sub)}
    sharing.change_status(c, hrss, cancelled, "cancelled")
    # The correction turns the fine into a warning: a minor penalty, not published, so public
    # subscriptions may not see version 2 — they are told to stop using version 1.
    warn = penalty_row(
        CF_XDR_MC="榆阳区共享一号商贸有限公司",
        CF_XDR_SHXYM=CO1,
        CF_WSH="罚〔2026〕1号",
        CF_CFLB="警告",
        CF_NR="警告",
        CF_NR_FK="",
    )
    submit(c, samr, world["tmp"], [warn])
    fan_out(c)
    v2 = {e["record_id"]: e for e in pull_all(c, tax, by_item, after=2) if e["version"] == 2}
    assert v2[r1]["data"] is None and "停止使用" in v2[r1]["note"]
    withdraw_record(c, samr, r1, "处罚决定已被行政复议撤销")
    fan_out(c)
    consumers = consumers_of_record_of(c, r1)
    assert {x.subscription_id for x in consumers} == {by_item, by_subject, cancelled}
    for who, sub in ((tax, by_item), (drc, by_subject), (hrss, cancelled), (other, never_pulled)):
        entries = pull_all(c, who, sub)
        mine = [e for e in entries if e["record_id"] == r1]
        kinds = [e["kind"] for e in mine]
        assert kinds.count("withdrawal") == 1, (sub, kinds)
        assert mine[-1]["kind"] == "withdrawal" and mine[-1]["note"] == "处罚决定已被行政复议撤销"
        # Replaying the feed never hands the withdrawn content out again.
        assert all(e["data"] is None for e in mine)
        assert any(e["redacted"] for e in mine if e["kind"] in ("original", "correction"))
    # The other record was never withdrawn and keeps its content.
    r2 = record_id(c, "罚〔2026〕2号")
    assert [e["data"] is not None for e in pull_all(c, tax, by_item) if e["record_id"] == r2] == [
        True
    ]
    # And a department that never held r1 gets nothing about it.
    later = subscribe(c, dept(c, "榆林市交通运输局", "MA0JTJ02"), items=["penalty"])
    assert r1 not in {e.record_id for e in feed(c, later)}


def rights_event(c: Container, event_type: str, rid: str, **payload: Any) -> None:
    """What the rights area emits when a repair is approved or revoked (the contract)."""
    with c.uow() as uow:
        rec = uow.session.get(RecordRow, rid)
        assert rec is not None
        emit(
            uow.session,
            event_type=event_type,
            aggregate_type="record",
            aggregate_id=rid,
            subject_id=rec.subject_id,
            at=c.clock.now(),
            payload={"item": rec.item_code, "version": rec.current_version, **payload},
        )
        uow.commit()


def test_repair_reaches_holders_stops_sharing_and_revocation_restores(
    world: dict[str, Any],
) -> None:
    c, tax = world["c"], world["tax"]
    sub = subscribe(c, tax, items=["penalty"])
    r2 = record_id(c, "罚〔2026〕2号")
    pull_all(c, tax, sub)
    rights_event(c, "record.repaired", r2, reason="信用修复：已履行行政处罚义务")
    deliver_all(c)  # the registered `sharing` consumer, driven by the deliveries sweep
    repair = pull_all(c, tax, sub, after=2)
    assert [(e["record_id"], e["kind"], e["note"]) for e in repair] == [
        (r2, "repair", "信用修复：已履行行政处罚义务")
    ]
    replay = [e for e in pull_all(c, tax, sub) if e["record_id"] == r2]
    assert replay[0]["data"] is None and replay[0]["redacted"]["reason"] == "repair"
    # A new subscription's initial load leaves the repaired record out.
    late = subscribe(c, world["drc"], items=["penalty"])
    assert r2 not in {e.record_id for e in feed(c, late)}
    # The replay re-delivered the repair notice; the redacted entry is no delivery of data.
    assert [x.kind for x in consumers_of_record_of(c, r2)] == ["original", "repair", "repair"]
    # The repair is revoked (false materials): shared again, with its data, to both.
    rights_event(c, "record.repair_revoked", r2)
    deliver_all(c)
    for who, s in ((tax, sub), (world["drc"], late)):
        (back,) = [e for e in pull_all(c, who, s) if e["kind"] == "repair_revoked"]
        assert back["record_id"] == r2 and back["data"]["subject"]["uscc"] == CO2


def test_repair_before_any_subscription_still_stops_sharing(world: dict[str, Any]) -> None:
    c = world["c"]
    r2 = record_id(c, "罚〔2026〕2号")
    rights_event(c, "record.repaired", r2, reason="已修复")
    deliver_all(c)
    sub = subscribe(c, world["tax"], items=["penalty"])
    assert {e.record_id for e in feed(c, sub)} == {record_id(c, "罚〔2026〕1号")}


def test_openness_role_and_field_limits(world: dict[str, Any]) -> None:
    c, tmp, tax = world["c"], world["tmp"], world["tax"]
    hrss = dept(c, HRSS, "MA0HRX01")
    rows = [
        ["王小明", "自然人", "", PERSON_ID, "养老保险", "2026-09", "1200", "2026-11-10"],
        [
            "榆阳区欠缴商贸有限公司",
            "法人及非法人组织",
            CO1,
            "",
            "医疗保险",
            "2026-08",
            "800",
            "2026-11-10",
        ],
    ]
    submit(c, hrss, tmp, rows, columns=ARREARS, item="social_insurance_arrears")
    # 授权查询 items need a purpose and a legal basis; the public may not subscribe at all.
    with pytest.raises(FieldError) as e1:
        subscribe(c, tax, items=["social_insurance_arrears"])
    assert (e1.value.field, e1.value.code) == ("items", "not_public")
    with pytest.raises(FieldError) as e2:
        subscribe(c, tax, items=["social_insurance_arrears"], purpose="纳税信用评价")
    assert e2.value.field == "legal_basis"
    with pytest.raises(PermissionDenied):
        subscribe(c, ANONYMOUS, items=["penalty"])
    with pytest.raises(FieldError) as e3:
        subscribe(c, tax, items=["penalty"], fields={"penalty": ["CF_WSH", "CF_XDR_ZJHM"]})
    assert (e3.value.field, e3.value.value) == ("fields.penalty", "CF_XDR_ZJHM")
    with pytest.raises(FieldError) as e4:
        subscribe(c, tax, items=["penalty"], fields={"penalty": ["NO_SUCH"]})
    assert e4.value.value == "NO_SUCH"
    with pytest.raises(FieldError) as e5:
        subscribe(c, tax, items=["no_such_item"])
    assert (e5.value.field, e5.value.value, e5.value.code) == (
        "items",
        "no_such_item",
        "unknown_item",
    )
    with pytest.raises(FieldError):
        subscribe(c, tax, items=["penalty"], personal="masked")  # personal needs authorised
    # Clear personal values only through a subscription the credit office sets up.
    with pytest.raises(PermissionDenied):
        subscribe(
            c,
            tax,
            items=["social_insurance_arrears"],
            purpose="纳税信用评价",
            legal_basis=BASIS,
            personal="clear",
        )
    with pytest.raises(FieldError) as e5:
        subscribe(c, SYSTEM, items=["penalty"])  # the office names the department
    assert e5.value.field == "department"
    masked = subscribe(
        c,
        tax,
        items=["social_insurance_arrears"],
        purpose="纳税信用评价",
        legal_basis=BASIS,
        personal="masked",
    )
    clear = subscribe(
        c,
        SYSTEM,
        department=TAX,
        items=["social_insurance_arrears"],
        purpose="欠缴社保联合惩戒",
        legal_basis=BASIS,
        personal="clear",
        fields={"social_insurance_arrears": ["QJ_MC", "QJ_ZJHM", "QJ_JE"]},
    )
    none = subscribe(
        c, tax, items=["social_insurance_arrears"], purpose="纳税信用评价", legal_basis=BASIS
    )

    def person(sub: str) -> dict[str, Any]:
        entries = pull_all(c, tax, sub)
        assert len(entries) == 2
        return next(e for e in entries if e["data"]["subject"]["subject_type"] == "natural_person")

    assert (
        person(masked)["data"]["fields"]["QJ_ZJHM"] == PERSON_ID[:4] + "*" * 14  # ADR 0014
    )
    assert person(masked)["data"]["subject"]["name"] == "王小明"  # staff see full names
    assert person(clear)["data"]["fields"] == {
        "QJ_MC": "王小明",
        "QJ_ZJHM": PERSON_ID,
        "QJ_JE": "1200.00",
    }
    assert "QJ_ZJHM" not in person(none)["data"]["fields"]
    # The feed table never holds the clear number (only the masked form).
    with c.uow() as uow:
        stored = uow.session.scalars(
            select(FeedEntryRow.payload).where(FeedEntryRow.subscription_id == clear)
        ).all()
    assert PERSON_ID not in json.dumps(stored, ensure_ascii=False)
    # A public subscription: 公开 items only, public fields, persons' names masked.
    submit(
        c,
        world["samr"],
        tmp,
        [
            penalty_row(
                PENALTY_COLUMNS_WITH_ID,
                CF_XDR_MC="李大海",
                CF_XDR_LB="自然人",
                CF_XDR_ZJHM=PERSON2_ID,
                CF_WSH="罚〔2026〕9号",
            )
        ],
        columns=PENALTY_COLUMNS_WITH_ID,
    )
    public = subscribe(c, tax, subjects=[_subject_of(c, "罚〔2026〕9号")])
    (entry,) = pull_all(c, tax, public)
    assert (
        entry["data"]["subject"]["name"] == "李**"
        and entry["data"]["fields"]["CF_XDR_MC"] == "李**"
    )
    assert "CF_XDR_ZJHM" not in entry["data"]["fields"] and "openness" not in entry["data"]
    assert PERSON2_ID not in json.dumps(entry, ensure_ascii=False)
    # Subject-only public subscription of the arrears subject gets nothing (授权查询 only).
    arrears_subject = subscribe(c, tax, subjects=[_subject_of(c, "养老保险")])
    assert pull_all(c, tax, arrears_subject) == []


def _subject_of(c: Container, fragment: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(
            select(RecordRow.subject_id).where(RecordRow.key_text.contains(fragment))
        )
    assert sid is not None
    return sid


def test_non_public_deliveries_go_through_the_disclosure_log(world: dict[str, Any]) -> None:
    c, tmp, tax = world["c"], world["tmp"], world["tax"]
    hrss = dept(c, HRSS, "MA0HRX01")
    rows = [
        [
            "榆阳区欠缴商贸有限公司",
            "法人及非法人组织",
            CO1,
            "",
            "医疗保险",
            "2026-08",
            "800",
            "2026-11-10",
        ]
    ]
    submit(c, hrss, tmp, rows, columns=ARREARS, item="social_insurance_arrears")
    public = subscribe(c, tax, items=["penalty"])
    authorised = subscribe(
        c,
        tax,
        items=["social_insurance_arrears", "penalty"],
        purpose="纳税信用评价",
        legal_basis=BASIS,
    )
    assert len(pull_all(c, tax, public)) == 2

    def log() -> list[DisclosureRow]:
        with c.uow() as uow:
            return list(uow.session.scalars(select(DisclosureRow).order_by(DisclosureRow.id)))

    assert log() == []  # public content is never logged
    entries = pull_all(c, tax, authorised, limit=10)
    assert {e["item"] for e in entries} == {"penalty", "social_insurance_arrears"}
    (row,) = log()  # only the arrears record is non-public; penalties are public now
    assert row.items == ["social_insurance_arrears"] and row.purpose == "纳税信用评价"
    assert row.channel == "sharing_pull" and row.department_id == tax.department_id
    assert row.detail["legal_basis"] == BASIS and row.detail["subscription"] == authorised
    assert row.subject_id == _subject_of(c, "医疗保险")


def test_a_department_never_reads_another_departments_subscription(world: dict[str, Any]) -> None:
    c, tax, drc = world["c"], world["tax"], world["drc"]
    mine = subscribe(c, tax, items=["penalty"])
    theirs = subscribe(c, drc, items=["penalty"])
    for call in (
        lambda: pull_feed(c, drc, mine, after=0),
        lambda: sharing.get_subscription(c, drc, mine),
        lambda: sharing.change_status(c, drc, mine, "cancelled"),
    ):
        with pytest.raises(NotFound):
            call()
    assert [s["id"] for s in sharing.list_subscriptions(c, tax)] == [mine]
    assert {s["id"] for s in sharing.list_subscriptions(c, SYSTEM)} == {mine, theirs}
    with pytest.raises(NotFound) as office:  # the office inspects but does not pull (G8)
        pull_feed(c, SYSTEM, mine)
    assert office.value.code == "subscription_not_found"
    with pytest.raises(PermissionDenied):
        sharing.change_status(c, tax, mine, "suspended", "滥用")
    sharing.change_status(c, SYSTEM, mine, "suspended", "超范围使用，暂停核查")
    with pytest.raises(CityCreditError) as suspended:
        pull_feed(c, tax, mine)
    assert suspended.value.code == "subscription_suspended"
    sharing.change_status(c, SYSTEM, mine, "cancelled")
    with pytest.raises(InvalidTransition):
        sharing.change_status(c, SYSTEM, mine, "active")
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DeliveryRow)) == 0


def test_file_channel_writes_files_manifests_and_deliveries(world: dict[str, Any]) -> None:
    c, samr, tax = world["c"], world["samr"], world["tax"]
    jsonl = subscribe(c, tax, items=["penalty"], channel="file")
    csvsub = subscribe(c, world["drc"], items=["penalty"], channel="file", file_format="csv")
    with pytest.raises(PermissionDenied):
        write_files(c, tax)
    written = write_files(c, SYSTEM)
    assert {(m["subscription"], m["first_seq"], m["last_seq"]) for m in written} == {
        (jsonl, 1, 2),
        (csvsub, 1, 2),
    }
    m = next(m for m in written if m["subscription"] == jsonl)
    path = feeds_dir(c, jsonl) / m["file"]
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert [x["seq"] for x in lines] == [1, 2]
    manifest = json.loads((path.parent / f"{m['file']}.manifest.json").read_text("utf-8"))
    assert manifest["count"] == 2 and manifest["department"] == TAX
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    csv_text = (
        feeds_dir(c, csvsub) / next(x["file"] for x in written if x["subscription"] == csvsub)
    ).read_text("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("seq,kind,record_id")
    assert write_files(c, SYSTEM) == []  # nothing new, nothing written twice
    withdraw_record(c, samr, record_id(c, "罚〔2026〕2号"), "文书号录入错误")
    again = write_files(c, SYSTEM, subscription_id=jsonl)
    # The first file again, without the withdrawn record's data, then the notice.
    assert [(x["first_seq"], x["last_seq"], "rewritten_at" in x) for x in again] == [
        (1, 2, True),
        (3, 3, False),
    ]
    (job,) = run_due(c, force=True, only="sharing_files")  # the scheduled sweep: the CSV one
    assert job.status == "ok" and job.detail["files"] == [
        f"{csvsub}-000000001-000000002.csv",
        f"{csvsub}-000000003-000000003.csv",
    ]
    (job,) = run_due(c, force=True, only="sharing_fanout")
    assert job.status == "ok" and job.detail == {"events": 0, "open_gaps": 0}
    got = consumers_of_record_of(c, record_id(c, "罚〔2026〕2号"))
    assert [(x.department, x.kind, x.channel) for x in got if x.subscription_id == jsonl] == [
        (TAX, "original", "file"),
        (TAX, "withdrawal", "file"),
    ]
    assert next(x for x in got if x.subscription_id == jsonl).cursor == m["file"]


# -- out-of-order commits ----------------------------------------------------------------------


@pytest.fixture
def pg(pg_container: Container) -> Container:
    """PostgreSQL only: the interleavings need several open transactions (outbox writers do not
    wait for each other, so ids commit out of order there)."""
    return pg_container


def open_change(c: Container, samr: Principal, n: int) -> UnitOfWork:
    """A transaction that has stored a new penalty record (its outbox id taken) but not committed."""
    uow = c.uow().__enter__()
    s = uow.session
    dept_row = s.get(DepartmentRow, samr.department_id)
    assert dept_row is not None
    row = dict(
        zip(
            PENALTY_COLUMNS,
            penalty_row(
                CF_XDR_MC=f"榆阳区并发{n}号商贸有限公司",
                CF_XDR_SHXYM=uscc("91", "610802", f"MA6C{n:04d}"),
                CF_WSH=f"榆市监罚〔2026〕{1000 + n}号",
            ),
            strict=True,
        )
    )
    intake = Intake(c, s, c.catalog.item("penalty"), dept_row, None, samr, c.clock.now())
    intake.process(n, row, {k: str(v) for k, v in row.items()})
    s.flush()  # the outbox row now has its id
    return uow


def close(uow: UnitOfWork, commit: bool) -> None:
    if commit:
        uow.commit()
    uow.__exit__(None, None, None)


def records_of(c: Container, sub: str) -> list[str]:
    return [e.record_id for e in feed(c, sub)]


def test_late_commit_below_the_high_water_is_not_skipped(pg: Container) -> None:
    c = pg
    samr = department(c)
    tax = dept(c, TAX, "MA0TAX01")
    sub = subscribe(c, tax, items=["penalty"], initial_load=False)
    slow = open_change(c, samr, 1)  # takes the lower outbox id, commits last
    close(open_change(c, samr, 2), commit=True)
    fan_out(c)
    assert len(records_of(c, sub)) == 1 and len(open_gaps(c)) == 1
    close(slow, commit=True)
    fan_out(c)
    assert len(set(records_of(c, sub))) == 2 and open_gaps(c) == []
    assert [e["seq"] for e in pull_all(c, tax, sub)] == [1, 2]
    # Through the deliveries sweep too: a gap filled later is found on the next wake-up.
    slow = open_change(c, samr, 3)
    close(open_change(c, samr, 4), commit=True)
    deliver_all(c)
    close(slow, commit=True)
    close(open_change(c, samr, 5), commit=True)
    deliver_all(c)
    assert len(set(records_of(c, sub))) == 5 == len(records_of(c, sub))
    # A rolled-back id is a gap that never fills: dropped once no older transaction is open.
    gone = open_change(c, samr, 6)
    close(open_change(c, samr, 7), commit=True)
    fan_out(c, grace=0)
    assert len(open_gaps(c)) == 1
    close(gone, commit=False)
    for _ in range(3):
        fan_out(c, grace=0)
    assert open_gaps(c) == []
    assert [e["seq"] for e in pull_all(c, tax, sub, after=2)] == [3, 4, 5, 6]
    assert len(records_of(c, sub)) == 6


# Weighted towards what makes ids commit out of order: several open transactions, fan-outs
# while they are open, commits of older ones afterwards.
OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["start", "start", "commit", "rollback", "fanout", "fanout", "pull", "withdraw"]
        ),
        st.integers(0, 5),
    ),
    min_size=6,
    max_size=30,
)


class Interleaving:
    """Runs one schedule of open transactions, commits, rollbacks, fan-outs and pulls."""

    counter = 0

    def __init__(self, c: Container, samr: Principal, tax: Principal, concurrent: bool) -> None:
        self.c, self.samr, self.tax, self.concurrent = c, samr, tax, concurrent
        # Authorised: every committed version is delivered even if withdrawn before the
        # fan-out ran (a public feed leaves such a record out altogether).
        self.sub = subscribe(
            c, tax, items=["penalty"], initial_load=False, purpose="随机调度测试", legal_basis=BASIS
        )
        self.open: list[tuple[UnitOfWork, str]] = []
        self.committed: list[str] = []  # companies whose record committed
        self.withdrawn: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.after = 0
        Interleaving.counter += 1
        self.next = Interleaving.counter * 100

    def run(self, ops: list[tuple[Any, ...]]) -> None:
        try:
            for op in ops:
                getattr(self, op[0])(*op[1:])
        finally:  # a failing example must not leave connections checked out
            while self.open:
                self.commit(0)
        while self.open:
            self.commit(0)
        for _ in range(3):
            fan_out(self.c, grace=0)
        assert open_gaps(self.c) == []
        self.pull(1000)

    def start(self, _i: int = 0) -> None:
        self.next += 1
        n = self.next
        uow = open_change(self.c, self.samr, n)
        name = f"榆阳区并发{n}号商贸有限公司"
        if self.concurrent:
            self.open.append((uow, name))
        else:  # SQLite has one writer at a time: each transaction ends before the next
            close(uow, commit=n % 3 != 0)
            if n % 3 != 0:
                self.committed.append(name)

    def commit(self, i: int, *, ok: bool = True) -> None:
        if not self.open:
            return
        uow, name = self.open.pop(i % len(self.open))
        close(uow, commit=ok)
        if ok:
            self.committed.append(name)

    def rollback(self, i: int) -> None:
        self.commit(i, ok=False)

    def fanout(self, _i: int = 0) -> None:
        fan_out(self.c, grace=0)

    def pull(self, limit: int) -> None:
        limit = max(limit, 1)
        while True:
            page = pull_feed(self.c, self.tax, self.sub, after=self.after, limit=min(limit, 1000))
            self.received += page["entries"]
            self.after = page["next_after"]
            if not page["has_more"] or limit < 1000:
                return

    def withdraw(self, i: int) -> None:
        candidates = [n for n in self.committed if n not in self.withdrawn]
        if not candidates:
            return
        name = candidates[i % len(candidates)]
        with self.c.uow() as uow:
            rid = uow.session.scalar(
                select(RecordRow.id)
                .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
                .where(SubjectRow.name == name)
            )
        assert rid is not None
        withdraw_record(self.c, self.samr, rid, "随机撤销")
        self.withdrawn.append(name)

    def check(self) -> None:
        entries = feed(self.c, self.sub)
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))  # dense
        assert [e["seq"] for e in self.received] == [e.seq for e in entries]  # each pulled once
        keys = [(e.record_id, e.version, e.kind) for e in entries]
        assert len(keys) == len(set(keys))
        with self.c.uow() as uow:
            names = dict(
                uow.session.execute(
                    select(RecordRow.id, SubjectRow.name)
                    .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
                    .where(RecordRow.id.in_({e.record_id for e in entries}))
                ).all()
            )
        originals = sorted(names[e.record_id] for e in entries if e.kind == "original")
        assert originals == sorted(self.committed)  # every committed record once, none else
        withdrawals = sorted(names[e.record_id] for e in entries if e.kind == "withdrawal")
        assert withdrawals == sorted(self.withdrawn)


def _interleave(c: Container, ops: list[tuple[Any, ...]], concurrent: bool) -> None:
    with c.uow() as uow:
        samr_row = uow.session.scalar(select(DepartmentRow).where(DepartmentRow.name == SAMR))
        tax_row = uow.session.scalar(select(DepartmentRow).where(DepartmentRow.name == TAX))
    samr = department_principal(c, SAMR) if samr_row else department(c)
    tax = department_principal(c, TAX) if tax_row else dept(c, TAX, "MA0TAX01")
    run = Interleaving(c, samr, tax, concurrent)
    run.run(ops)
    run.check()


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_randomised_interleavings_never_skip_or_repeat_postgresql(
    pg: Container, ops: list[tuple[Any, ...]]
) -> None:
    _interleave(pg, ops, concurrent=True)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_randomised_schedules_never_skip_or_repeat(
    container: Container, ops: list[tuple[Any, ...]]
) -> None:
    _interleave(container, ops, concurrent=False)


# -- a lagging fan-out, suspension, access by department kind, leaving the public view ------

OFFICE = Principal(role=Role.credit_office_admin, label="信用办")


def test_a_lagging_fan_out_never_appends_an_older_version_or_a_gone_record(
    world: dict[str, Any],
) -> None:
    """Events still unread when a subscription's initial load ran (the fan-out was down, or
    behind by one job interval) must not append a version older than the one the feed holds,
    nor a record withdrawn before the subscription existed."""
    c, samr, tmp = world["c"], world["samr"], world["tmp"]
    fixed = penalty_row(
        CF_XDR_MC="榆阳区共享一号商贸有限公司",
        CF_XDR_SHXYM=CO1,
        CF_WSH="罚〔2026〕1号",
        CF_NR_FK="6",
    )
    gone = penalty_row(
        CF_XDR_MC="榆阳区共享三号商贸有限公司",
        CF_XDR_SHXYM=uscc("91", "610802", "MA6XHR03"),
        CF_WSH="罚〔2026〕3号",
    )
    submit(c, samr, tmp, [fixed, gone])
    r1, r3 = record_id(c, "罚〔2026〕1号"), record_id(c, "罚〔2026〕3号")
    withdraw_record(c, samr, r3, "文书号录入错误")
    c.clock.advance(minutes=1)  # type: ignore[attr-defined]
    by_load = subscribe(c, world["tax"], items=["penalty"])
    no_load = subscribe(c, world["drc"], items=["penalty"], initial_load=False)
    assert open_gaps(c) == [] and fan_out(c) > 0  # every event above was still unread
    loaded = [(e.record_id, e.version, e.kind) for e in feed(c, by_load)]
    assert sorted(loaded) == sorted(  # the initial load: each record new to it, `original`
        [(r1, 2, "original"), (record_id(c, "罚〔2026〕2号"), 1, "original")]
    )
    replayed = [(e.record_id, e.version, e.kind) for e in feed(c, no_load)]
    assert [x for x in replayed if x[0] == r1] == [(r1, 1, "original"), (r1, 2, "correction")]
    assert r3 not in {x[0] for x in replayed}  # withdrawn before it subscribed: never had it


def test_a_suspended_subscription_finds_every_change_when_resumed(world: dict[str, Any]) -> None:
    c, samr, tax = world["c"], world["samr"], world["tax"]
    sub = subscribe(c, tax, items=["penalty"])
    pull_all(c, tax, sub)
    sharing.change_status(c, OFFICE, sub, "suspended", "核查接口")
    new = penalty_row(
        CF_XDR_MC="榆阳区共享四号商贸有限公司",
        CF_XDR_SHXYM=uscc("91", "610802", "MA6XHR04"),
        CF_WSH="罚〔2026〕4号",
    )
    submit(c, samr, world["tmp"], [new])
    fan_out(c)
    with pytest.raises(CityCreditError):
        pull_feed(c, tax, sub, after=2)
    sharing.change_status(c, OFFICE, sub, "active")
    got = pull_all(c, tax, sub, after=2)
    assert [(e["record_id"], e["kind"]) for e in got] == [
        (record_id(c, "罚〔2026〕4号"), "original")
    ]


def test_government_only_records_go_to_government_departments_only(
    world: dict[str, Any],
) -> None:
    """A utility holds a department token, but it is no government body (仅政务共享)."""
    c = world["c"]
    add_department(
        c, SYSTEM, name="国网榆林供电公司", code=uscc("91", "610800", "MA0GDJ01"), kind="utility"
    )
    power = department_principal(c, "国网榆林供电公司")
    gov_only = next(i for i in c.catalog.items.values() if i.openness is Openness.government_only)
    with pytest.raises(FieldError) as refused:
        subscribe(c, power, items=[gov_only.code], purpose="电费回收风险", legal_basis="供用电合同")
    assert (refused.value.field, refused.value.value, refused.value.code) == (
        "items",
        gov_only.code,
        "government_only",
    )
    subscribe(c, world["tax"], items=[gov_only.code], purpose="纳税信用评价", legal_basis=BASIS)
    # A subject-only subscription never names the item: each record is checked.
    facts = RecordFacts(openness=Openness.government_only.value, public_now=False, is_person=False)
    view = {"access": Access.authorised, "personal_mode": PersonalMode.none}
    assert project(gov_only, {}, {}, facts, **view) is None  # type: ignore[arg-type]
    gov = RecordFacts(facts.openness, False, False, government=True)
    assert project(gov_only, {}, {}, gov, **view) is not None  # type: ignore[arg-type]
    with pytest.raises(FieldError) as bad_kind:
        add_department(c, SYSTEM, name="某协会", code=uscc("51", "610800", "MA0XH001"), kind="协会")
    assert (bad_kind.value.field, bad_kind.value.value) == ("kind", "协会")


def test_leaving_the_public_view_redacts_public_feeds_and_logs_authorised_replays(
    world: dict[str, Any],
) -> None:
    c, tax, drc = world["c"], world["tax"], world["drc"]
    public_sub = subscribe(c, tax, items=["penalty"])
    authorised = subscribe(c, drc, items=["penalty"], purpose="联合奖惩", legal_basis=BASIS)
    pull_all(c, tax, public_sub)
    first = pull_all(c, drc, authorised)
    r1 = record_id(c, "罚〔2026〕1号")
    subject1 = next(e["subject_id"] for e in first if e["record_id"] == r1)

    def logged() -> int:
        with c.uow() as uow:
            return int(
                uow.session.scalar(
                    select(func.count())
                    .select_from(DisclosureRow)
                    .where(DisclosureRow.subject_id == subject1)
                )
                or 0
            )

    before = logged()
    assert pull_all(c, drc, authorised) and logged() == before  # public content: not logged
    rights_event(c, "record.publication_ended", r1, publication_end="2027-11-02")
    fan_out(c)
    mine = [e for e in pull_all(c, tax, public_sub) if e["record_id"] == r1]
    assert [e["kind"] for e in mine] == ["original", "publication_ended"]
    assert mine[0]["data"] is None and mine[0]["redacted"]["reason"] == "publication_ended"
    assert "公示期" in mine[0]["redacted"]["message"]
    # The authorised feed keeps the record (it may hold non-public records), but replaying it
    # is now a disclosure of something no longer public.
    again = [e for e in pull_all(c, drc, authorised) if e["record_id"] == r1]
    assert again[0]["data"] is not None and logged() == before + 1


def test_feed_files_are_private_hold_no_clear_values_and_are_rewritten_when_redacted(
    world: dict[str, Any],
) -> None:
    c, samr, tax = world["c"], world["samr"], world["tax"]
    with pytest.raises(FieldError) as clear_files:
        subscribe(
            c,
            OFFICE,
            department=TAX,
            items=["penalty"],
            channel="file",
            purpose="纳税信用评价",
            legal_basis=BASIS,
            personal="clear",
        )
    assert (clear_files.value.field, clear_files.value.code) == ("personal", "not_with_files")
    sub = subscribe(c, tax, items=["penalty"], channel="file")
    (m,) = write_files(c, SYSTEM)
    path = feeds_dir(c, sub) / m["file"]
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    r1 = record_id(c, "罚〔2026〕1号")
    assert "罚〔2026〕1号" in path.read_text("utf-8")
    withdraw_record(c, samr, r1, "决定已撤销")
    rewritten, notice = write_files(c, SYSTEM)
    assert (rewritten["file"], rewritten["first_written_at"]) == (m["file"], m["written_at"])
    assert "罚〔2026〕1号" not in path.read_text("utf-8")  # the withdrawn content is gone
    assert rewritten["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (notice["first_seq"], notice["last_seq"]) == (3, 3)
    # The department fetches its files through the API; nobody else sees them.
    from citycredit.sharing.files import list_files, read_file

    assert [x["file"] for x in list_files(c, tax, sub)] == [m["file"], notice["file"]]
    assert read_file(c, tax, sub, m["file"])[0] == path
    with pytest.raises(NotFound):
        read_file(c, world["drc"], sub, m["file"])
    with pytest.raises(NotFound):
        read_file(c, tax, sub, "../../personal.keys")
