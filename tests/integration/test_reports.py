"""信用报告 end to end on both databases: issue, keep as issued, commit to the ledger, verify
offline (`citycredit ledger verify-bundle`), detect a changed report; the portal's pages."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from citycredit.accounts.model import ANONYMOUS, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.cli.main import app as cli
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import BundleError, verify_bundle
from citycredit.reports import service as reports
from citycredit.reports.db import ReportRow
from citycredit.shared.errors import Conflict, NotFound, PermissionDenied
from citycredit.subjects import archive
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

FIRM = uscc("91", "610802", "MA6RP001")
PERSON_ID = id_number("610802", "19800304", "123")


@pytest.fixture
def city(container: Container, tmp_path: Path) -> dict[str, Any]:
    samr = department(container)

    def row(**values: Any) -> list[Any]:
        return penalty_row(PENALTY_COLUMNS_WITH_ID, **values)

    rows = [
        row(CF_XDR_MC="榆阳区报告商贸有限公司", CF_XDR_SHXYM=FIRM, CF_WSH="榆市监罚〔2026〕21号"),
        row(CF_XDR_MC="王小明", CF_XDR_LB="自然人", CF_XDR_ZJHM=PERSON_ID,
            CF_WSH="榆市监罚〔2026〕22号"),
    ]  # fmt: skip
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows)
    assert ingest_submission(container, samr, path=path, item_code="penalty").counts.new == 2
    feed = archive.dual_publicity(container, ANONYMOUS, "penalty")
    firm = next(e for e in feed["entries"] if e["subject"]["subject_id"])
    person = next(e for e in feed["entries"] if not e["subject"]["subject_id"])
    with container.uow() as uow:
        person_sid = uow.session.scalar(
            select(RecordRow.subject_id).where(RecordRow.id == person["record"]["record_id"])
        )
    return {
        "firm": firm["subject"]["subject_id"],
        "record": firm["record"]["record_id"],
        "person": person_sid,
    }


def test_a_report_is_the_public_archive_as_issued_and_verifies_offline(
    container: Container, city: dict[str, Any], tmp_path: Path
) -> None:
    c = container
    issued = reports.issue_report(c, ANONYMOUS, city["firm"])
    no = issued["report_no"]
    assert no.startswith("YLCR20261125") and len(no) == 22
    content = issued["content"]
    public = archive.public_archive(c, ANONYMOUS, city["firm"])
    assert content["sections"] == public["groups"] and content["subject"] == public["subject"]
    assert content["overview"][0] == {"section": "行政管理", "count": 1}  # 行政处罚 1 条
    assert content["tags"] == [] and content["report_no"] == no
    # not yet sequenced: the page says so, the bundle is refused
    assert reports.get_report(c, ANONYMOUS, no)["ledger_index"] is None
    with pytest.raises(Conflict):
        reports.report_bundle(c, ANONYMOUS, no)
    ledger.integrate_now(c)
    got = reports.get_report(c, ANONYMOUS, no.lower())  # typed in lower case
    assert got["intact"] is True and got["ledger_index"] is not None
    bundle = reports.report_bundle(c, ANONYMOUS, no)
    checked = verify_bundle(bundle)
    assert checked.ref == f"{no}/issued"
    assert any("未被改动" in line for line in checked.checks)
    # a report's leaf without the report: nothing to compare the leaf's digest with
    bare = {k: v for k, v in bundle.items() if k != "report"}
    with pytest.raises(BundleError, match="凭证缺少信用报告内容（report）"):
        verify_bundle(bare)
    # the report is kept as issued: a later withdrawal changes the archive, not the report
    samr = department_principal(c, SAMR)
    withdraw_record(c, samr, city["record"], reason="决定已撤销")
    assert archive.public_archive(c, ANONYMOUS, city["firm"])["total"] == 0
    assert reports.issued_report(c, ANONYMOUS, no)["content"] == content
    # … but no longer republishes the withdrawn record: its status only, and the whole
    # report's bundle only for the subject's own account (tests/…/test_report_hidden.py)
    shown = reports.get_report(c, ANONYMOUS, no)
    assert shown["complete"] is False
    assert shown["content"]["sections"][0]["records"] == [
        {
            "record_id": city["record"],
            "hidden": True,
            "code": "withdrawn",
            "label": "已撤销，不再公示",
        }
    ]
    with pytest.raises(PermissionDenied):
        reports.report_bundle(c, ANONYMOUS, no)
    own = Principal(
        role=Role.enterprise_agent, label="经办人", subject_ids=frozenset({city["firm"]})
    )
    verify_bundle(reports.report_bundle(c, own, no))
    # offline, by the CLI: the good bundle passes, an edited report fails and says why
    good = tmp_path / "good.json"
    good.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    ok = CliRunner().invoke(cli, ["ledger", "verify-bundle", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "未被改动" in ok.output and f"{no}/issued" in ok.output
    forged = copy.deepcopy(bundle)
    forged["report"]["sections"][0]["records"][0]["fields"][0]["value"] = "别的公司"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
    refused = CliRunner().invoke(cli, ["ledger", "verify-bundle", str(bad)])
    assert refused.exit_code == 1 and "报告内容与数据链中登记的摘要不一致" in refused.output


def test_a_swapped_or_undisclosed_report_is_refused(
    container: Container, city: dict[str, Any]
) -> None:
    c = container
    one = reports.issue_report(c, ANONYMOUS, city["firm"])["report_no"]
    two = reports.issue_report(c, ANONYMOUS, city["firm"])["report_no"]
    assert one != two
    ledger.integrate_now(c)
    a, b = reports.report_bundle(c, ANONYMOUS, one), reports.report_bundle(c, ANONYMOUS, two)
    swapped = {**a, "report": b["report"]}  # another genuine report under this leaf
    with pytest.raises(BundleError, match="与叶子所指的"):
        verify_bundle(swapped)
    hidden = {**a, "disclosed": {k: v for k, v in a["disclosed"].items() if k != "content_hash"}}
    with pytest.raises(BundleError, match="没有公开报告内容摘要"):
        verify_bundle(hidden)


def test_a_changed_archive_copy_shows_on_the_page(
    container: Container, city: dict[str, Any]
) -> None:
    c = container
    no = reports.issue_report(c, ANONYMOUS, city["firm"])["report_no"]
    ledger.integrate_now(c)
    client = TestClient(create_app(c, scheduler=False))
    page = client.get(f"/reports/{no}")
    assert page.status_code == 200 and "与生成时登记的摘要一致" in page.text
    assert "榆阳区报告商贸有限公司" in page.text and "榆市监罚〔2026〕21号" in page.text
    assert f'href="/api/v1/reports/{no}/bundle"' in page.text
    with c.uow() as uow:  # someone edits the stored report behind the platform's back
        row = uow.session.get(ReportRow, no)
        assert row is not None
        content = {**row.content, "tags": ["守信激励对象"]}
        uow.session.execute(
            update(ReportRow).where(ReportRow.report_no == no).values(content=content)
        )
        uow.commit()
    assert reports.get_report(c, ANONYMOUS, no)["intact"] is False
    assert "存档内容已被改动" in client.get(f"/reports/{no}").text
    with pytest.raises(BundleError, match="报告内容与数据链中登记的摘要不一致"):
        verify_bundle(reports.report_bundle(c, ANONYMOUS, no))


def test_people_and_unknown_subjects_get_no_public_report(
    container: Container, city: dict[str, Any]
) -> None:
    with pytest.raises(PermissionDenied, match="只向本人提供"):
        reports.issue_report(container, ANONYMOUS, city["person"])
    with pytest.raises(NotFound):
        reports.issue_report(container, ANONYMOUS, "snothere")
    with pytest.raises(NotFound):
        reports.get_report(container, ANONYMOUS, "YLCR20261125AAAAAAAAAA")


def test_portal_issue_find_and_api(container: Container, city: dict[str, Any]) -> None:
    client = TestClient(create_app(container, scheduler=False))
    archive_page = client.get(f"/subjects/{city['firm']}")
    assert f'action="/subjects/{city["firm"]}/report"' in archive_page.text
    person_page = client.get(f"/subjects/{city['person']}")
    assert "生成信用报告" not in person_page.text
    issued = client.post(f"/subjects/{city['firm']}/report", follow_redirects=False)
    assert issued.status_code == 303
    where = issued.headers["location"]
    assert where.startswith("/reports/YLCR")
    no = where.rsplit("/", 1)[1]
    shown = client.get(where)
    assert shown.status_code == 200 and f"<strong>{no}</strong>" in shown.text
    assert "待收录" in shown.text  # not yet sequenced
    found = client.get("/reports", params={"no": f" {no.lower()} "}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/reports/{no}"
    assert "输入报告编号" in client.get("/reports").text
    missing = client.get("/reports/YLCR20261125AAAAAAAAAA")
    assert missing.status_code == 404 and "报告编号 YLCR20261125AAAAAAAAAA 不存在" in missing.text
    api = client.post(f"/api/v1/subjects/{city['firm']}/reports")
    assert api.status_code == 201 and api.json()["content"]["title"] == "公共信用信息报告"
    read = client.get(f"/api/v1/reports/{api.json()['report_no']}").json()
    assert read["intact"] is True and read["content_hash"] == api.json()["content_hash"]
    assert client.get(f"/api/v1/reports/{no}/bundle").status_code == 409  # ledger_pending
    person = client.post(f"/api/v1/subjects/{city['person']}/reports")
    assert person.status_code == 401 and person.json()["error"] == "report_not_public"


@pytest.mark.parametrize(
    ("types", "tags"),
    [
        ([], []),
        (["red_list"], ["守信激励对象"]),
        (["judgment_defaulter"], ["失信惩戒对象"]),
        (["abnormal_operation"], []),  # 经营异常名录: its own section, no tag
        (["red_list", "major_tax_violation"], ["守信激励对象", "失信惩戒对象"]),
    ],
)
def test_status_tags_follow_the_kind_of_list(types: list[str], tags: list[str]) -> None:
    assert reports._tags([{"list_type": t} for t in types]) == tags


def test_the_pdf_has_the_report_its_qr_and_chinese_fonts(
    container: Container, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from citycredit.web import reports_api

    no = reports.issue_report(container, ANONYMOUS, city["firm"])["report_no"]
    client = TestClient(create_app(container, scheduler=False))
    page = client.get(f"/reports/{no}")
    assert f'href="/reports/{no}/pdf"' in page.text
    seen: dict[str, Any] = {}
    render = reports_api.render_pdf

    def spy(report: dict[str, Any], *, verify_url: str, suite: str) -> bytes:
        seen["url"] = verify_url
        return render(report, verify_url=verify_url, suite=suite)

    monkeypatch.setattr(reports_api, "render_pdf", spy)
    pdf = client.get(f"/reports/{no}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'inline; filename="{no}.pdf"'
    assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 20_000
    # what the PDF is laid out from: the report, its QR code and address, Chinese fonts
    report = reports.get_report(container, ANONYMOUS, no)
    url = f"http://testserver/reports/{no}"
    html = reports_api.report_html(report, verify_url=url, suite="sha256-ed25519")
    assert "<svg" in html and url in html and report["content_hash"] in html
    assert "榆阳区报告商贸有限公司" in html and "榆市监罚〔2026〕21号" in html
    doc = reports_api.report_document(report, verify_url=url, suite="sha256-ed25519")
    assert doc.metadata.title == f"公共信用信息报告 {no}" and len(doc.pages) >= 1
    fonts = re.findall(rb"/BaseFont\s*/\w+\+([\w-]+)", doc.write_pdf(uncompressed_pdf=True))
    assert b"Noto-Sans-CJK-SC" in fonts  # 汉字 set in a CJK font, not boxes
    assert {f for f in fonts if not f.startswith(b"Noto-Sans-CJK")} <= {b"DejaVu-Sans-Mono"}
    assert seen["url"] == f"http://testserver/reports/{no}"
    # behind a proxy the printed address is the public one
    container.settings = container.settings.model_copy(
        update={"public_base_url": "https://credit.example.gov.cn/"}
    )
    client = TestClient(create_app(container, scheduler=False))
    assert client.get(f"/reports/{no}/pdf").status_code == 200
    assert seen["url"] == f"https://credit.example.gov.cn/reports/{no}"
    assert client.get("/reports/YLCR20261125AAAAAAAAAA/pdf").status_code == 404
    # rendered once per report and address: the second request reads the kept file
    calls = []
    monkeypatch.setattr(reports_api, "render_pdf", lambda *a, **k: calls.append(1) or b"x")
    again = client.get(f"/reports/{no}/pdf")
    assert again.status_code == 200 and again.content.startswith(b"%PDF-") and calls == []
    # an archive copy changed behind the platform's back gets no PDF
    with container.uow() as uow:
        uow.session.execute(
            update(ReportRow)
            .where(ReportRow.report_no == no)
            .values(content={**report["content"], "tags": ["守信激励对象"]})
        )
        uow.commit()
    altered = client.get(f"/reports/{no}/pdf")
    assert altered.status_code == 409 and "不能出具 PDF" in altered.text
