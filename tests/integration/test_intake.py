"""Intake end to end on SQLite and PostgreSQL: receipts, quarantine, idempotency, history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow, RejectRow, SubmissionRow
from citycredit.ingest.service import (
    get_receipt,
    ingest_submission,
    list_rejects,
    record_history,
    withdraw_record,
)
from citycredit.kernel.db import OutboxEventRow
from citycredit.shared.calendar import SHANGHAI
from citycredit.subjects.archive import public_archive
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS_WITH_ID, SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

HEADER = PENALTY_COLUMNS_WITH_ID
SAMR_CODE = uscc("11", "610800", "MA0CAMR1")
CO_A = uscc("91", "610881", "MA6CW1A1")  # 神木市
CO_B = uscc("91", "610802", "MA6CW2B2")  # 榆阳区


def penalty(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "CF_XDR_MC": "神木市大柳塔煤业有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": CO_A,
        "CF_WSH": "神市监罚〔2026〕1号",
        "CF_WFXW": "未按规定公示年度报告",
        "CF_SY": "经查，当事人……",
        "CF_YJ": "《企业信息公示暂行条例》第十八条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": "2026-10-10",
        "CF_CFJG": "神木市市场监督管理局",
        "CF_CFJGDM": SAMR_CODE,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": SAMR_CODE,
    }
    row.update(over)
    return row


def csv_of(
    tmp: Path, rows: list[dict[str, Any]], name: str = "p.csv", encoding: str = "utf-8"
) -> Path:
    return write_csv(
        tmp / name, HEADER, [[r.get(h) for h in HEADER] for r in rows], encoding=encoding
    )


def ingest(c: Container, path: Path, item: str = "penalty", **kw: Any) -> dict[str, Any]:
    actor = department(c) if not kw.pop("existing", False) else None
    from citycredit.accounts.service import department_principal

    actor = actor or department_principal(c, SAMR)
    return ingest_submission(c, actor, path=path, item_code=item, **kw).as_dict()


def test_valid_file_is_stored_with_a_balanced_receipt(container: Container, tmp_path: Path) -> None:
    rows = [
        penalty(),
        penalty(CF_WSH="神市监罚〔2026〕2号", CF_XDR_MC="榆阳区某商贸有限公司", CF_XDR_SHXYM=CO_B),
    ]
    r = ingest(container, csv_of(tmp_path, rows))
    assert (r["received"], r["new"], r["rejected"], r["balanced"]) == (2, 2, 0, True)
    with container.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(RecordRow)) == 2
        # the subjects were created from the coded rows, with the county from the USCC
        a = s.scalar(select(SubjectRow).where(SubjectRow.uscc == CO_A))
        assert a is not None and a.division_code == "610881" and a.subject_type == "enterprise"
        # fine 2 万元 is stored as 20000 元
        v = s.scalar(
            select(RecordVersionRow).join(RecordRow).where(RecordRow.subject_id == a.subject_id)
        )
        assert v is not None and v.payload["CF_NR_FK"] == "20000.00"
        events = s.scalars(select(OutboxEventRow.event_type)).all()
        assert events.count("record.accepted") == 2 and "submission.completed" in events


BAD_ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "bad check digit",
        {"CF_XDR_SHXYM": CO_A[:-1] + ("0" if CO_A[-1] != "0" else "1")},
        "CF_XDR_SHXYM",
        "checksum",
    ),
    ("missing decision number", {"CF_WSH": ""}, "CF_WSH", "required"),
    ("impossible date", {"CF_JDRQ": "2023-02-30"}, "CF_JDRQ", "invalid_date"),
    ("unknown penalty type", {"CF_CFLB": "打板子"}, "CF_CFLB", "not_in_enum"),
    ("placeholder code", {"CF_XDR_SHXYM": "00000000000000000X"}, "CF_XDR_SHXYM", "placeholder"),
    ("type vs prefix", {"CF_XDR_LB": "个体工商户"}, "CF_XDR_LB", "type_mismatch"),
    ("negative fine", {"CF_NR_FK": "-1"}, "CF_NR_FK", "negative_amount"),
    ("code too short", {"CF_XDR_SHXYM": CO_A[:-1]}, "CF_XDR_SHXYM", "length"),
    ("letter O in code", {"CF_XDR_SHXYM": CO_A[:10] + "O" + CO_A[11:]}, "CF_XDR_SHXYM", "charset"),
    ("letters in division", {"CF_XDR_SHXYM": "91ABCDEF" + CO_A[8:]}, "CF_XDR_SHXYM", "format"),
    ("future decision", {"CF_JDRQ": "2027-01-04"}, "CF_JDRQ", "future_date"),
    ("fine not a number", {"CF_NR_FK": "两万"}, "CF_NR_FK", "invalid_decimal"),
    ("name too long", {"CF_XDR_MC": "长" * 201}, "CF_XDR_MC", "too_long"),
    (
        "bad person ID",
        {
            "CF_XDR_LB": "自然人",
            "CF_XDR_SHXYM": "",
            "CF_XDR_ZJHM": id_number("610802", "19991345", "001"),
        },
        "CF_XDR_ZJHM",
        "birth_date",
    ),
    (
        "person ID checksum",
        {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": "", "CF_XDR_ZJHM": "360426199101010072"},
        "CF_XDR_ZJHM",
        "checksum",
    ),
    ("person without ID", {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": ""}, "CF_XDR_ZJHM", "required"),
]


@pytest.mark.parametrize(
    ("label", "change", "field", "code"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS]
)
def test_every_bad_row_is_quarantined_with_its_reason(
    container: Container, tmp_path: Path, label: str, change: dict[str, Any], field: str, code: str
) -> None:
    rows = [penalty(), penalty(**{"CF_WSH": "神市监罚〔2026〕9号", **change})]
    r = ingest(container, csv_of(tmp_path, rows))
    assert r["balanced"] and (r["received"], r["new"], r["rejected"]) == (2, 1, 1), label
    rejects = list_rejects(container, SYSTEM, r["submission_id"])
    assert len(rejects) == 1 and rejects[0]["row"] == 2
    reasons = rejects[0]["reasons"]
    assert {(x["field"], x["code"]) for x in reasons} >= {(field, code)}, reasons
    # the raw row is kept as sent: nothing is lost
    assert rejects[0]["raw"]["CF_WSH"] == (rows[1]["CF_WSH"] or None)


def test_one_reason_per_failing_field(container: Container, tmp_path: Path) -> None:
    r = ingest(
        container, csv_of(tmp_path, [penalty(CF_JDRQ="2023-02-30", CF_CFLB="打板子", CF_SY="")])
    )
    (reject,) = list_rejects(container, SYSTEM, r["submission_id"])
    assert sorted(x["field"] for x in reject["reasons"]) == ["CF_CFLB", "CF_JDRQ", "CF_SY"]
    assert all(x["message"] for x in reject["reasons"])


def test_resending_adds_nothing(container: Container, tmp_path: Path) -> None:
    path = csv_of(tmp_path, [penalty(), penalty(CF_WSH="神市监罚〔2026〕2号")])
    first = ingest(container, path)
    second = ingest(container, path, existing=True)
    assert first["new"] == 2
    assert (second["new"], second["corrected"], second["duplicate"]) == (0, 0, 2)
    with container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(RecordVersionRow)) == 2


def test_repeated_key_in_one_file_keeps_the_later_row(container: Container, tmp_path: Path) -> None:
    rows = [penalty(CF_NR="罚款2万元"), penalty(CF_NR="罚款2万元（更正）")]
    r = ingest(container, csv_of(tmp_path, rows))
    assert (r["received"], r["new"], r["duplicate"], r["balanced"]) == (2, 1, 1, True)
    with container.uow() as uow:
        v = uow.session.scalar(select(RecordVersionRow))
        assert v is not None and v.payload["CF_NR"] == "罚款2万元（更正）" and v.row_number == 2


def test_correction_supersedes_and_keeps_history(container: Container, tmp_path: Path) -> None:
    ingest(container, csv_of(tmp_path, [penalty()], "a.csv"))
    r = ingest(
        container,
        csv_of(tmp_path, [penalty(CF_NR_FK="3", CF_NR="罚款3万元")], "b.csv"),
        existing=True,
    )
    assert (r["new"], r["corrected"]) == (0, 1)
    with container.uow() as uow:
        rec = uow.session.scalar(select(RecordRow))
        assert rec is not None and rec.current_version == 2
    hist = record_history(container, SYSTEM, rec.id)
    assert [h["kind"] for h in hist] == ["original", "correction"]
    assert (
        hist[0]["payload"]["CF_NR_FK"] == "20000.00"
        and hist[1]["payload"]["CF_NR_FK"] == "30000.00"
    )


def test_withdrawal_removes_from_public_view_and_keeps_history(
    container: Container, tmp_path: Path
) -> None:
    ingest(container, csv_of(tmp_path, [penalty()]))
    with container.uow() as uow:
        rec = uow.session.scalar(select(RecordRow))
        assert rec is not None
    before = public_archive(container, SYSTEM, rec.subject_id)
    assert before["total"] == 1
    from citycredit.accounts.service import department_principal

    withdraw_record(
        container, department_principal(container, SAMR), rec.id, "处罚决定已被行政复议撤销"
    )
    after = public_archive(container, SYSTEM, rec.subject_id)
    assert after["total"] == 0
    hist = record_history(container, SYSTEM, rec.id)
    assert [h["kind"] for h in hist] == ["original", "withdrawal"]
    assert hist[1]["reason"] == "处罚决定已被行政复议撤销"
    # re-sending the withdrawn record reinstates it as a correction, visibly
    r = ingest(container, csv_of(tmp_path, [penalty()], "again.csv"), existing=True)
    assert r["corrected"] == 1


def test_resending_a_withdrawn_record_revives_it_with_a_note(
    container: Container, tmp_path: Path
) -> None:
    """The revival is deliberate (a corrected re-sending), the silence was not: the receipt
    names the row, the withdrawal date and the decision number."""
    rows = [penalty(CF_WSH=f"神市监罚〔2026〕{n}号") for n in (1, 2, 3)]
    path = csv_of(tmp_path, rows)
    ingest(container, path)
    with container.uow() as uow:
        rid = uow.session.scalar(
            select(RecordRow.id).where(RecordRow.key_text.endswith("神市监罚〔2026〕3号"))
        )
    assert rid is not None
    withdraw_record(container, SYSTEM, rid, "处罚决定已被撤销")
    again = ingest(container, path, existing=True)
    assert (again["corrected"], again["duplicate"], again["new"]) == (1, 2, 0)
    day = container.clock.now().astimezone(SHANGHAI).date().isoformat()
    assert again["notes"] == [f"第 3 行恢复了已于 {day} 撤销的记录（神市监罚〔2026〕3号）"]
    withdraw_record(container, SYSTEM, rid, "处罚决定再次撤销")
    # notes in row order, the revival's among the in-file repeats' (one batch on the fast path)
    later = [
        rows[2],
        penalty(CF_WSH="神市监罚〔2026〕2号", CF_NR="罚款3万元", CF_NR_FK="3"),
        penalty(CF_WSH="神市监罚〔2026〕2号", CF_NR="罚款4万元", CF_NR_FK="4"),
    ]
    third = ingest(container, csv_of(tmp_path, later, "c.csv"), existing=True)
    assert (third["corrected"], third["duplicate"]) == (2, 1)
    assert third["notes"][0] == f"第 1 行恢复了已于 {day} 撤销的记录（神市监罚〔2026〕3号）"
    # the repeated key as the department knows it: no item code, no platform subject id
    assert third["notes"][1] == "第 3 行与第 2 行主键相同（神市监罚〔2026〕2号），保留后者"
    assert len(third["notes"]) == 2
    stored = get_receipt(container, SYSTEM, again["submission_id"]).as_dict()
    assert stored["notes"] == again["notes"]
    with container.uow() as uow:
        record = uow.session.get(RecordRow, rid)
        assert record is not None and record.status == "active"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_encodings_are_detected(container: Container, tmp_path: Path, encoding: str) -> None:
    r = ingest(container, csv_of(tmp_path, [penalty()], encoding=encoding))
    assert r["new"] == 1
    expected = {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030", "gb18030": "gb18030"}
    assert r["encoding"] == expected[encoding] and r["encoding_reason"]
    with container.uow() as uow:
        v = uow.session.scalar(select(RecordVersionRow))
        assert v is not None and v.payload["CF_XDR_MC"] == "神木市大柳塔煤业有限公司"


def test_dry_run_validates_without_storing(container: Container, tmp_path: Path) -> None:
    r = ingest(
        container,
        csv_of(tmp_path, [penalty(), penalty(CF_JDRQ="2023-02-30", CF_WSH="x")]),
        dry_run=True,
    )
    assert (r["received"], r["new"], r["rejected"], r["dry_run"]) == (2, 1, 1, True)
    with container.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(SubmissionRow)) == 0
        assert s.scalar(select(func.count()).select_from(RecordRow)) == 0
        assert s.scalar(select(func.count()).select_from(RejectRow)) == 0


def test_dry_run_receipt_carries_its_rejects(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a dry run is kept: no submission id to read back, the reasons inline, the
    personal values hidden, at most DRY_RUN_REJECTS rows with the total stated."""
    from citycredit.ingest import service

    monkeypatch.setattr(service, "DRY_RUN_REJECTS", 2)
    bad_id = id_number("610802", "19991345", "001")
    rows = [
        penalty(),
        penalty(CF_WSH="神市监罚〔2026〕2号", CF_JDRQ="2023-02-30"),
        penalty(
            CF_WSH="神市监罚〔2026〕3号", CF_XDR_LB="自然人", CF_XDR_SHXYM="", CF_XDR_ZJHM=bad_id
        ),
        penalty(CF_WSH="神市监罚〔2026〕4号", CF_CFLB="打板子"),
    ]
    r = ingest(container, csv_of(tmp_path, rows), dry_run=True)
    assert (r["received"], r["new"], r["rejected"], r["dry_run"]) == (4, 1, 3, True)
    assert r["submission_id"] is None
    assert [x["row"] for x in r["rejects"]] == [2, 3]
    (date_reason,) = r["rejects"][0]["reasons"]
    assert (date_reason["field"], date_reason["value"], date_reason["code"]) == (
        "CF_JDRQ",
        "2023-02-30",
        "invalid_date",
    )
    assert "2023-02-30" in date_reason["message"]
    (id_reason,) = r["rejects"][1]["reasons"]
    assert id_reason["field"] == "CF_XDR_ZJHM" and id_reason["value"] == "[已隐去]"
    assert bad_id not in id_reason["message"] and "[已隐去]" in id_reason["message"]
    assert "试校验：问题数据共 3 行，回执列出前 2 行" in r["notes"]
    stored = ingest(container, csv_of(tmp_path, rows, "again.csv"), existing=True)
    assert stored["submission_id"] and stored["rejects"] is None and stored["rejected"] == 3
    with container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SubmissionRow)) == 1


def test_receipt_can_be_read_back(container: Container, tmp_path: Path) -> None:
    r = ingest(container, csv_of(tmp_path, [penalty()]))
    again = get_receipt(container, SYSTEM, r["submission_id"]).as_dict()
    assert {k: again[k] for k in ("received", "new", "rejected", "sha256")} == {
        k: r[k] for k in ("received", "new", "rejected", "sha256")
    }


def test_real_world_values_are_understood(container: Container, tmp_path: Path) -> None:
    rows = [
        penalty(CF_JDRQ="2026/10/10"),
        penalty(CF_WSH="b", CF_JDRQ="20261011"),
        penalty(CF_WSH="c", CF_JDRQ="2026-10-12 00:00:00"),
    ]
    r = ingest(container, csv_of(tmp_path, rows))
    assert r["new"] == 3, list_rejects(container, SYSTEM, r["submission_id"])
    with container.uow() as uow:
        dates = sorted(str(d) for d in uow.session.scalars(select(RecordRow.decision_date)))
    assert dates == ["2026-10-10", "2026-10-11", "2026-10-12"]


OTHER_ITEMS: list[tuple[str, dict[str, str], dict[str, str], str, str]] = [
    (
        "tax_credit_grade",
        {
            "NS_MC": "甲公司",
            "NS_SHXYM": CO_A,
            "NS_ND": "2025",
            "NS_DJ": "A",
            "NS_PDRQ": "2026-04-01",
        },
        {"NS_ND": "二〇二五"},
        "NS_ND",
        "invalid_integer",
    ),
    (
        "social_insurance_arrears",
        {
            "QJ_MC": "甲公司",
            "QJ_LB": "法人及非法人组织",
            "QJ_SHXYM": CO_A,
            "QJ_XZ": "养老保险",
            "QJ_SSQ": "2026-08",
            "QJ_JE": "100",
            "QJ_RDRQ": "2026-09-05",
        },
        {"QJ_SSQ": "2026-13"},
        "QJ_SSQ",
        "invalid_year_month",
    ),
    (
        "abnormal_operation",
        {
            "YC_MC": "甲公司",
            "YC_SHXYM": CO_A,
            "YC_LRYY": "未按规定报送年度报告",
            "YC_LRRQ": "2026-07-01",
            "YC_LRJG": "神木市市场监督管理局",
            "YC_ZZJG": "",
        },
        {"YC_ZZJG": "ABC"},
        "YC_ZZJG",
        "length",
    ),
]


@pytest.mark.parametrize(
    ("item", "good", "change", "field", "code"), OTHER_ITEMS, ids=[o[0] for o in OTHER_ITEMS]
)
def test_quarantine_reasons_of_other_items(
    container: Container,
    tmp_path: Path,
    item: str,
    good: dict[str, str],
    change: dict[str, str],
    field: str,
    code: str,
) -> None:
    bad = {**good, **change}
    header = list(good)
    path = write_csv(
        tmp_path / "f.csv", header, [[good[h] for h in header], [bad[h] for h in header]]
    )
    r = ingest(container, path, item=item)
    assert r["balanced"] and (r["received"], r["new"], r["rejected"]) == (2, 1, 1), r
    (reject,) = list_rejects(container, SYSTEM, r["submission_id"])
    assert [(x["field"], x["code"]) for x in reject["reasons"]] == [(field, code)]


def licence(**over: str) -> dict[str, str]:
    row = {
        "XK_XDR_MC": "神木市大柳塔煤业有限公司",
        "XK_XDR_LB": "法人及非法人组织",
        "XK_XDR_SHXYM": CO_A,
        "XK_XKWS": "准予行政许可决定书",
        "XK_WSH": "神市监许〔2026〕1号",
        "XK_XKLB": "普通",
        "XK_NR": "食品经营许可",
        "XK_JDRQ": "2026-10-10",
        "XK_YXQZ": "2026-10-10",
        "XK_YXQZI": "2031-10-09",
        "XK_XKJG": "神木市市场监督管理局",
        "XK_XKJGDM": SAMR_CODE,
        "XK_ZT": "有效",
        "XK_LYDW": SAMR,
        "XK_LYDWDM": SAMR_CODE,
    }
    row.update(over)
    return row


def test_dates_out_of_order_are_quarantined_naming_both_fields(
    container: Container, tmp_path: Path
) -> None:
    """有效期至 before 有效期自 or before the decision date: never valid, never published —
    refused with both fields and both values named (catalog `not_before`)."""
    rows = [
        licence(),
        licence(XK_WSH="2号", XK_YXQZ="2026-10-10", XK_YXQZI="2026-01-01"),
        licence(XK_WSH="3号", XK_JDRQ="2026-10-10", XK_YXQZ="2025-01-01", XK_YXQZI="2026-05-01"),
        licence(XK_WSH="4号", XK_YXQZI="长期"),  # 2099-12-31: never before anything
        licence(XK_WSH="5号", XK_YXQZ="2026-13-01", XK_YXQZI="2026-10-11"),  # only the bad date
        licence(XK_WSH="6号", XK_YXQZI="2026-10-10"),  # the same day is not before
    ]
    header = list(rows[0])
    path = write_csv(tmp_path / "l.csv", header, [[r[h] for h in header] for r in rows])
    r = ingest(container, path, item="licence")
    assert (r["received"], r["new"], r["rejected"], r["notes"]) == (6, 3, 3, []), r
    rejects = {x["row"]: x["reasons"] for x in list_rejects(container, SYSTEM, r["submission_id"])}
    assert sorted(rejects) == [2, 3, 5]
    assert rejects[2] == [
        {
            "field": "XK_YXQZI",
            "value": "2026-01-01",
            "code": "date_order",
            "message": "有效期至（XK_YXQZI）「2026-01-01」早于有效期自（XK_YXQZ）「2026-10-10」",
        }
    ]
    assert [x["message"] for x in rejects[3]] == [
        "有效期至（XK_YXQZI）「2026-05-01」早于许可决定日期（XK_JDRQ）「2026-10-10」"
    ]
    assert [(x["field"], x["code"]) for x in rejects[5]] == [("XK_YXQZ", "invalid_date")]


def test_penalty_publication_end_before_the_decision_is_quarantined(
    container: Container, tmp_path: Path
) -> None:
    header = [*HEADER, "CF_GSJZQ"]
    rows = [
        penalty(CF_GSJZQ="2027-10-10"),
        penalty(CF_WSH="神市监罚〔2026〕2号", CF_GSJZQ="2026-10-09"),
    ]
    path = write_csv(tmp_path / "p.csv", header, [[x.get(h) for h in header] for x in rows])
    r = ingest(container, path)
    assert (r["new"], r["rejected"]) == (1, 1)
    (reject,) = list_rejects(container, SYSTEM, r["submission_id"])
    assert [x["message"] for x in reject["reasons"]] == [
        "公示截止期（CF_GSJZQ）「2026-10-09」早于处罚决定日期（CF_JDRQ）「2026-10-10」"
    ]


def test_a_file_of_another_item_is_refused_whole_with_a_suggestion(
    container: Container, tmp_path: Path
) -> None:
    """A licence file sent as penalty would have every row quarantined (and count in the public
    问题数据率): it is refused before anything is stored, naming the item that fits."""
    from citycredit.shared.errors import FieldError

    rows = [licence(), licence(XK_WSH="2号")]
    header = [*rows[0], "BZ"]  # 备注 is a field of both items
    path = write_csv(tmp_path / "l.csv", header, [[r.get(h, "") for h in header] for r in rows])
    with pytest.raises(FieldError) as info:
        ingest(container, path, item="penalty")
    assert (info.value.field, info.value.value, info.value.code) == (
        "item",
        "penalty",
        "item_mismatch",
    )
    assert (
        "该文件的列与 行政处罚（penalty）不符，看起来是 行政许可（licence）" in info.value.message
    )
    with container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SubmissionRow)) == 0
    # the right item takes it; a file of the item with a few local columns is not refused
    assert ingest(container, path, item="licence", existing=True)["new"] == 2
    extra = ["本地甲", "本地乙", "本地丙"]
    row = [penalty().get(h) for h in HEADER] + ["本地"] * len(extra)
    local = write_csv(tmp_path / "p.csv", [*HEADER, *extra], [row])
    receipt = ingest(container, local, existing=True)
    assert (receipt["new"], receipt["rejected"]) == (1, 0), receipt


def test_a_file_without_any_required_field_of_the_item_is_refused(
    container: Container, tmp_path: Path
) -> None:
    from citycredit.shared.errors import FieldError

    path = write_csv(tmp_path / "f.csv", ["BZ", "其他列"], [["备注", "x"]])
    with pytest.raises(FieldError) as info:
        ingest(container, path, item="penalty")
    assert info.value.field == "item" and "没有该信息项的任何必填字段" in info.value.message
    with container.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SubmissionRow)) == 0
    assert ingest(container, csv_of(tmp_path, [penalty()]), existing=True)["new"] == 1
