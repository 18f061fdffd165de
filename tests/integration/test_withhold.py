"""不予公示 (security goal G31): a record withheld by its source department or the credit office
(涉及个人隐私 and the provincial rule's other cases) leaves every public view — the public
archive, public lists, 双公示 exports, credit reports, public sharing feeds — and stays in the
authorised view with its reason; a release brings it back; refusals answer as the rules say;
every step is a ledger leaf that `ledger verify` checks against its row and the record."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.db.migrate import drift
from citycredit.evaluation.views import NON_PUBLIC, current_evaluation
from citycredit.exports.service import export_dual_publicity
from citycredit.ingest.db import RecordRow, RecordWithholdingRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.ingest.withhold import basis_digest, release_record, withhold_record
from citycredit.kernel.outbox import deliver
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.verify import verify_log
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.reports.service import issue_report
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.sharing import service as sharing
from citycredit.sharing.fanout import fan_out
from citycredit.sharing.service import NewSubscription, pull_feed
from citycredit.subjects import archive
from citycredit.subjects.db import SubjectRow
from support import (
    PENALTY_COLUMNS,
    PENALTY_COLUMNS_WITH_ID,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

CO = uscc("91", "610802", "MA6WHD01")
COMPANY = "榆阳区不予公示测试商贸有限公司"
WSH = "榆市监罚〔2026〕71号"
BASIS = "榆市监〔2026〕不予公示审批 3 号：处罚事实涉及第三人病历"
RELEASE = "经复核不再涉及个人隐私，恢复公示"
TAX = "榆林市税务局"
DRC = "榆林市发展和改革委员会"
SHARING_BASIS = "《陕西省公共信用信息条例》第二十条；榆林市政务数据共享协议 YL-2026-07"
WARNING = {"CF_CFLB": "警告", "CF_NR": "警告", "CF_NR_FK": ""}  # 轻微 (NDRC Order No. 36)
STAFF = Principal(role=Role.credit_office_admin, label="信用办")


def submit(c: Container, who: Principal, tmp: Path, rows: list[list[Any]], **kw: Any) -> None:
    cols = kw.pop("columns", PENALTY_COLUMNS)
    path = write_csv(tmp / f"f{len(list(tmp.iterdir()))}.csv", cols, rows)
    receipt = ingest_submission(c, who, path=path, item_code="penalty", **kw)
    assert receipt.counts.rejected == 0, receipt.notes


def record_of(c: Container, wsh: str = WSH) -> RecordRow:
    with c.uow() as uow:
        rec = uow.session.scalar(select(RecordRow).where(RecordRow.key_text.contains(wsh)))
        assert rec is not None
        uow.session.expunge(rec)
        return rec


def public_ids(c: Container, subject_id: str) -> set[str]:
    view = archive.public_archive(c, ANONYMOUS, subject_id)
    return {r["record_id"] for g in view["groups"] for r in g["records"]}


def authorised_entry(c: Container, subject_id: str, rid: str) -> dict[str, Any] | None:
    view = archive.authorised_archive(c, STAFF, subject_id, purpose="案件核查")
    found = [r for g in view["groups"] for r in g["records"] if r["record_id"] == rid]
    return found[0] if found else None


def csv_rows(done: dict[str, Any]) -> list[dict[str, str]]:
    f = next(f for f in done["files"] if f["item"] == "penalty" and f["format"] == "csv")
    with (Path(done["directory"]) / f["name"]).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def pull(c: Container, who: Principal, sub: str) -> list[dict[str, Any]]:
    return list(pull_feed(c, who, sub, after=0, limit=100)["entries"])


def company(c: Container, tmp: Path) -> tuple[Principal, RecordRow]:
    samr = department(c)
    submit(c, samr, tmp, [penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CO, CF_WSH=WSH)])
    return samr, record_of(c)


# -- the public views ----------------------------------------------------------------------------


def test_withheld_record_leaves_every_public_view_and_release_brings_it_back(
    container: Container, tmp_path: Path, clock: FixedClock
) -> None:
    c = container
    samr, rec = company(c, tmp_path)
    rid, sid = rec.id, rec.subject_id
    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01"))
    add_department(c, SYSTEM, name=DRC, code=uscc("11", "610800", "MA0DRC01"))
    tax, drc = department_principal(c, TAX), department_principal(c, DRC)
    public_sub = str(
        sharing.subscribe(c, tax, NewSubscription(name="公开", items=["penalty"]))["id"]
    )
    authorised_sub = str(
        sharing.subscribe(
            c,
            drc,
            NewSubscription(
                name="联合奖惩", items=["penalty"], purpose="联合奖惩", legal_basis=SHARING_BASIS
            ),
        )["id"]
    )
    assert [e["kind"] for e in pull(c, tax, public_sub)] == ["original"]
    first = export_dual_publicity(c, SYSTEM)
    assert first["counts"]["penalty"]["新增"] == 1
    assert rid in public_ids(c, sid)
    clock.advance(hours=2)

    out = withhold_record(c, samr, rid, reason="privacy", basis=BASIS)
    assert (out["published"], out["unpublished_reason"]) == (False, "privacy")
    assert out["unpublished_label"] == "不予公示：涉及个人隐私"
    withheld_at = clock.now()
    # gone from the public archive and from a credit report issued now
    assert rid not in public_ids(c, sid)
    report = issue_report(c, ANONYMOUS, sid)
    assert rid not in json.dumps(report, ensure_ascii=False, default=str)
    assert WSH not in json.dumps(report, ensure_ascii=False, default=str)
    # the authorised view keeps it, with the reason in Chinese
    entry = authorised_entry(c, sid, rid)
    assert entry is not None and entry["published"] is False
    assert (entry["unpublished_reason"], entry["unpublished_label"]) == (
        "privacy",
        "不予公示：涉及个人隐私",
    )
    # the province takes it down with the next export
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    [down] = csv_rows(second)
    assert (down["OPERATION"], down["RECORD_ID"]) == ("删除", rid)
    assert down["CHANGE_REASON"] == "不予公示：涉及个人隐私"
    assert down["CHANGED_AT"] == withheld_at.astimezone(SHANGHAI).isoformat(timespec="seconds")
    # public feeds lose its data; the authorised feed keeps it
    fan_out(c)
    mine = pull(c, tax, public_sub)
    assert [e["kind"] for e in mine] == ["original", "publication_withheld"]
    assert mine[0]["data"] is None
    assert mine[0]["redacted"]["reason"] == "publication_withheld"
    assert "不予公示" in mine[0]["redacted"]["message"] and "不予公示" in mine[1]["note"]
    assert "隐私" not in (mine[1]["note"] or "")  # the reason stays with the authorised view
    theirs = pull(c, drc, authorised_sub)
    assert theirs[0]["data"] is not None and theirs[0]["record_id"] == rid
    # nothing more to export until it changes again
    clock.advance(hours=1)
    assert export_dual_publicity(c, SYSTEM)["counts"]["total"] == 0

    clock.advance(days=1)
    back = release_record(c, STAFF, rid, basis=RELEASE)
    assert (back["published"], back["unpublished_reason"]) == (True, None)
    assert rid in public_ids(c, sid)
    again = authorised_entry(c, sid, rid)
    assert again is not None and again["unpublished_label"] is None
    clock.advance(hours=1)
    [up] = csv_rows(export_dual_publicity(c, SYSTEM))
    assert (up["OPERATION"], up["RECORD_ID"], up["CHANGE_REASON"]) == ("新增", rid, "重新公示")
    fan_out(c)
    (released,) = [e for e in pull(c, tax, public_sub) if e["kind"] == "publication_released"]
    assert released["data"] is not None and released["data"]["subject"]["uscc"] == CO


def test_a_list_entry_mirroring_a_withheld_record_leaves_the_public_list(
    container: Container, tmp_path: Path
) -> None:
    """A court's 失信被执行人 listing comes from its record: withheld, it leaves the public list
    (read-time rule, lists.service.public_view_filter) and the lists trail says so."""
    c = container
    court = "榆林市中级人民法院"
    add_department(c, SYSTEM, name=court, code=uscc("11", "610800", "MA0CRT01"), kind="court")
    cols = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_ZJHM", "SX_AH", "SX_ZXFY", "SX_YW", "SX_SXQX"]
    cols += ["SX_FBRQ", "SX_YCRQ"]
    person = id_number("610802", "19800304", "456")
    row = ["张大山", "自然人", "", person, "(2026)陕0802执101号", court, "偿还借款",
           "有履行能力而拒不履行", "2026-11-02", ""]  # fmt: skip
    who = department_principal(c, court)
    path = write_csv(tmp_path / "sx.csv", cols, [row])
    ingest_submission(c, who, path=path, item_code="judgment_defaulter")
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    jd = "judgment_defaulter"

    def names() -> list[str]:
        return [e["name"] for e in lists.public_list(c, ANONYMOUS, jd)["entries"]]

    assert names() == ["张大山"]
    with c.uow() as uow:
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.item_code == jd))
        mid = uow.session.scalar(select(MembershipRow.id).where(MembershipRow.record_id == rid))
    assert rid is not None and mid is not None
    withhold_record(c, who, rid, reason="涉及个人隐私", basis="(2026)陕08执监1号决定")
    assert names() == []  # at once, before any consumer runs
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    release_record(c, who, rid, basis="(2026)陕08执监2号决定")
    assert names() == ["张大山"]
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        trail = list(
            uow.session.scalars(
                select(MembershipEventRow.action)
                .where(MembershipEventRow.membership_id == mid)
                .order_by(MembershipEventRow.id)
            )
        )
    assert trail == ["ingest", "conceal", "reveal"]


@pytest.mark.parametrize("fast", [False, True], ids=["row", "vectorised"])
def test_a_correction_keeps_a_withheld_record_withheld(
    container: Container, tmp_path: Path, fast: bool
) -> None:
    c = container
    samr, rec = company(c, tmp_path)
    withhold_record(c, samr, rec.id, reason="trade_secret", basis=BASIS)
    corrected = penalty_row(
        CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CO, CF_WSH=WSH, CF_NR="罚款3万元", CF_NR_FK="3"
    )
    submit(c, samr, tmp_path, [corrected], fast=fast)
    after = record_of(c)
    assert after.current_version == 2
    assert (after.published, after.unpublished_reason) == (False, "trade_secret")
    assert rec.id not in public_ids(c, rec.subject_id)
    release_record(c, samr, rec.id, basis=RELEASE)
    assert rec.id in public_ids(c, rec.subject_id)


# -- refusals ------------------------------------------------------------------------------------


def test_refusals(container: Container, tmp_path: Path) -> None:
    c = container
    samr, rec = company(c, tmp_path)
    tax = department(c, TAX, "MA0TAX01")
    # another department's record answers exactly like a missing one (G8)
    with pytest.raises(NotFound) as missing:
        withhold_record(c, samr, "r0nosuchrecord000000", reason="privacy", basis=BASIS)
    with pytest.raises(NotFound) as other:
        withhold_record(c, tax, rec.id, reason="privacy", basis=BASIS)
    assert (other.value.code, other.value.message) == (
        missing.value.code,
        missing.value.message.replace("r0nosuchrecord000000", rec.id),
    )
    with pytest.raises(NotFound):
        release_record(c, tax, rec.id, basis=RELEASE)
    # roles that never withhold are refused before anything is loaded
    agent = Principal(role=Role.enterprise_agent, label="代理人")
    with pytest.raises(PermissionDenied):
        withhold_record(c, agent, rec.id, reason="privacy", basis=BASIS)
    # bad reason and basis name the field and value
    with pytest.raises(FieldError) as bad:
        withhold_record(c, samr, rec.id, reason="secret", basis=BASIS)
    assert (bad.value.field, bad.value.value) == ("reason", "secret")
    assert "privacy（涉及个人隐私）" in bad.value.message
    for basis in ("", "  太短 "):
        with pytest.raises(FieldError) as short:
            withhold_record(c, samr, rec.id, reason="privacy", basis=basis)
        assert short.value.field == "basis" and short.value.value == basis.strip()
    with pytest.raises(FieldError) as short_release:
        release_record(c, samr, rec.id, basis="好")
    assert short_release.value.field == "basis"
    # release of a record that is not withheld; withheld twice
    with pytest.raises(Conflict) as not_withheld:
        release_record(c, samr, rec.id, basis=RELEASE)
    assert not_withheld.value.code == "not_withheld"
    withhold_record(c, samr, rec.id, reason="security", basis=BASIS)
    with pytest.raises(Conflict) as twice:
        withhold_record(c, STAFF, rec.id, reason="privacy", basis=BASIS)
    assert twice.value.code == "already_withheld" and "社会稳定" in twice.value.message
    # a withdrawn record
    withdraw_record(c, samr, rec.id, "复议撤销")
    for call in (
        lambda: withhold_record(c, samr, rec.id, reason="privacy", basis=BASIS),
        lambda: release_record(c, samr, rec.id, basis=RELEASE),
    ):
        with pytest.raises(Conflict) as gone:
            call()
        assert gone.value.code == "record_withdrawn"
    with c.uow() as uow:
        steps = uow.session.scalar(
            select(RecordWithholdingRow.action).where(RecordWithholdingRow.record_id == rec.id)
        )
    assert steps == "withhold"  # refusals wrote nothing


def test_minors_and_minor_severity_records_are_never_released(
    container: Container, tmp_path: Path
) -> None:
    c = container
    samr = department(c)
    minor_id = id_number("610802", "20100304", "123")  # 16 on the decision date
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="王小明",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=minor_id,
            CF_WSH="榆市监罚〔2026〕72号",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=COMPANY,
            CF_XDR_SHXYM=CO,
            CF_WSH="榆市监罚〔2026〕73号",
            **WARNING,
        ),
    ]
    submit(c, samr, tmp_path, rows, columns=PENALTY_COLUMNS_WITH_ID)
    minor, light = record_of(c, "72号"), record_of(c, "73号")
    assert (minor.unpublished_reason, light.unpublished_reason) == ("minor", "severity")
    with pytest.raises(Conflict) as m:
        release_record(c, samr, minor.id, basis=RELEASE)
    assert m.value.code == "minor_not_publishable" and "十八周岁" in m.value.message
    with pytest.raises(Conflict) as w:
        release_record(c, samr, light.id, basis=RELEASE)
    assert w.value.code == "minor_severity_not_publishable" and "轻微" in w.value.message
    # withholding a record that is not published anyway is refused, naming why
    with pytest.raises(Conflict) as already:
        withhold_record(c, samr, minor.id, reason="privacy", basis=BASIS)
    assert already.value.code == "not_published" and "未成年人" in already.value.message
    assert record_of(c, "72号").unpublished_reason == "minor"


# -- the ledger ----------------------------------------------------------------------------------


def test_steps_are_ledger_leaves_that_verify_checks(container: Container, tmp_path: Path) -> None:
    c = container
    samr, rec = company(c, tmp_path)
    rid = rec.id
    first = withhold_record(c, samr, rid, reason="privacy", basis=BASIS)
    second = release_record(c, STAFF, rid, basis=RELEASE)
    third = withhold_record(c, STAFF, rid, reason="state_secret", basis=BASIS + "（二）")
    ledger.integrate_now(c)
    report = verify_log(c)
    assert report.ok, report.as_dict()
    refs = [
        f"{rid}/withheld/{first['step_id']}",
        f"{rid}/released/{second['step_id']}",
        f"{rid}/withheld/{third['step_id']}",
    ]
    with c.uow() as uow:
        leaves = {
            leaf.ref: leaf
            for leaf in uow.session.scalars(
                select(LedgerLeafRow).where(LedgerLeafRow.ref.in_(refs))
            )
        }
    assert sorted(leaves) == sorted(refs)
    assert [leaves[r].entry_type for r in refs] == [
        "record.withheld",
        "record.released",
        "record.withheld",
    ]
    for leaf in leaves.values():  # the basis is free text: only its digest is committed
        data = bytes(leaf.data).decode()
        assert "不予公示审批" not in data and basis_digest(BASIS) not in data
        assert json.loads(data)["subject_id"] == rec.subject_id

    # the record published behind the workflow's back (the newest step withholds it)
    with c.uow() as uow:
        uow.session.execute(
            update(RecordRow)
            .where(RecordRow.id == rid)
            .values(published=True, unpublished_reason=None)
        )
        uow.commit()
    report = verify_log(c)
    assert not report.ok
    named = {(x["ref"], x["table"], x["row_id"], tuple(x["fields"])) for x in report.changed}
    assert named == {(refs[2], "records", rid, ("published", "unpublished_reason"))}
    with c.uow() as uow:
        idx = uow.session.scalar(select(LedgerLeafRow.idx).where(LedgerLeafRow.ref == refs[2]))
    assert report.first_bad_index == idx

    # put back; then a step's basis and reason edited
    with c.uow() as uow:
        uow.session.execute(
            update(RecordRow)
            .where(RecordRow.id == rid)
            .values(published=False, unpublished_reason="state_secret")
        )
        uow.session.execute(
            update(RecordWithholdingRow)
            .where(RecordWithholdingRow.id == first["step_id"])
            .values(basis="另一依据文书", reason="trade_secret")
        )
        uow.commit()
    report = verify_log(c)
    named = {(x["ref"], x["table"], x["row_id"], tuple(x["fields"])) for x in report.changed}
    assert named == {(refs[0], "record_withholdings", first["step_id"], ("reason", "basis_sha256"))}

    # a step row deleted; a step row inserted with no leaf
    with c.uow() as uow:
        uow.session.execute(
            update(RecordWithholdingRow)
            .where(RecordWithholdingRow.id == first["step_id"])
            .values(basis=BASIS, reason="privacy")
        )
        uow.session.execute(
            delete(RecordWithholdingRow).where(RecordWithholdingRow.id == second["step_id"])
        )
        uow.session.execute(
            insert(RecordWithholdingRow).values(
                id=9999,
                record_id=rid,
                action="release",
                reason=None,
                basis="伪造的恢复",
                department_id=None,
                actor="x",
                at=c.clock.now(),
            )
        )
        uow.commit()
    report = verify_log(c)
    assert report.deleted == [refs[1]]
    assert report.inserted == [f"{rid}/released/9999"]


def test_models_and_migration_0029_agree(container: Container) -> None:
    """`citycredit db check` for the table of this workflow, on both databases."""
    assert [d for d in drift(container.engine) if "record_withholdings" in repr(d)] == []


def test_released_record_keeps_published_state_consistent_with_day(
    container: Container, tmp_path: Path
) -> None:
    """The withholding does not move the record's publication period (公示期 runs on)."""
    c = container
    samr, rec = company(c, tmp_path)
    withhold_record(c, samr, rec.id, reason="privacy", basis=BASIS)
    release_record(c, samr, rec.id, basis=RELEASE)
    after = record_of(c)
    assert (after.publication_end, after.decision_date) == (rec.publication_end, rec.decision_date)
    assert after.decision_date == date(2026, 11, 2)


# -- evaluation ----------------------------------------------------------------------------------

FARMER = id_number("610802", "19760512", "731")
REG_HEADER = ["DJ_MC", "DJ_ZTLX", "DJ_ZJHM", "DJ_CLRQ", "DJ_ZS", "DJ_ZT"]


def evaluate_now(c: Container) -> None:
    """Deliver everything pending to the consumers the evaluation depends on, in order."""
    for name in ("lists", "evaluation"):
        deliver(c.uow, name, c.consumers[name], at=c.clock.now())


def current(c: Container, sid: str) -> dict[str, Any]:
    view = current_evaluation(c, STAFF, sid, view="authorised", purpose="不予公示评价核对")
    result = view["current"]
    assert result is not None
    return dict(result)


def test_withholding_and_release_each_reevaluate_the_subject(
    container: Container, tmp_path: Path, clock: FixedClock
) -> None:
    """The `evaluation` consumer re-scores on `record.withheld` / `record.released`: a 农户's
    published-only indicator stops counting a withheld penalty and counts it again after the
    release. The enterprise model counts a penalty whether published or not (the decision
    stands): the company's result stays as it was, its public view hides the indicator."""
    c = container
    samr = department(c)
    reg = write_csv(
        tmp_path / "reg.csv",
        REG_HEADER,
        [["高长河", "农户", FARMER, "2018-03-01", "陕西省榆林市榆阳区测试村", "存续"]],
    )
    receipt = ingest_submission(c, samr, path=reg, item_code="registration")
    assert receipt.counts.new == 1 and receipt.counts.rejected == 0, receipt.notes
    farmer_penalty = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="高长河",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=FARMER,
        CF_WSH="榆市监罚〔2026〕72号",
    )
    submit(c, samr, tmp_path, [farmer_penalty], columns=PENALTY_COLUMNS_WITH_ID)
    submit(c, samr, tmp_path, [penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CO, CF_WSH=WSH)])
    farm, firm = record_of(c, "榆市监罚〔2026〕72号"), record_of(c)
    with c.uow() as uow:
        kind = uow.session.scalar(
            select(SubjectRow.subject_type).where(SubjectRow.subject_id == farm.subject_id)
        )
    assert kind == "farm_household" and farm.published and farm.severity == "general"
    evaluate_now(c)
    before = current(c, farm.subject_id)
    assert before["model_code"] == "farm_household" and before["trigger"] == "record.accepted"
    points = {i["code"]: (i["value"], i["points"]) for i in before["indicators"]}
    assert points["penalty_general_in_force"] == (1, -20)
    assert before["score"] == 580
    firm_before = current(c, firm.subject_id)
    shown = current_evaluation(c, ANONYMOUS, firm.subject_id, view="public")["current"]
    assert shown is not None
    assert "penalty_general_in_force" in [i["code"] for i in shown["indicators"]]

    clock.advance(hours=1)
    withhold_record(c, samr, farm.id, reason="privacy", basis=BASIS)
    withhold_record(c, samr, firm.id, reason="trade_secret", basis=BASIS)
    evaluate_now(c)
    withheld = current(c, farm.subject_id)
    assert withheld["trigger"] == "record.withheld"
    points = {i["code"]: (i["value"], i["points"]) for i in withheld["indicators"]}
    assert points["penalty_general_in_force"] == (0, 0)
    assert withheld["score"] == 600
    assert "penalty_general_in_force" not in [r["code"] for r in withheld["reasons"]]
    # the company's result is unchanged: a triggered result equal to the current one is not
    # stored again (evaluation.service.store_results, skip_unchanged)
    firm_withheld = current(c, firm.subject_id)
    assert firm_withheld["result_id"] == firm_before["result_id"]
    assert (firm_withheld["trigger"], firm_withheld["score"]) == ("record.accepted", 565)
    # … and its public evaluation folds the withheld penalty into the non-public line
    shown = current_evaluation(c, ANONYMOUS, firm.subject_id, view="public")["current"]
    assert shown is not None and shown["score"] == 565
    codes = [i["code"] for i in shown["indicators"]]
    assert "penalty_general_in_force" not in codes and NON_PUBLIC in codes

    clock.advance(hours=1)
    release_record(c, STAFF, farm.id, basis=RELEASE)
    evaluate_now(c)
    released = current(c, farm.subject_id)
    assert released["trigger"] == "record.released"
    points = {i["code"]: (i["value"], i["points"]) for i in released["indicators"]}
    assert points["penalty_general_in_force"] == (1, -20)
    assert released["score"] == 580
