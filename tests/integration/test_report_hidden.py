"""Entries no longer public since a report was issued are not republished by the report API
(user review: a repaired or withdrawn penalty stayed readable in full through
``GET /api/v1/reports/{no}`` and its bundle while the page showed 已信用修复，不再公示), on both
databases.

- The JSON answer shows what the page shows: such an entry carries its status, not its content.
- The bundle must carry the whole issued document to verify (the ``report.issued`` leaf commits
  to one digest of the whole content), so once something in it is hidden it goes only to the
  subject's bound account — and to staff with a purpose (logged) while every hidden entry is
  still shared (不予公示, not repaired or withdrawn) — and it still verifies offline; anyone else
  is refused with ``report_not_public``.
- A report with nothing hidden is answered and bundled exactly as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import test_repairs as _rep
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.cli.main import app as cli
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.outbox import deliver
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import verify_bundle
from citycredit.reports import service as reports
from citycredit.reports.db import ReportRow
from citycredit.rights import repairs
from citycredit.shared.errors import PermissionDenied
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, bearer, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

FIRM = "榆阳区报告隐藏商贸有限公司"
CODE = uscc("91", "610802", "MA6RH001")
# Every text field distinct, so a search of the answer for the entry's values finds only it.
REPAIRED = {
    "CF_WSH": "榆市监罚〔2026〕71号",
    "CF_WFXW": "擅自改变食品经营场所布局（修复甲）",
    "CF_SY": "群众举报核查属实（修复乙）",
    "CF_YJ": "《中华人民共和国食品安全法》第一百二十六条（修复丙）",
    "CF_NR": "罚款2万元并责令整改（修复丁）",
}
WITHDRAWN = {
    "CF_WSH": "榆市监罚〔2026〕72号",
    "CF_WFXW": "未按规定公示年度报告（撤销甲）",
    "CF_SY": "日常检查发现（撤销乙）",
    "CF_YJ": "《企业信息公示暂行条例》第八条（撤销丙）",
    "CF_NR": "罚款2万元（撤销丁）",
}
KEPT = {
    "CF_WSH": "榆市监罚〔2026〕73号",
    "CF_WFXW": "超范围经营（保留甲）",
    "CF_SY": "专项检查（保留乙）",
    "CF_YJ": "《中华人民共和国行政许可法》（保留丙）",
    "CF_NR": "罚款2万元（保留丁）",
}
NOT_PUBLIC = "report_not_public"


@pytest.fixture
def world(container: Container, tmp_path: Path) -> dict[str, Any]:
    """Three 一般 penalties of one firm decided 2026-06-01 (repairable now), a report of them
    issued and sequenced, tokens of the credit office and of another department."""
    c = container
    department(c)
    rows = [
        penalty_row(CF_XDR_MC=FIRM, CF_XDR_SHXYM=CODE, CF_JDRQ="2026-06-01", **values)
        for values in (REPAIRED, WITHDRAWN, KEPT)
    ]
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, rows)
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    with c.uow() as uow:
        found = uow.session.execute(
            select(RecordVersionRow.payload, RecordRow.id, RecordRow.subject_id).join(
                RecordRow, RecordRow.id == RecordVersionRow.record_id
            )
        ).all()
    ids = {str(payload["CF_WSH"]): rid for payload, rid, _ in found}
    sid = found[0][2]
    no = reports.issue_report(c, ANONYMOUS, sid)["report_no"]
    ledger.integrate_now(c)
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    tax = add_department(c, SYSTEM, name="榆林市税务局", code=uscc("11", "610800", "MA0TAX01"))
    return {
        "sid": sid,
        "no": no,
        "ids": ids,
        "client": TestClient(create_app(c, scheduler=False)),
        "office": bearer(office),
        "dept": bearer(tax.token),
    }


def _stored(c: Container, no: str) -> dict[str, Any]:
    with c.uow() as uow:
        row = uow.session.get(ReportRow, no)
        assert row is not None
        return dict(row.content)


def _entry(content: dict[str, Any], record_id: str) -> dict[str, Any]:
    return next(r for g in content["sections"] for r in g["records"] if r["record_id"] == record_id)


def _own_values(content: dict[str, Any], record_id: str) -> set[str]:
    """The values of a record's entry in the issued report that appear nowhere else in it (the
    firm's name, the authority … are printed elsewhere too): its own details."""
    entry = _entry(content, record_id)
    rest = {
        **content,
        "sections": [
            {**g, "records": [r for r in g["records"] if r["record_id"] != record_id]}
            for g in content["sections"]
        ],
    }
    elsewhere = json.dumps(rest, ensure_ascii=False)
    values = {str(f["value"]) for f in entry["fields"] if f.get("value")}
    return {v for v in values if len(v) >= 4 and v not in elsewhere}


def _verifies_offline(bundle: dict[str, Any], tmp: Path) -> None:
    """`citycredit ledger verify-bundle FILE` passes the bundle."""
    path = tmp / "bundle.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    ok = CliRunner().invoke(cli, ["ledger", "verify-bundle", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "未被改动" in ok.output


def _hidden_and_refused(
    c: Container, w: dict[str, Any], record_id: str, code: str, label: str, tmp: Path
) -> None:
    """The public answer shows the entry by its status only, the public bundle is refused, the
    subject gets the whole report, which verifies offline; staff are refused (no longer shared)."""
    client, no = w["client"], w["no"]
    issued = _stored(c, no)
    secret = _own_values(issued, record_id)
    assert set(REPAIRED.values()) & secret or set(WITHDRAWN.values()) & secret
    # the anonymous JSON answer: the status in place of the entry, none of its values
    r = client.get(f"/api/v1/reports/{no}")
    assert r.status_code == 200
    assert not [v for v in secret if v in r.text], "hidden entry's values in the public answer"
    got = r.json()
    assert got["complete"] is False and got["intact"] is True
    assert _entry(got["content"], record_id) == {
        "record_id": record_id,
        "hidden": True,
        "code": code,
        "label": label,
    }
    assert [ch["code"] for ch in got["changes"] if ch["record_id"] == record_id] == [code]
    assert KEPT["CF_WFXW"] in r.text  # still public: as issued
    assert got["content"]["overview"] == issued["overview"]
    # the public bundle: refused, in the API's error shape, nothing of the entry in it
    for headers, status in (({}, 401), (w["dept"], 403)):
        refused = client.get(f"/api/v1/reports/{no}/bundle", headers=headers)
        assert refused.status_code == status
        body = refused.json()
        assert body["error"] == NOT_PUBLIC and "不再公示" in body["message"]
        assert "信用主体本人" in body["message"]
        assert not [v for v in secret if v in refused.text]
    unbound = Principal(role=Role.enterprise_agent, label="他人", subject_ids=frozenset({"Sx"}))
    with pytest.raises(PermissionDenied):
        reports.report_bundle(c, unbound, no)
    # staff, even with a purpose: repair and withdrawal stop sharing (as for record bundles)
    staff = client.get(
        f"/api/v1/reports/{no}/bundle", headers=w["office"], params={"purpose": "贷款审查"}
    )
    assert staff.status_code == 403 and staff.json()["error"] == NOT_PUBLIC
    # the subject's own bound account: the whole report, which verifies offline
    own = Principal(role=Role.enterprise_agent, label="经办人", subject_ids=frozenset({w["sid"]}))
    mine = reports.report_bundle(c, own, no)
    assert mine["report"] == issued and verify_bundle(mine).ref == f"{no}/issued"
    _verifies_offline(mine, tmp)
    # the page shows the same status and nothing more
    page = client.get(f"/reports/{no}").text
    assert label in page and not [v for v in secret if v in page]
    assert "核验凭证含报告全文，只向信用主体本人" in page


def test_a_penalty_repaired_after_issue_is_not_readable_through_the_api(
    container: Container, world: dict[str, Any], tmp_path: Path
) -> None:
    c, w = container, world
    rid = w["ids"][REPAIRED["CF_WSH"]]
    before = w["client"].get(f"/api/v1/reports/{w['no']}")
    assert REPAIRED["CF_WFXW"] in before.text and before.json()["complete"] is True
    v = _rep.apply(c, rid)
    repairs.accept(c, _rep.CLERK, v["id"])
    repairs.decide(c, department_principal(c, SAMR), v["id"], approve=True, reason="已整改")
    ledger.integrate_now(c)
    _hidden_and_refused(c, w, rid, "repaired", "已信用修复，不再公示", tmp_path)


def test_a_penalty_withdrawn_after_issue_is_not_readable_through_the_api(
    container: Container, world: dict[str, Any], tmp_path: Path
) -> None:
    c, w = container, world
    rid = w["ids"][WITHDRAWN["CF_WSH"]]
    withdraw_record(c, department_principal(c, SAMR), rid, "异议核实后撤销")
    ledger.integrate_now(c)
    _hidden_and_refused(c, w, rid, "withdrawn", "已撤销，不再公示", tmp_path)


def test_a_report_with_nothing_hidden_is_answered_and_bundled_as_issued(
    container: Container, world: dict[str, Any], tmp_path: Path
) -> None:
    c, w = container, world
    client, no = w["client"], w["no"]
    issued = _stored(c, no)
    got = client.get(f"/api/v1/reports/{no}").json()
    assert got["content"] == issued and got["complete"] is True and got["changes"] == []
    bundle = client.get(f"/api/v1/reports/{no}/bundle")
    assert bundle.status_code == 200 and bundle.json()["report"] == issued
    _verifies_offline(bundle.json(), tmp_path)
    assert "核验凭证含报告全文" not in client.get(f"/reports/{no}").text
    # a correction is not a hiding: shown as issued and marked, the bundle stays public
    rows = [
        penalty_row(
            CF_XDR_MC=FIRM,
            CF_XDR_SHXYM=CODE,
            CF_JDRQ="2026-06-01",
            **{**KEPT, "CF_WFXW": "超范围经营（更正后）"},
        )
    ]
    path = write_csv(tmp_path / "fix.csv", PENALTY_COLUMNS, rows)
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    ledger.integrate_now(c)
    got = client.get(f"/api/v1/reports/{no}").json()
    assert [ch["code"] for ch in got["changes"]] == ["corrected"]
    assert got["content"] == issued and got["complete"] is True
    again = client.get(f"/api/v1/reports/{no}/bundle")
    assert again.status_code == 200
    _verifies_offline(again.json(), tmp_path)


def test_a_list_entry_repaired_after_issue_shows_its_status_only(
    container: Container, tmp_path: Path
) -> None:
    """A 市场监管领域严重违法失信名单 entry: after its repair the JSON answer keeps the list and
    the status, not the decision number, dates or reasons; the bundle is refused."""
    from citycredit.lists.db import MembershipRow

    c = container
    sid, _ = _rep.setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    cols = ["YZ_MC", "YZ_LB", "YZ_SHXYM", "YZ_ZJHM", "YZ_MDLX", "YZ_LRYY", "YZ_RDWH"]
    cols += ["YZ_LRRQ", "YZ_YCRQ", "YZ_RDJG"]
    row = [_rep.COMPANY, "法人及非法人组织", _rep.CODE, "", "市场监管领域严重违法失信名单"]
    row += ["销售假冒伪劣商品（名单甲）", "榆市监严列〔2025〕9号", "2025-10-01", "", SAMR]
    path = write_csv(tmp_path / "yz.csv", cols, [row])
    ingest_submission(c, samr, path=path, item_code="serious_dishonesty")
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        mid = uow.session.scalars(select(MembershipRow.id)).one()
    no = reports.issue_report(c, ANONYMOUS, sid)["report_no"]
    ledger.integrate_now(c)
    client = TestClient(create_app(c, scheduler=False))
    assert "榆市监严列〔2025〕9号" in client.get(f"/api/v1/reports/{no}").text
    body = {"reasons": "已纠正", "commitment_text": _rep.PROMISE, "materials": _rep.MATERIALS}
    v = repairs.file_repair(c, _rep.CLERK, target_type="membership", target_id=mid, **body)
    repairs.accept(c, _rep.CLERK, v["id"])
    repairs.decide(c, samr, v["id"], approve=True, reason="已纠正失信行为并履行义务")
    ledger.integrate_now(c)
    r = client.get(f"/api/v1/reports/{no}")
    assert r.status_code == 200 and "榆市监严列〔2025〕9号" not in r.text
    assert "名单甲" not in r.text and "2025-10-01" not in r.text
    [entry] = r.json()["content"]["lists"]
    assert entry["hidden"] is True and entry["code"] == "repaired"
    assert entry["list_type"] == "market_supervision_serious"
    assert set(entry) <= {"list_type", "list_name", "record_id", "hidden", "code", "label"}
    refused = client.get(f"/api/v1/reports/{no}/bundle")
    assert refused.status_code == 401 and refused.json()["error"] == NOT_PUBLIC


def test_a_withheld_penalty_bundle_goes_to_staff_with_a_purpose_logged(
    container: Container, world: dict[str, Any], tmp_path: Path
) -> None:
    """不予公示 after issue: hidden from the public answer, but still shared, so staff with a
    purpose get the whole report (logged), like a withheld record's own bundle."""
    from citycredit.ingest.withhold import withhold_record
    from citycredit.kernel.db import DisclosureRow

    c, w = container, world
    client, no = w["client"], w["no"]
    rid = w["ids"][REPAIRED["CF_WSH"]]
    withhold_record(
        c, department_principal(c, SAMR), rid, reason="privacy", basis="榆市监〔2026〕5号"
    )
    ledger.integrate_now(c)
    secret = _own_values(_stored(c, no), rid)
    r = client.get(f"/api/v1/reports/{no}")
    assert r.json()["complete"] is False and not [v for v in secret if v in r.text]
    assert _entry(r.json()["content"], rid)["code"] == "unpublished"
    assert client.get(f"/api/v1/reports/{no}/bundle").status_code == 401
    # staff without a purpose: refused; with one: the whole report, logged
    bare = client.get(f"/api/v1/reports/{no}/bundle", headers=w["office"])
    assert bare.status_code == 403 and bare.json()["error"] == NOT_PUBLIC
    staff = client.get(
        f"/api/v1/reports/{no}/bundle", headers=w["office"], params={"purpose": "行政审批核查"}
    )
    assert staff.status_code == 200 and staff.json()["report"] == _stored(c, no)
    _verifies_offline(staff.json(), tmp_path)
    with c.uow() as uow:
        logged = uow.session.scalars(
            select(DisclosureRow).where(DisclosureRow.subject_id == w["sid"])
        ).all()
    assert [(d.purpose, d.detail.get("report_bundle")) for d in logged] == [("行政审批核查", no)]
