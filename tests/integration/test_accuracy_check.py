"""G40: published records re-checked against the source department's snapshot (both databases).

A department's file is ingested; its snapshot is the same rows with injected errors (a changed
amount, date and name, a deleted row, a bad row) and dirty-but-equivalent values on untouched
rows. With the whole population sampled, every injected error is detected with its outcome and
field, and nothing else is reported.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.bootstrap import Container
from citycredit.ingest.accuracy import (
    check_dropped_snapshots,
    close_item,
    get_check,
    list_checks,
    run_accuracy_check,
)
from citycredit.ingest.db import (
    AccuracyCheckItemRow,
    AccuracyCheckRow,
    RecordRow,
    RecordVersionRow,
)
from citycredit.ingest.readers import ReadError
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.jobs import run_due
from citycredit.shared.errors import Conflict, FieldError, PermissionDenied
from support import PENALTY_COLUMNS_WITH_ID, SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

HEADER = PENALTY_COLUMNS_WITH_ID
SAMR_CODE = uscc("11", "610800", "MA0CAMR1")
PERSON_ID = id_number("610802", "19850505", "321")
PERSON = "王小明"
OTHER = "榆林市税务局"


def _no(n: int) -> str:
    return f"榆市监罚〔2026〕{n}号"


def penalty(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "CF_XDR_MC": f"榆阳区第{n}商贸有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": uscc("91", "610802", f"MA6AC{n:02d}1"),
        "CF_WSH": _no(n),
        "CF_WFXW": "未按规定公示年度报告",
        "CF_SY": "经查，当事人未按规定公示年度报告",
        "CF_YJ": "《企业信息公示暂行条例》第十八条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": "2026-11-02",
        "CF_CFJG": SAMR,
        "CF_CFJGDM": SAMR_CODE,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": SAMR_CODE,
    }
    row.update(over)
    return row


def person(n: int, **over: Any) -> dict[str, Any]:
    values = {"CF_XDR_MC": PERSON, "CF_XDR_LB": "自然人", "CF_XDR_SHXYM": ""}
    return penalty(n, **{**values, "CF_XDR_ZJHM": PERSON_ID, **over})


def csv_of(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write_csv(path, HEADER, [[r.get(h) for h in HEADER] for r in rows])


# What the department holds today: eight published records (1–8) and one 轻微 record (9, a
# 1,000 元 fine: not published, so never sampled).
ORIGINAL = [*(penalty(n) for n in range(1, 7)), person(7), penalty(8)]
UNPUBLISHED = penalty(9, CF_NR="罚款1000元", CF_NR_FK="0.1")


def snapshot_rows() -> list[dict[str, Any]]:
    """The source system today: injected errors on 1, 2, 3, 4 (deleted), 5 and 7; 6 untouched;
    8 written differently but equal once normalised; plus rows not on the public view."""
    return [
        penalty(1, CF_NR_FK="3"),  # amount: 3万元 at the source, 2万元 published
        penalty(2, CF_JDRQ="2026-11-05"),  # decision date
        penalty(3, CF_XDR_MC="榆阳区第三商贸有限责任公司"),  # name
        # 4: deleted at the source
        penalty(5, CF_JDRQ="2026-02-30"),  # bad row: an impossible date
        penalty(6),
        person(7, CF_XDR_MC="王晓明"),  # a person's name: field code only, never the values
        penalty(  # dirty but equivalent: full-width digits, another date layout, spaces
            8,
            CF_NR_FK="２",
            CF_JDRQ="2026年11月2日",
            CF_XDR_MC="  榆阳区第8商贸有限公司 ",
        ),
        penalty(9, CF_NR="罚款1000元", CF_NR_FK="0.3"),  # not published: not judged
        penalty(10),  # a record we never received: not judged
    ]


EXPECTED = {
    _no(1): ("mismatch", ["CF_NR_FK"]),
    _no(2): ("mismatch", ["CF_JDRQ"]),
    _no(3): ("mismatch", ["CF_XDR_MC"]),
    _no(4): ("missing_at_source", []),
    _no(5): ("unparseable_at_source", []),
    _no(6): ("match", []),
    _no(7): ("mismatch", ["CF_XDR_MC"]),
    _no(8): ("match", []),
}
INJECTED = {k for k, (outcome, _) in EXPECTED.items() if outcome != "match"}


@pytest.fixture
def samr(container: Container, tmp_path: Path) -> Principal:
    c = container
    actor = department(c)
    path = csv_of(tmp_path / "penalty.csv", [*ORIGINAL, UNPUBLISHED])
    receipt = ingest_submission(c, actor, path=path, item_code="penalty")
    assert receipt.counts.new == 9 and receipt.counts.rejected == 0
    return actor


def records_by_number(c: Container) -> dict[str, str]:
    with c.uow() as uow:
        rows = uow.session.scalars(select(RecordRow))
        return {r.key_text.rsplit("|", 1)[1]: r.id for r in rows}


def versions(c: Container) -> int:
    with c.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(RecordVersionRow)) or 0)


def events(c: Container, action: str) -> list[AuditEventRow]:
    with c.uow() as uow:
        stmt = select(AuditEventRow).where(AuditEventRow.action == action)
        return list(uow.session.scalars(stmt.order_by(AuditEventRow.id)))


def test_every_injected_error_is_detected_and_nothing_else(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    ids = records_by_number(c)
    before = versions(c)
    snap = csv_of(tmp_path / "snapshot.csv", snapshot_rows())
    report = run_accuracy_check(
        c, SAMR_CODE, snap, item_code="penalty", seed=20261125, actor=SYSTEM
    )
    # The population: the eight published records (the 轻微 one is not published).
    assert report["population"] == 8 and report["sampled"] == 8
    assert report["sample_rule"] == "formula" and report["seed"] == 20261125
    by_record = {i["record_id"]: i for i in report["items"]}
    assert set(by_record) == {ids[n] for n in EXPECTED}
    for number, (outcome, fields) in EXPECTED.items():
        got = by_record[ids[number]]
        assert got["outcome"] == outcome, (number, got)
        assert [f["field"] for f in got["fields"]] == fields, (number, got)
        assert got["status"] == ("ok" if outcome == "match" else "open")
    detected = {n for n in EXPECTED if by_record[ids[n]]["outcome"] != "match"}
    assert detected == INJECTED  # 100 % of the injected set, no false positive

    amount = by_record[ids[_no(1)]]["fields"][0]
    assert (amount["published"], amount["source"]) == ("20000.00", "30000.00")
    date = by_record[ids[_no(2)]]["fields"][0]
    assert (date["published"], date["source"]) == ("2026-11-02", "2026-11-05")
    name = by_record[ids[_no(3)]]["fields"][0]
    assert name["source"] == "榆阳区第三商贸有限责任公司"
    (reason,) = by_record[ids[_no(5)]]["reasons"]
    assert reason["field"] == "CF_JDRQ" and reason["code"] == "invalid_date"
    assert by_record[ids[_no(5)]]["source_row"] == 4
    assert by_record[ids[_no(4)]]["source_row"] is None
    person_item = by_record[ids[_no(7)]]
    assert person_item["fields"] == [
        {"field": "CF_XDR_MC", "label": "行政相对人名称", "values_withheld": True}
    ]

    assert report["counts"] == {
        "match": 2,
        "mismatch": 4,
        "missing_at_source": 1,
        "unparseable_at_source": 1,
    }
    assert report["error_rate"] == round(5 / 8, 4)
    assert 0 < report["ci_low"] < 5 / 8 < report["ci_high"] < 1
    assert report["open"] == 6
    assert "CF_XDR_ZJHM" not in report["compared_fields"]  # personal: never compared
    assert "CF_NR_FK" in report["compared_fields"]

    # Nothing was changed: the records keep their versions.
    assert versions(c) == before
    # Stored: the same report read back; no personal value anywhere in it.
    again = get_check(c, SYSTEM, report["id"])
    assert again["items"] == report["items"] and again["counts"] == report["counts"]
    stored = json.dumps(again, ensure_ascii=False)
    for secret in (PERSON, "王晓明", PERSON_ID):
        assert secret not in stored
    (listed,) = list_checks(c, SYSTEM)
    assert listed["id"] == report["id"] and listed["open"] == 6
    # Audited, with counts and rate only.
    (event,) = events(c, "quality.accuracy_check")
    assert event.result == "success" and event.object_id == report["id"]
    assert event.detail["mismatch"] == 4 and event.detail["missing_at_source"] == 1
    assert event.detail["sampled"] == 8 and event.detail["error_rate"] == 5 / 8
    audit_text = json.dumps(event.detail, ensure_ascii=False)
    assert PERSON not in audit_text and PERSON_ID not in audit_text
    with c.uow() as uow:
        emitted = uow.session.scalar(
            select(func.count())
            .select_from(OutboxEventRow)
            .where(OutboxEventRow.event_type == "accuracy.checked")
        )
    assert emitted == 1


def test_a_faithful_snapshot_has_no_errors(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    snap = csv_of(tmp_path / "same.csv", [*ORIGINAL, UNPUBLISHED])
    report = run_accuracy_check(container, SAMR, snap, item_code="penalty", actor=samr)
    assert report["counts"]["match"] == 8 and report["error_rate"] == 0
    assert report["ci_low"] == 0 and 0 < report["ci_high"] < 0.4
    assert report["open"] == 0


def test_the_seed_makes_the_sample_repeatable(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    snap = csv_of(tmp_path / "snapshot.csv", snapshot_rows())

    def sample(seed: int) -> list[str]:
        report = run_accuracy_check(
            c, SAMR_CODE, snap, item_code="penalty", sample_size=3, seed=seed, actor=SYSTEM
        )
        assert report["sample_rule"] == "argument" and report["population"] == 8
        return [i["record_id"] for i in report["items"]]

    first = sample(7)
    assert len(first) == 3 and sample(7) == first
    assert len({tuple(sample(s)) for s in range(1, 9)}) > 1  # other seeds, other samples
    # A sample larger than the population is the population, said so.
    whole = run_accuracy_check(
        c, SAMR_CODE, snap, item_code="penalty", sample_size=50, seed=1, actor=SYSTEM
    )
    assert whole["sampled"] == 8 and any("超过公示中记录数" in n for n in whole["notes"])
    # Without a seed one is drawn and stored, so the check can be repeated.
    drawn = run_accuracy_check(c, SAMR_CODE, snap, item_code="penalty", sample_size=3, actor=SYSTEM)
    assert isinstance(drawn["seed"], int)
    repeat = run_accuracy_check(
        c, SAMR_CODE, snap, item_code="penalty", sample_size=3, seed=drawn["seed"], actor=SYSTEM
    )
    assert [i["record_id"] for i in repeat["items"]] == [i["record_id"] for i in drawn["items"]]


def test_bad_arguments_and_other_departments_are_refused(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    snap = csv_of(tmp_path / "snapshot.csv", snapshot_rows())
    with pytest.raises(FieldError) as bad:
        run_accuracy_check(c, SAMR, snap, item_code="penalty", sample_size=0, actor=SYSTEM)
    assert bad.value.field == "sample_size" and bad.value.value == "0"
    with pytest.raises(FieldError) as seed:
        run_accuracy_check(c, SAMR, snap, item_code="penalty", seed=-1, actor=SYSTEM)
    assert seed.value.field == "seed"
    other = department(c, OTHER, "MA0CTAX1")
    with pytest.raises(PermissionDenied):
        run_accuracy_check(c, SAMR, snap, item_code="penalty", actor=other)
    with pytest.raises(PermissionDenied):
        run_accuracy_check(
            c, SAMR, snap, item_code="penalty", actor=Principal(role=Role.public, label="x")
        )
    report = run_accuracy_check(c, SAMR, snap, item_code="penalty", actor=samr)
    with pytest.raises(PermissionDenied):
        get_check(c, other, report["id"])
    assert list_checks(c, other) == []
    assert [r["id"] for r in list_checks(c, samr)] == [report["id"]]


def test_an_unreadable_snapshot_is_a_failed_check_in_the_trail(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("甲,乙\n1,2\n", encoding="utf-8")
    with pytest.raises(ReadError) as exc:
        run_accuracy_check(c, SAMR, wrong, item_code="penalty", actor=SYSTEM)
    assert exc.value.field == "header"
    (failed,) = list_checks(c, SYSTEM)
    assert failed["status"] == "failed" and failed["sampled"] == 0
    assert "列名" in failed["error"]["message"]
    (event,) = events(c, "quality.accuracy_check")
    assert event.result == "failure" and event.object_id == failed["id"]


def test_a_clerk_closes_a_discrepancy_without_touching_the_record(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    snap = csv_of(tmp_path / "snapshot.csv", snapshot_rows())
    report = run_accuracy_check(c, SAMR, snap, item_code="penalty", actor=SYSTEM)
    before = versions(c)
    target = next(i for i in report["items"] if i["outcome"] == "mismatch")
    matched = next(i for i in report["items"] if i["outcome"] == "match")
    with pytest.raises(FieldError):
        close_item(c, SYSTEM, target["id"], " ")
    with pytest.raises(PermissionDenied):
        close_item(c, samr, target["id"], "已通知更正")
    done = close_item(c, SYSTEM, target["id"], "已通知报送部门更正并重新报送")
    assert done["status"] == "closed" and done["closed_by"] == "system"
    with pytest.raises(Conflict):
        close_item(c, SYSTEM, target["id"], "再次处理")
    with pytest.raises(Conflict):
        close_item(c, SYSTEM, matched["id"], "一致的无需处理")
    assert get_check(c, SYSTEM, report["id"])["open"] == report["open"] - 1
    assert versions(c) == before
    assert len(events(c, "quality.accuracy_item_close")) == 1


def test_the_job_checks_a_dropped_snapshot_once(
    container: Container, samr: Principal, tmp_path: Path
) -> None:
    c = container
    folder = c.settings.data_dir / "accuracy" / SAMR_CODE / "penalty"
    folder.mkdir(parents=True)
    older = csv_of(folder / "a-older.csv", [*ORIGINAL, UNPUBLISHED])
    dropped = csv_of(folder / "b-snapshot.csv", snapshot_rows())
    os.utime(older, (1_700_000_000, 1_700_000_000))
    (c.settings.data_dir / "accuracy" / "NOSUCHDEPT").mkdir()

    (job,) = run_due(c, only="accuracy_check")
    assert job.status == "ok", job.detail
    (checked,) = job.detail["checked"]
    assert checked["path"] == f"{SAMR_CODE}/penalty/b-snapshot.csv"  # the newest only
    assert checked["sampled"] == 8 and checked["open"] == 6
    assert checked["error_rate"] == round(5 / 8, 4)
    assert any(i["path"] == "NOSUCHDEPT" for i in job.detail["ignored"])
    report = get_check(c, SYSTEM, checked["id"])
    assert report["trigger"] == "job" and report["filename"] == "b-snapshot.csv"
    # Private, as the sharing exchange folder: folders 0700, the snapshot 0600.
    for path in (c.settings.data_dir / "accuracy", folder.parent, folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE(dropped.stat().st_mode) == 0o600

    again = check_dropped_snapshots(c)
    assert again["checked"] == [] and again["skipped"] == 1
    # A new snapshot is checked (once); an unreadable one fails once and is not retried.
    newer = csv_of(folder / "c-newer.csv", [*ORIGINAL, UNPUBLISHED])
    os.utime(newer, (4_000_000_000, 4_000_000_000))
    (fresh,) = check_dropped_snapshots(c)["checked"]
    assert fresh["path"].endswith("c-newer.csv") and fresh["error_rate"] == 0
    broken = folder / "d-broken.json"
    broken.write_text('[{"甲": 1}]', encoding="utf-8")
    os.utime(broken, (4_100_000_000, 4_100_000_000))
    (failed,) = check_dropped_snapshots(c)["failed"]
    assert failed["path"].endswith("d-broken.json")
    last = check_dropped_snapshots(c)
    assert last["failed"] == [] and last["checked"] == [] and last["skipped"] == 1
    with c.uow() as uow:
        statuses = sorted(uow.session.scalars(select(AccuracyCheckRow.status)))
        items = uow.session.scalar(select(func.count()).select_from(AccuracyCheckItemRow))
    assert statuses == ["completed", "completed", "failed"] and items == 16
