"""信用报告 audit fixes (audit ledger.md items 4, 8, 9, 10), on both databases:

- the verification page checks the stored report against its ``report.issued`` leaf (through
  the inclusion proof to the signed checkpoint), not against the digest stored beside it: a
  report rewritten in the database shows 不一致 and gets no PDF;
- 有效期 is printed, and the page lists the entries changed since issue (撤销, 更正, 信用修复),
  the ones no longer public by their status only;
- the PDF's QR address comes from ``public_base_url``, never the Host header: one cached file
  per report, no per-host files in development, 503 in production without the setting;
- 信用中国's fixed categories in its order, empty ones with 查询期内无相关信息, lists split by
  kind, every time in Beijing time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import test_repairs as _rep
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.outbox import deliver
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import report_digest
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.entries import workflow_entry
from citycredit.ledger.merkle import leaf_hash
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.reports import service as reports
from citycredit.reports.db import ReportRow
from citycredit.reports.layout import CATEGORIES
from citycredit.rights import repairs
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict
from citycredit.web import reports_api
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

FIRM = "榆阳区报告商贸有限公司"
CODE = uscc("91", "610802", "MA6RP001")
WSH = ["榆市监罚〔2026〕31号", "榆市监罚〔2026〕32号", "榆市监罚〔2026〕33号"]


def _ingest(
    c: Container, tmp: Path, *, wfxw: str = "未按规定公示年报", only: tuple[str, ...] = tuple(WSH)
) -> None:
    """Three 一般 penalties of one firm decided 2026-06-01 (repairable now); one sent again
    with another 违法行为 is corrected (version 2)."""
    rows = [
        penalty_row(CF_XDR_MC=FIRM, CF_XDR_SHXYM=CODE, CF_WSH=w, CF_JDRQ="2026-06-01", CF_WFXW=wfxw)
        for w in only
    ]
    path = write_csv(tmp / f"p{len(wfxw)}.csv", PENALTY_COLUMNS, rows)
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")


def _penalties(c: Container, tmp: Path) -> dict[str, str]:
    """The three penalties, by decision number → record id."""
    department(c)
    _ingest(c, tmp)
    with c.uow() as uow:
        rows = uow.session.execute(
            select(RecordVersionRow.payload, RecordRow.id).join(
                RecordRow, RecordRow.id == RecordVersionRow.record_id
            )
        ).all()
    return {str(payload["CF_WSH"]): rid for payload, rid in rows}


def _subject(c: Container) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(RecordRow.subject_id))
    assert sid is not None
    return sid


def _rewrite(c: Container, no: str, **changes: Any) -> dict[str, Any]:
    """Rewrite a stored report's content and its content_hash together (a database edit)."""
    with c.uow() as uow:
        row = uow.session.get(ReportRow, no)
        assert row is not None
        content = {**row.content, **changes}
        row.content = content
        row.content_hash = report_digest(c.settings.ledger_suite, content)
        uow.commit()
        return content


# --- 1. intact against the ledger leaf ------------------------------------------------------


def test_a_report_rewritten_with_its_digest_shows_inconsistent_and_gets_no_pdf(
    container: Container, tmp_path: Path
) -> None:
    c = container
    _penalties(c, tmp_path)
    sid = _subject(c)
    client = TestClient(create_app(c, scheduler=False))
    # before the sequencer: checked against the entry its outbox event holds
    pending = reports.issue_report(c, ANONYMOUS, sid)["report_no"]
    got = reports.get_report(c, ANONYMOUS, pending)
    assert got["intact"] is True and "待收录" in got["integrity"]
    _rewrite(c, pending, sections=[], tags=["守信激励对象"])
    got = reports.get_report(c, ANONYMOUS, pending)
    assert got["intact"] is False and got["content"]["sections"] == []
    # sequenced: checked through the leaf, its inclusion proof and the signed checkpoint
    no = reports.issue_report(c, ANONYMOUS, sid)["report_no"]
    ledger.integrate_now(c)
    good = reports.get_report(c, ANONYMOUS, no)
    assert good["intact"] is True and "包含证明有效" in good["integrity"]
    page = client.get(f"/reports/{no}").text
    assert "与生成时登记的摘要一致" in page and f'href="/reports/{no}/pdf"' in page
    content = _rewrite(c, no, sections=[], tags=["守信激励对象"])  # the penalties removed
    got = reports.get_report(c, ANONYMOUS, no)
    assert got["intact"] is False and got["content"] == content
    assert "核对不通过" in got["integrity"] and "content_hash" in got["integrity"]
    page = client.get(f"/reports/{no}").text
    assert "与生成时登记的摘要不一致" in page and f'href="/reports/{no}/pdf"' not in page
    with pytest.raises(Conflict):
        reports.printable_report(c, ANONYMOUS, no)
    refused = client.get(f"/reports/{no}/pdf")
    assert refused.status_code == 409 and "不能出具 PDF" in refused.text
    # rewriting the leaf too (new salt, digests and leaf hash) breaks the signed tree's proof
    suite = c.settings.ledger_suite
    entry = workflow_entry(
        suite,
        entry_type="report.issued",
        ref=f"{no}/issued",
        subject_id=sid,
        fields={"content_hash": report_digest(suite, content), "report_no": no},
        at=c.clock.now(),
    )
    with c.uow() as uow:
        leaf = uow.session.scalar(select(LedgerLeafRow).where(LedgerLeafRow.ref == f"{no}/issued"))
        assert leaf is not None
        leaf.data, leaf.salt = entry.data, entry.salt
        leaf.leaf_hash = leaf_hash(hash_suite(Suite(suite)), entry.data)
        uow.commit()
    got = reports.get_report(c, ANONYMOUS, no)
    assert got["intact"] is False and "核对不通过" in got["integrity"]
    assert client.get(f"/reports/{no}/pdf").status_code == 409


# --- 2. validity and what changed since issue ---------------------------------------------


def test_withdrawn_corrected_and_repaired_records_are_listed_and_repaired_details_hidden(
    container: Container, tmp_path: Path
) -> None:
    c = container
    by_wsh = _penalties(c, tmp_path)
    sid = _subject(c)
    no = reports.issue_report(c, ANONYMOUS, sid)["report_no"]
    ledger.integrate_now(c)
    client = TestClient(create_app(c, scheduler=False))
    page = client.get(f"/reports/{no}").text
    assert "信息已变更" not in page and all(w in page for w in WSH)
    assert "有效期至 2026-12-25" in page
    samr = department_principal(c, SAMR)
    withdraw_record(c, samr, by_wsh[WSH[0]], "复议撤销")  # 撤销
    _ingest(c, tmp_path, wfxw="未按规定公示年度报告（更正）", only=(WSH[1],))  # 更正
    v = _rep.apply(c, by_wsh[WSH[2]])  # 信用修复
    repairs.accept(c, _rep.CLERK, v["id"])
    repairs.decide(c, samr, v["id"], approve=True, reason="已履行法定义务，同意修复")
    ledger.integrate_now(c)
    got = reports.get_report(c, ANONYMOUS, no)
    assert got["intact"] is True  # kept as issued: the digest still matches
    changes = {ch["record_id"]: ch for ch in got["changes"]}
    assert changes[by_wsh[WSH[0]]]["code"] == "withdrawn" and changes[by_wsh[WSH[0]]]["hidden"]
    assert changes[by_wsh[WSH[1]]]["code"] == "corrected"
    assert not changes[by_wsh[WSH[1]]]["hidden"]
    assert changes[by_wsh[WSH[2]]]["code"] == "repaired" and changes[by_wsh[WSH[2]]]["hidden"]
    page = client.get(f"/reports/{no}").text
    assert "信息已变更" in page and "已信用修复，不再公示" in page and "已撤销，不再公示" in page
    assert "已更正" in page
    assert WSH[0] not in page and WSH[2] not in page  # no longer published: status only
    assert WSH[1] in page  # corrected: shown as issued, marked
    # the PDF is laid out from the same marks (no render needed to check its HTML)
    html = reports_api.report_html(got, verify_url="https://x.example/r", suite="sha256-ed25519")
    assert "已信用修复，不再公示" in html and WSH[2] not in html and WSH[1] in html
    assert "有效期至" in html and "信息已变更" in html


def test_a_repaired_list_entry_is_hidden_and_lists_have_their_own_section(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """A 市场监管领域严重违法失信名单 entry sent by SAMR: in 严重失信主体名单, tagged
    失信惩戒对象; after its repair the page shows 已信用修复，不再公示 in its place."""
    from citycredit.lists.db import MembershipRow

    c = container
    sid, _ = _rep.setup(c, tmp_path)
    samr = department_principal(c, SAMR)
    cols = ["YZ_MC", "YZ_LB", "YZ_SHXYM", "YZ_ZJHM", "YZ_MDLX", "YZ_LRYY", "YZ_RDWH"]
    cols += ["YZ_LRRQ", "YZ_YCRQ", "YZ_RDJG"]
    row = [_rep.COMPANY, "法人及非法人组织", _rep.CODE, "", "市场监管领域严重违法失信名单"]
    row += ["销售假冒伪劣商品", "榆市监严列〔2025〕1号", "2025-10-01", "", SAMR]
    path = write_csv(tmp_path / "yz.csv", cols, [row])
    ingest_submission(c, samr, path=path, item_code="serious_dishonesty")
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    with c.uow() as uow:
        mid = uow.session.scalars(select(MembershipRow.id)).one()
    issued = reports.issue_report(c, ANONYMOUS, sid)
    content = issued["content"]
    assert content["tags"] == ["失信惩戒对象"]
    layout = reports_api.report_layout(content)
    serious = next(s for s in layout["sections"] if s["title"] == "严重失信主体名单")
    listed = [m for p in serious["parts"] for _, m in p["lists"]]
    assert [m["list_type"] for m in listed] == ["market_supervision_serious"]
    # the intake record the membership mirrors is the same fact: shown and counted once
    with c.uow() as uow:
        [rec_id] = uow.session.scalars(
            select(RecordRow.id).where(RecordRow.item_code == "serious_dishonesty")
        ).all()
    assert any(r["record_id"] == rec_id for g in content["sections"] for r in g["records"])
    assert listed[0]["record_id"] == rec_id
    shown = [r["record_id"] for s in layout["sections"] for p in s["parts"] for r in p["records"]]
    assert rec_id not in shown
    assert serious["count"] == 1
    admin = layout["sections"][0]
    assert [p["title"] for p in admin["parts"]] == ["行政许可", "行政处罚"]
    assert all(not p["lists"] for p in admin["parts"])  # lists are not mixed into 行政管理
    body = {"reasons": "已纠正", "commitment_text": _rep.PROMISE, "materials": _rep.MATERIALS}
    v = repairs.file_repair(c, _rep.CLERK, target_type="membership", target_id=mid, **body)
    repairs.accept(c, _rep.CLERK, v["id"])
    repairs.decide(c, samr, v["id"], approve=True, reason="已纠正失信行为并履行义务")
    got = reports.get_report(c, ANONYMOUS, issued["report_no"])
    listed_change = [ch for ch in got["changes"] if ch["kind"] == "list"]
    assert listed_change and listed_change[0]["code"] == "repaired" and listed_change[0]["hidden"]
    page = TestClient(create_app(c, scheduler=False)).get(f"/reports/{issued['report_no']}").text
    assert "已信用修复，不再公示" in page and "榆市监严列〔2025〕1号" not in page


def test_validity_and_beijing_time_are_printed(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    _penalties(c, tmp_path)
    sid = _subject(c)
    clock.advance(hours=15)  # 2026-11-25 17:00 UTC = 2026-11-26 01:00 in Beijing
    issued = reports.issue_report(c, ANONYMOUS, sid)
    no, content = issued["report_no"], issued["content"]
    assert no.startswith("YLCR20261126") and content["as_of"] == "2026-11-26"
    assert content["issued_at"] == "2026-11-26T01:00:00+08:00"
    assert content["valid_until"] == "2026-12-26" and content["validity_days"] == 30
    client = TestClient(create_app(c, scheduler=False))
    page = client.get(f"/reports/{no}").text
    meta = re.search(r'report-no">(.*?)</p>', page)
    assert meta is not None
    assert "生成时间 2026-11-26 01:00:00（北京时间）" in meta.group(1)
    assert "信息截至 2026-11-26" in meta.group(1) and "有效期至 2026-12-26" in meta.group(1)
    assert "UTC" not in page and "已超过有效期" not in page
    html = reports_api.report_html(
        reports.get_report(c, ANONYMOUS, no), verify_url="https://x.example/r", suite="s"
    )
    assert "2026-11-26 01:00:00（北京时间）" in html and "有效期至 <strong>2026-12-26" in html
    clock.advance(days=31)  # 2026-12-27 in Beijing
    got = reports.get_report(c, ANONYMOUS, no)
    assert got["expired"] is True
    assert "本报告已超过有效期" in client.get(f"/reports/{no}").text


# --- 3. the PDF's address ------------------------------------------------------------------


def _fake_render(seen: list[str]) -> Any:
    def render(report: dict[str, Any], *, verify_url: str, suite: str) -> bytes:
        seen.append(verify_url)
        return b"%PDF-fake"

    return render


def test_the_qr_address_is_the_configured_one_whatever_the_host(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    by_wsh = _penalties(c, tmp_path)
    no = reports.issue_report(c, ANONYMOUS, _subject(c))["report_no"]
    seen: list[str] = []
    monkeypatch.setattr(reports_api, "render_pdf", _fake_render(seen))
    folder = c.settings.data_dir / "reports"
    # development without public_base_url: the request's address, but never a cached file
    client = TestClient(create_app(c, scheduler=False))
    for host in ("evil.example", "credit-yulin.gov.cn.evil.example"):
        assert client.get(f"/reports/{no}/pdf", headers={"Host": host}).status_code == 200
    assert seen == [
        f"http://evil.example/reports/{no}",
        f"http://credit-yulin.gov.cn.evil.example/reports/{no}",
    ]
    assert not folder.exists() or list(folder.iterdir()) == []
    # configured: one address, one render, one file, whatever Host says
    c.settings = c.settings.model_copy(update={"public_base_url": "https://credit.example.gov.cn/"})
    client = TestClient(create_app(c, scheduler=False))
    seen.clear()
    for host in ("evil.example", "a1.example", "credit.example.gov.cn"):
        r = client.get(f"/reports/{no}/pdf", headers={"Host": host})
        assert r.status_code == 200 and r.content == b"%PDF-fake"
    assert seen == [f"https://credit.example.gov.cn/reports/{no}"]
    assert [p.name for p in folder.iterdir()] == [next(folder.iterdir()).name]
    # a change since issue is printed: a new render replaces the file (still one)
    withdraw_record(c, department_principal(c, SAMR), by_wsh[WSH[0]], "复议撤销")
    assert client.get(f"/reports/{no}/pdf", headers={"Host": "b.example"}).status_code == 200
    assert len(seen) == 2 and seen[1] == seen[0] and len(list(folder.iterdir())) == 1


def test_production_without_a_public_address_refuses_the_pdf(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    _penalties(c, tmp_path)
    no = reports.issue_report(c, ANONYMOUS, _subject(c))["report_no"]
    seen: list[str] = []
    monkeypatch.setattr(reports_api, "render_pdf", _fake_render(seen))
    c.settings = c.settings.model_copy(update={"environment": "production"})
    client = TestClient(create_app(c, scheduler=False))
    r = client.get(f"/reports/{no}/pdf", headers={"Host": "evil.example"})
    assert r.status_code == 503 and "CITYCREDIT_PUBLIC_BASE_URL" in r.text and seen == []
    assert client.get(f"/reports/{no}").status_code == 200  # the page itself still works


# --- 4. 信用中国's layout ------------------------------------------------------------------


def test_every_category_is_present_in_order_and_empty_ones_say_so(
    container: Container, tmp_path: Path
) -> None:
    c = container
    _penalties(c, tmp_path)
    issued = reports.issue_report(c, ANONYMOUS, _subject(c))
    overview = issued["content"]["overview"]
    assert [o["section"] for o in overview] == [
        "行政管理",
        "严重失信主体名单",
        "信用承诺",
        "司法判决",
        "诚实守信",
        "经营异常",
        "信用评价",
        "其他",
    ]
    assert overview[0]["count"] == 3 and all(o["count"] == 0 for o in overview[1:])
    page = TestClient(create_app(c, scheduler=False)).get(f"/reports/{issued['report_no']}").text
    headings = [
        re.sub(r"<small>.*?</small>", "", h).strip() for h in re.findall(r"<h2>(.*?)</h2>", page)
    ]
    assert headings[1:-1] == [
        "1 行政管理",
        "2 诚实守信",
        "3 严重失信主体名单",
        "4 经营异常",
        "5 信用承诺",
        "6 信用评价",
        "7 司法判决",
        "8 其他信息",
        "9 信用状况提升建议",
        "10 公共信用信息地方补充内容",
    ]
    assert len(CATEGORIES) == 8
    assert "1.1 行政许可 <small>0条</small>" in page and "1.2 行政处罚 <small>3条</small>" in page
    # 行政许可 + seven empty categories + no local supplement
    assert page.count("查询期内无相关信息") == 9
    assert "<td>0条</td>" in page and "<td>3条</td>" in page
