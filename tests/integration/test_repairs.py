"""信用修复 end to end on both databases: eligibility shown first, the review clocks, and on
approval every surface stops showing the record, consumers get receipts, the commitment is
public, decisions go back to the province; denial, refusal, fraud revocation, forwarded files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.commitments.db import CommitmentRow
from citycredit.evaluation import views
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.lists import service as lists
from citycredit.rights import repairs
from citycredit.rights.notices import inbox
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.subjects.archive import authorised_archive, public_archive
from citycredit.web.app import create_app
from evaluation_support import deliver
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

COMPANY = "榆阳区修复商贸有限公司"
CODE = uscc("91", "610802", "MA6RP001")
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")
MATERIALS = [
    {"code": "performance_proof", "name": "罚款缴纳凭证.pdf", "sha256": "b" * 64},
    {"code": "commitment", "name": "信用修复承诺书.pdf", "sha256": "c" * 64},
]
PROMISE = "本企业承诺所提交材料真实有效，如有虚假愿承担相应法律责任。"


def setup(c: Container, tmp: Path, decided: str = "2026-06-01") -> tuple[str, str]:
    """A 一般 penalty (2万元) decided on `decided`: minimum 3 months, published 1 year."""
    samr = department(c)
    row = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_JDRQ=decided)
    path = write_csv(tmp / "p.csv", PENALTY_COLUMNS, [row])
    ingest_submission(c, samr, path=path, item_code="penalty")
    with c.uow() as uow:
        r = uow.session.scalars(select(RecordRow)).one()
        assert r.severity == "general"
        return r.subject_id, r.id


def shown(view: dict[str, Any]) -> set[str]:
    """Record ids an archive view shows."""
    return {e["record_id"] for g in view["groups"] for e in g["records"]}


def apply(c: Container, record_id: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "target_type": "record",
        "target_id": record_id,
        "reasons": "罚款已全额缴纳，违法行为已整改",
        "commitment_text": PROMISE,
        "materials": MATERIALS,
        "channel": "window",
    }
    args.update(kw)
    return repairs.file_repair(c, CLERK, **args)


def test_eligibility_is_shown_before_applying(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    # 3 months from 2026-09-01 run 09-02 … 12-01 (民法典 201/202): repair opens 12-02.
    _, rid = setup(c, tmp_path, decided="2026-09-01")
    e = repairs.record_eligibility(c, CLERK, rid)
    assert e["eligible"] is False and e["message"] == "暂不可申请修复：自 2026-12-02 起可申请"
    with pytest.raises(Conflict, match="2026-12-02"):
        apply(c, rid)
    clock.advance(days=6)  # 2026-12-01 10:00 Shanghai: the minimum's last day
    assert repairs.record_eligibility(c, CLERK, rid)["eligible"] is False
    clock.advance(days=1)
    assert repairs.record_eligibility(c, CLERK, rid)["eligible"] is True
    assert apply(c, rid)["status"]["code"] == "submitted"


def test_approved_repair_stops_publication_and_notifies_consumers(
    container: Container, tmp_path: Path
) -> None:
    c = container
    sid, rid = setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    tax = department(c, "榆林市税务局", "MA0TAX01")
    # The tax bureau read the archive (authorised view, logged): it is a consumer of the record.
    seen = authorised_archive(c, tax, sid, purpose="纳税信用评价")
    assert seen["total"] == 1
    assert public_archive(c, ANONYMOUS, sid)["total"] == 1
    v = apply(c, rid)
    assert v["clocks"][0]["due"] == "2026-11-30"  # 3 working days after Wed 11-25
    with pytest.raises(PermissionDenied):
        repairs.accept(c, samr, v["id"])
    v = repairs.accept(c, CLERK, v["id"])
    assert v["clocks"][1]["due"] == "2026-12-09"  # 10 working days
    with pytest.raises(NotFound) as hidden:  # 谁认定、谁修复: not another department (G8)
        repairs.decide(c, tax, v["id"], approve=True, reason="同意")
    assert hidden.value.code == "repair_not_found"
    v = repairs.decide(c, samr, v["id"], approve=True, reason="已履行法定义务，同意修复")
    assert v["status"]["code"] == "approved"
    assert [r["consumer"]["label"] for r in v["receipts"]] == ["榆林市税务局"]
    assert v["receipts"][0]["via"] == "disclosure" and v["receipts"][0]["acknowledged_at"] is None
    # Publication and sharing stop: public and authorised views no longer show the record.
    assert rid not in shown(public_archive(c, ANONYMOUS, sid))
    assert rid not in shown(authorised_archive(c, tax, sid, purpose="纳税信用评价"))
    with c.uow() as uow:
        s = uow.session
        record = s.get(RecordRow, rid)
        assert record is not None and record.repaired_at is not None and record.repair_id == v["id"]
        events = s.scalars(
            select(OutboxEventRow.event_type).where(OutboxEventRow.aggregate_id == rid)
        ).all()
        assert "record.repaired" in events
        commitment = s.scalars(select(CommitmentRow)).one()
        assert commitment.kind == "repair" and commitment.subject_id == sid
        tax_box = inbox(s, "department", str(tax.department_id))
        subject_box = inbox(s, "subject", sid)
    assert tax_box[0]["topic"] == "repair.stop_use"
    assert any("信用修复成功" in n["title"] for n in subject_box)
    assert v["commitment_id"] == commitment.id
    # The consumer acknowledges; another department cannot acknowledge for it (to it the receipt
    # answers like a missing one: G8).
    receipt = v["receipts"][0]["id"]
    with pytest.raises(NotFound) as hidden:
        repairs.acknowledge_receipt(c, samr, receipt)
    assert hidden.value.code == "receipt_not_found"
    assert repairs.acknowledge_receipt(c, tax, receipt)["acknowledged_at"]
    # No second repair of the same record.
    again = repairs.record_eligibility(c, CLERK, rid)
    assert again["eligible"] is False and again["repairable"] is False
    with pytest.raises(InvalidTransition):
        repairs.decide(c, samr, v["id"], approve=False, reason="重复")


def test_an_approved_repair_re_evaluates_the_subject(container: Container, tmp_path: Path) -> None:
    c = container
    sid, rid = setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    deliver(c)
    before = views.current_evaluation(c, SYSTEM, sid, view="authorised", purpose="修复前核对")
    codes = [r["code"] for r in before["current"]["reasons"]]
    assert "penalty_general_in_force" in codes and before["current"]["grade"] == "C"
    v = repairs.accept(c, CLERK, apply(c, rid)["id"])
    repairs.decide(c, samr, v["id"], approve=True, reason="已履行法定义务，同意修复")
    deliver(c)
    after = views.current_evaluation(c, SYSTEM, sid, view="authorised", purpose="修复后核对")
    assert "record.repaired" in after["current"]["trigger"].split(",")
    assert "penalty_general_in_force" not in [r["code"] for r in after["current"]["reasons"]]
    assert after["current"]["score"] > before["current"]["score"]
    assert after["history"][1]["score"] == before["current"]["score"]


def test_decisions_go_back_to_the_province(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    v = repairs.accept(c, CLERK, apply(c, rid)["id"])
    repairs.decide(c, samr, v["id"], approve=False, reason="罚款尚未缴清")
    manifest = repairs.export_decisions(c, CLERK, tmp_path / "out")
    assert manifest["count"] == 1
    json_name = next(n for n in manifest["files"] if n.endswith(".json"))
    rows = json.loads((tmp_path / "out" / json_name).read_text(encoding="utf-8"))
    assert rows[0]["repair_id"] == v["id"] and rows[0]["status"] == "denied"
    assert rows[0]["reason"] == "罚款尚未缴清"
    assert repairs.get_repair(c, CLERK, v["id"])["synced_at"]
    assert repairs.export_decisions(c, CLERK, tmp_path / "out2")["count"] == 0  # synced once
    with pytest.raises(PermissionDenied):
        repairs.export_decisions(c, samr, tmp_path / "out3")


def test_refusals_and_missing_materials(container: Container, tmp_path: Path) -> None:
    c = container
    sid, rid = setup(c, tmp_path)
    with pytest.raises(FieldError) as err:
        apply(c, rid, materials=MATERIALS[:1])
    assert err.value.field == "materials" and "承诺书" in err.value.message
    with pytest.raises(PermissionDenied):
        repairs.file_repair(
            c,
            ANONYMOUS,
            target_type="record",
            target_id=rid,
            reasons="已整改",
            commitment_text=PROMISE,
            materials=MATERIALS,
        )
    v = apply(c, rid)
    with pytest.raises(Conflict):
        apply(c, rid)  # one open application per record
    v = repairs.reject(c, CLERK, v["id"], "材料不齐全：缺少缴款凭证原件")
    assert v["status"]["code"] == "rejected" and v["clocks"][0]["met"] is True
    assert public_archive(c, ANONYMOUS, sid)["total"] == 1  # nothing changed


def test_fraud_revocation_republishes_and_bars(container: Container, tmp_path: Path) -> None:
    c = container
    sid, rid = setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    v = repairs.accept(c, CLERK, apply(c, rid)["id"])
    repairs.decide(c, samr, v["id"], approve=True, reason="同意修复")
    assert rid not in shown(public_archive(c, ANONYMOUS, sid))
    v = repairs.revoke_for_fraud(c, CLERK, v["id"], "缴款凭证系伪造")
    assert v["status"]["code"] == "revoked"
    assert rid in shown(public_archive(c, ANONYMOUS, sid))
    e = repairs.record_eligibility(c, CLERK, rid)
    assert e["eligible"] is False and any(
        x["code"] == "fraud_bar" and not x["met"] for x in e["conditions"]
    )


def test_forwarded_applications_from_the_province(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup(c, tmp_path)
    forwarded = [
        {
            "application_no": "SX2026-0001",
            "record_id": rid,
            "reasons": "已缴清罚款",
            "commitment_text": PROMISE,
            "materials": MATERIALS,
        },
        {"application_no": "SX2026-0002", "record_id": "nope", "reasons": "x"},
    ]
    path = tmp_path / "forwarded.json"
    path.write_text(json.dumps(forwarded, ensure_ascii=False), encoding="utf-8")
    result = repairs.import_forwarded(c, CLERK, path)
    assert [f["application_no"] for f in result["filed"]] == ["SX2026-0001"]
    assert result["refused"][0]["application_no"] == "SX2026-0002"
    v = repairs.get_repair(c, CLERK, result["filed"][0]["repair_id"])
    assert v["channel"] == "province" and v["external_ref"] == "SX2026-0001"


def test_list_entry_repair_respects_the_lists_minimum(container: Container, tmp_path: Path) -> None:
    c = container
    sid, _ = setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c,
        samr,
        list_type="market_supervision_serious",
        subject_id=sid,
        document_no="榆市监罚〔2026〕1号",
        reasons="情节严重",
    )
    with pytest.raises(Conflict, match="已公示"):  # only published entries leave by repair
        repairs.file_repair(
            c,
            CLERK,
            target_type="membership",
            target_id=mid,
            reasons="已整改",
            commitment_text=PROMISE,
            materials=MATERIALS,
        )


def test_http_repair(container: Container, tmp_path: Path) -> None:
    c = container
    _, rid = setup(c, tmp_path)
    admin = add_user(c, SYSTEM, username="o", display_name="信用办", role=Role.credit_office_admin)
    h = {"Authorization": f"Bearer {admin.token}"}
    with TestClient(create_app(c, scheduler=False)) as client:
        r = client.get(f"/api/v1/records/{rid}/repair-eligibility", headers=h)
        assert r.status_code == 200 and r.json()["eligible"] is True
        # The public does not learn of the record, its item or its state: asked to log in
        # before anything is looked up, exactly as for a missing one.
        anon = client.get(f"/api/v1/records/{rid}/repair-eligibility")
        missing = client.get("/api/v1/records/nope/repair-eligibility")
        assert anon.status_code == missing.status_code == 401
        assert anon.text.replace(rid, "nope") == missing.text
        body = {
            "target_id": rid,
            "reasons": "罚款已缴清",
            "commitment_text": PROMISE,
            "materials": MATERIALS,
        }
        assert client.post("/api/v1/repairs", json=body).status_code == 401
        r = client.post("/api/v1/repairs", json={**body, "materials": []}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == "materials"
        r = client.post("/api/v1/repairs", json=body, headers=h)
        assert r.status_code == 201
        repair_id = r.json()["id"]
        assert client.get(f"/api/v1/repairs/{repair_id}", headers=h).json()["status"]["code"] == (
            "submitted"
        )
        assert client.get(f"/api/v1/repairs/{repair_id}").status_code == 401


def test_external_list_entry_repair_reaches_every_surface(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """A 市场监管领域严重违法失信名单 entry sent by SAMR (repair after 12 months): an objection
    and a repair show as pending in checks and block 信易批; the repair takes the entry off the
    public list and out of credit checks, and its record out of the archive."""
    from datetime import date as d

    from citycredit.checks.service import run_check
    from citycredit.kernel.outbox import deliver
    from citycredit.lists.db import MembershipRow
    from citycredit.rights.objections import file_objection

    c = container
    sid, _ = setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    cols = ["YZ_MC", "YZ_LB", "YZ_SHXYM", "YZ_ZJHM", "YZ_MDLX", "YZ_LRYY", "YZ_RDWH"]
    cols += ["YZ_LRRQ", "YZ_YCRQ", "YZ_RDJG"]
    row = [
        COMPANY,
        "法人及非法人组织",
        CODE,
        "",
        "市场监管领域严重违法失信名单",
        "销售假冒伪劣商品",
    ]
    row += ["榆市监严列〔2025〕1号", "2025-10-01", "", SAMR]
    path = write_csv(tmp_path / "yz.csv", cols, [row])
    ingest_submission(c, samr, path=path, item_code="serious_dishonesty")
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        m = uow.session.scalars(select(MembershipRow)).one()
        mid, list_record = m.id, m.record_id
    assert m.status == "published" and m.list_type == "market_supervision_serious"
    assert lists.public_list(c, ANONYMOUS, "market_supervision_serious")["count"] == 1
    check = run_check(c, samr, subject_id=sid, matter="public_bidding_check")
    assert [x["list_type"] for x in check["memberships"]] == ["market_supervision_serious"]
    # An open objection shows in the check as pending.
    file_objection(
        c, CLERK, target_type="membership", target_id=mid, ground="wrong", reasons="已补缴税款"
    )
    check = run_check(c, samr, subject_id=sid, matter="public_bidding_check")
    assert check["pending"]["objections"][0]["mark"] == "异议处理中"
    assert any("异议" in r for r in check["fast_approval"]["reasons"])
    body = {"reasons": "已补缴全部税款及滞纳金", "commitment_text": PROMISE, "materials": MATERIALS}
    v = repairs.file_repair(c, CLERK, target_type="membership", target_id=mid, **body)
    v = repairs.accept(c, CLERK, v["id"])
    check = run_check(c, samr, subject_id=sid, matter="public_bidding_check")
    assert check["pending"]["repairs"][0]["repair_id"] == v["id"]
    assert any("修复" in r for r in check["fast_approval"]["reasons"])
    v = repairs.decide(c, samr, v["id"], approve=True, reason="已纠正失信行为并履行义务")
    assert v["list_exits"] == [{"membership_id": mid, "exited": True}]
    assert lists.public_list(c, ANONYMOUS, "market_supervision_serious")["count"] == 0
    check = run_check(c, samr, subject_id=sid, matter="public_bidding_check")
    assert check["memberships"] == []
    assert list_record not in shown(public_archive(c, ANONYMOUS, sid))
    assert d.fromisoformat(check["as_of"]) == d(2026, 11, 25)


def test_late_repairs_are_escalated_once(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    _, rid = setup(c, tmp_path)
    v = apply(c, rid)  # filed Wed 11-25: accept by Mon 11-30 (3 working days)
    clock.advance(days=5)  # Mon 11-30: still on time
    assert repairs.escalate_overdue(c)["escalated"] == 0
    clock.advance(days=1)  # Tue 12-01
    assert repairs.escalate_overdue(c) == {"escalated": 1, "ids": [v["id"]]}
    assert repairs.escalate_overdue(c)["escalated"] == 0
    late = repairs.list_repairs(c, CLERK, overdue=True)
    assert [r["id"] for r in late] == [v["id"]] and "受理期限" in late[0]["overdue"]
    with c.uow() as uow:
        topics = [n["topic"] for n in inbox(uow.session, "credit_office", "-")]
    assert "repair.overdue" in topics
