"""How list entries are presented (user review, 2026-11-28): 公示截止 is the last day on the
list, an entry without an end date says 以认定机关移出为准 with the list's rule instead of 长期,
a revoked 守信激励对象 qualification leaves every public view, and a report's record sections
say where their entries listed in section 3 are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_lists_fixes import (
    COMPANY,
    COMPANY_USCC,
    COURT,
    company,
    court_file,
    deliver_lists,
    dept,
    memberships,
)

from citycredit.accounts.model import ANONYMOUS
from citycredit.bootstrap import Container
from citycredit.evaluation.engines import evaluate_db
from citycredit.evaluation.service import evaluation_as_of, models_for
from citycredit.ingest.service import ingest_submission
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.lists.display import NO_END
from citycredit.reports import service as reports
from citycredit.reports.layout import report_layout
from citycredit.shared.clock import FixedClock
from citycredit.subjects import archive
from citycredit.web.app import create_app
from support import write_csv

pytestmark = pytest.mark.db

TAX = "榆林市税务局"
HM = ["HM_MC", "HM_LB", "HM_SHXYM", "HM_MDLX", "HM_WJYJ", "HM_RDRQ", "HM_YXQZ", "HM_RDJG"]
RED_NO = "榆税信〔2026〕8号"
LAST = "2027-01-17"  # 有效期至: the last day on the red list
FIRST_OFF = "2027-01-18"


def red_record(c: Container, tmp: Path) -> str:
    """A company on the red list from the tax bureau's A级纳税人 file, 有效期至 2027-01-17."""
    sid = company(c, tmp)
    tax = dept(c, TAX, "MA0TAX01")
    row = [COMPANY, "法人及非法人组织", COMPANY_USCC, "A级纳税人", RED_NO, "2026-04-20", LAST]
    row += ["国家税务总局榆林市税务局"]
    ingest_submission(c, tax, path=write_csv(tmp / "hm.csv", HM, [row]), item_code="red_list")
    deliver_lists(c)
    return sid


def red_points(c: Container, sid: str) -> int:
    """The points the 守信激励对象（红名单） indicator gives the subject today."""
    with c.uow() as uow:
        [result] = evaluate_db(uow.session, models_for(c), [sid], evaluation_as_of(c))
    return result.points("red_list")


def section(html: str, css: str) -> str:
    """The first <section class="css"> of a page."""
    m = re.search(rf'<section class="{css}">(.*?)</section>', html, re.S)
    assert m is not None, css
    return m.group(1)


def test_list_entries_show_their_last_day_everywhere(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = red_record(c, tmp_path)
    [m] = memberships(c, sid)
    assert m.expires_on is not None and m.expires_on.isoformat() == FIRST_OFF  # stored: exclusive
    web = TestClient(create_app(c, scheduler=False))
    # the API: expires_on stays the first day off (documented so), last_day is 公示截止
    api = web.get("/api/v1/lists/red_list").json()
    [entry] = api["entries"]
    assert (entry["expires_on"], entry["last_day"]) == (FIRST_OFF, LAST)
    [mine] = lists.public_subject_lists(c, ANONYMOUS, sid)["lists"]
    assert mine["last_day"] == LAST
    # the pages
    page = web.get(f"/subjects/{sid}").text
    assert f"<dt>公示截止</dt><dd>{LAST}</dd>" in section(page, "memberships")
    assert FIRST_OFF not in page
    listing = web.get("/lists/red_list").text
    assert f"<td>{LAST}</td>" in listing and FIRST_OFF not in listing
    # a new report: its content holds the last day, its page and PDF body print it
    issued = reports.issue_report(c, ANONYMOUS, sid)
    [listed] = issued["content"]["lists"]
    assert listed["last_day"] == LAST
    html = web.get(f"/reports/{issued['report_no']}").text
    assert f"<dt>公示截止</dt><dd>{LAST}</dd>" in html and FIRST_OFF not in html


def test_a_report_issued_without_last_day_prints_the_last_day_and_keeps_its_content(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """Reports issued before last_day was stored hold expires_on only: the page prints the day
    before it, and the stored (signed) content is left as issued."""
    from citycredit.ledger.bundle import report_digest
    from citycredit.reports.db import ReportRow

    c = container
    sid = red_record(c, tmp_path)
    issued = reports.issue_report(c, ANONYMOUS, sid)
    no = issued["report_no"]
    with c.uow() as uow:
        row = uow.session.get(ReportRow, no)
        assert row is not None
        old = dict(row.content)
        old["lists"] = [{k: v for k, v in e.items() if k != "last_day"} for e in old["lists"]]
        row.content = old
        row.content_hash = report_digest(c.settings.ledger_suite, old)
        uow.commit()
    html = TestClient(create_app(c, scheduler=False)).get(f"/reports/{no}").text
    assert f"<dt>公示截止</dt><dd>{LAST}</dd>" in html and FIRST_OFF not in html
    with c.uow() as uow:
        row = uow.session.get(ReportRow, no)
        assert row is not None and "last_day" not in row.content["lists"][0]


def test_an_entry_without_end_date_names_who_removes_it_and_the_rule(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = company(c, tmp_path)
    dept(c, COURT, "MA0CRT01")
    court_file(c, tmp_path, "sx.csv", "", "2026-11-20")  # no SX_YCRQ: no end date
    [m] = memberships(c, sid)
    assert (m.list_type, m.expires_on) == ("judgment_defaulter", None)
    rule = lists.lists_catalog().list_type("judgment_defaulter").period
    assert rule is not None
    shown = f"{NO_END}（{rule.basis}）"
    web = TestClient(create_app(c, scheduler=False))
    page = section(web.get(f"/subjects/{sid}").text, "memberships")
    assert f"<dt>公示截止</dt><dd>{shown}</dd>" in page and "长期" not in page
    whole = web.get(f"/subjects/{sid}").text  # the 失信被执行人 record itself, too
    assert "长期" not in whole and f"<dt>公示截止</dt><dd>{NO_END}</dd>" in whole
    listing = web.get("/lists/judgment_defaulter").text  # the header states the rule
    assert f"<td>{NO_END}</td>" in listing and "长期" not in listing
    assert rule.basis in listing
    [entry] = web.get("/api/v1/lists/judgment_defaulter").json()["entries"]
    assert (entry["expires_on"], entry["last_day"]) == (None, None)
    issued = reports.issue_report(c, ANONYMOUS, sid)
    html = web.get(f"/reports/{issued['report_no']}").text
    assert f"<dt>公示截止</dt><dd>{shown}</dd>" in html
    # 7.1 失信被执行人 does not say "nothing" while section 3 lists the same entry
    layout = report_layout(issued["content"])
    serious = next(s for s in layout["sections"] if s["code"] == "serious")
    judicial = next(s for s in layout["sections"] if s["code"] == "judicial")
    assert [(p["title"], p["count"]) for p in serious["parts"]] == [("严重失信主体名单（名单）", 1)]
    [part] = judicial["parts"]
    assert part["count"] == 0 and part["notes"] == [
        "1 条已列入名单，见 3.1 严重失信主体名单（名单）"
    ]
    judicial_html = section(html, "category category-judicial")
    assert "1 条已列入名单，见 3.1 严重失信主体名单（名单）" in judicial_html
    assert "查询期内无相关信息" not in judicial_html


def test_a_revoked_red_qualification_leaves_every_public_view(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid = red_record(c, tmp_path)
    web = TestClient(create_app(c, scheduler=False))
    before = reports.issue_report(c, ANONYMOUS, sid)
    assert "red_list" in [g["item"] for g in archive.public_archive(c, ANONYMOUS, sid)["groups"]]
    assert red_points(c, sid) > 0
    dept(c, COURT, "MA0CRT01")
    court_file(c, tmp_path, "sx.csv", "", "2026-11-20")
    with c.uow() as uow:
        red = uow.session.scalars(
            select(MembershipRow).where(MembershipRow.list_type == "red_list")
        ).one()
        assert (red.status, red.exit_code) == ("exited", "decision_revoked")
        assert red.exit_reason and "依规撤销守信激励对象资格" in red.exit_reason
    # the evaluation no longer counts the revoked qualification as 守信激励
    assert red_points(c, sid) == 0
    # the archive (service, API, page): no 守信激励对象 record presented as current
    view = archive.public_archive(c, ANONYMOUS, sid)
    assert "red_list" not in [g["item"] for g in view["groups"]]
    api = web.get(f"/api/v1/subjects/{sid}/archive").json()
    assert "red_list" not in [g["item"] for g in api["groups"]]
    assert RED_NO not in web.get(f"/api/v1/subjects/{sid}/archive").text
    page = web.get(f"/subjects/{sid}").text
    assert RED_NO not in page and "A级纳税人" not in page and "失信被执行人" in page
    assert RED_NO not in web.get("/lists/red_list").text
    # a new report: no 诚实守信 entry beside 失信被执行人
    after = reports.issue_report(c, ANONYMOUS, sid)
    content = after["content"]
    assert "守信激励对象" not in content["tags"]
    assert "red_list" not in [g["item"] for g in content["sections"]]
    honest = next(s for s in report_layout(content)["sections"] if s["code"] == "honest")
    assert honest["count"] == 0
    html = web.get(f"/reports/{after['report_no']}").text
    assert RED_NO not in html and LAST not in html
    # the old report's verification page still says it left the list
    old = web.get(f"/reports/{before['report_no']}").text
    assert "已提前移出名单，不再公示" in old and RED_NO not in old
    # … and no longer tags the subject 守信激励对象 (page and JSON); the issued content did
    assert "守信激励对象" in before["content"]["tags"]
    assert ">守信激励对象</span>" not in old
    assert (
        "守信激励对象"
        not in web.get(f"/api/v1/reports/{before['report_no']}").json()["content"]["tags"]
    )


def test_a_serious_record_shown_as_its_list_entry_is_not_reported_as_nothing() -> None:
    """3.1 严重失信主体名单 (the catalog item) beside 3.2 …（名单）: the item's subsection
    points at the entry instead of saying 0 条 查询期内无相关信息."""
    content = {
        "sections": [
            {
                "item": "serious_dishonesty",
                "item_name": "严重失信主体名单",
                "category": "严重失信主体名单信息",
                "count": 1,
                "records": [{"record_id": "r1", "adverse": True}],
            }
        ],
        "lists": [{"list_type": "market_supervision_serious", "record_id": "r1"}],
    }
    serious = next(s for s in report_layout(content)["sections"] if s["code"] == "serious")
    assert [(p["title"], p["count"], p["notes"]) for p in serious["parts"]] == [
        ("严重失信主体名单", 0, ["1 条已列入名单，见 3.2 严重失信主体名单（名单）"]),
        ("严重失信主体名单（名单）", 1, []),
    ]
    assert serious["count"] == 1
