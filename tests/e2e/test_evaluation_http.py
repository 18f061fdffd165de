"""GET /api/v1/subjects/{id}/evaluation, runs and the archive's grade over HTTP (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_user
from citycredit.bootstrap import Container
from citycredit.evaluation import runs
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import DisclosureRow
from citycredit.shared.calendar import SHANGHAI
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from evaluation_support import (
    COMPANY,
    PERSON,
    SHOP,
    TODAY,
    deliver,
    ingest,
    licence,
    penalty,
    subject_id,
)
from support import SAMR, department, write_csv

pytestmark = pytest.mark.db

HRSS = "榆林市人力资源和社会保障局"
ARREARS = ["QJ_MC", "QJ_LB", "QJ_SHXYM", "QJ_XZ", "QJ_SSQ", "QJ_JE", "QJ_RDRQ"]


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A company with a public penalty and a non-public 社保欠缴; a person; a 个体工商户."""
    c = container
    department(c)
    ingest(
        c,
        tmp_path,
        [
            penalty(COMPANY, "榆市监罚〔2026〕1号"),
            penalty(PERSON, "榆市监罚〔2026〕2号"),
            penalty(SHOP, "榆市监罚〔2026〕3号", name="榆阳区王记小吃店"),
        ],
    )
    hrss = department(c, HRSS, "MA0HR001")
    row = [
        "榆阳区评价商贸有限公司",
        "法人及非法人组织",
        COMPANY,
        "养老保险",
        "2026-09",
        "12000",
        "2026-10-15",
    ]
    receipt = ingest_submission(
        c,
        hrss,
        path=write_csv(tmp_path / "qj.csv", ARREARS, [row]),
        item_code="social_insurance_arrears",
    )
    assert receipt.as_dict()["new"] == 1, receipt.as_dict()
    deliver(c)
    with c.uow() as uow:
        by_type = {r.subject_type: r.subject_id for r in uow.session.scalars(select(SubjectRow))}
    tokens = {
        "admin": add_user(
            c, SYSTEM, username="admin", display_name="信用办", role=Role.credit_office_admin
        ).token,
        "staff": add_user(
            c,
            SYSTEM,
            username="samr1",
            display_name="市场监管核查员",
            role=Role.department_staff,
            department=SAMR,
        ).token,
    }
    ids = {
        "company": subject_id(c, COMPANY),
        "person": by_type["natural_person"],
        "shop": by_type["individual_business"],
    }
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "ids": ids, "c": c}


def get(world: dict[str, Any], path: str, who: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {world['tokens'][who]}"} if who else {}
    return world["client"].get(path, headers=headers, params=params)


def url(world: dict[str, Any], subject: str) -> str:
    return f"/api/v1/subjects/{world['ids'][subject]}/evaluation"


def test_public_view_of_an_organisation(world: dict[str, Any]) -> None:
    r = get(world, url(world, "company"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["view"] == "public" and body["evaluated"] is True
    cur = body["current"]
    # 600 − 30 (一般 penalty in publication) − 5 (penalties in 3 years) − 20 (社保欠缴).
    assert (cur["score"], cur["grade"], cur["grade_label"]) == (545, "C", "中")
    assert (cur["as_of"], cur["model_code"], cur["model_version"]) == (
        TODAY.isoformat(),
        "enterprise",
        "2026.1",
    )
    # The 社保欠缴 (授权查询) is not named: summed into one line, so the parts still add up.
    codes = [i["code"] for i in cur["indicators"]]
    assert "social_insurance_arrears_1y" not in codes and "tax_grade" not in codes
    (hidden,) = [i for i in cur["indicators"] if i["code"] == "non_public"]
    assert hidden["points"] == -20
    assert [r["code"] for r in cur["reasons"]] == [
        "penalty_general_in_force",
        "non_public",
        "penalties_3y",
    ]
    assert "社会保险" not in r.text and "社保" not in r.text
    assert body["history"][0]["grade"] == "C" and body["history"][0]["trigger"]
    assert body["explanation"]


def test_authorised_view_shows_everything_and_is_logged(world: dict[str, Any]) -> None:
    r = get(world, url(world, "company"), "staff", view="authorised", purpose="行政许可审查")
    assert r.status_code == 200, r.text
    cur = r.json()["current"]
    arrears = next(x for x in cur["reasons"] if x["code"] == "social_insurance_arrears_1y")
    assert arrears["text"] == "近一年有 1 笔社会保险或住房公积金欠缴（-20分）"
    assert sum(i["points"] for i in cur["indicators"]) == cur["score"] - 600
    no_purpose = get(world, url(world, "company"), "staff", view="authorised")
    assert no_purpose.status_code == 422 and no_purpose.json()["field"] == "purpose"
    anonymous = get(world, url(world, "company"), view="authorised", purpose="好奇")
    assert anonymous.status_code == 401
    with world["c"].uow() as uow:
        logged = uow.session.scalars(select(DisclosureRow)).all()
    (row,) = [x for x in logged if x.purpose == "行政许可审查"]
    assert row.items == ["evaluation"] and row.subject_id == world["ids"]["company"]


@pytest.mark.parametrize("subject", ["person", "shop"])
def test_people_grades_are_never_public(world: dict[str, Any], subject: str) -> None:
    public = get(world, url(world, subject))
    assert public.status_code == 401 and public.json()["error"] == "evaluation_not_public"
    staff_public = get(world, url(world, subject), "staff")
    assert staff_public.status_code == 403 and "view=authorised" in staff_public.json()["message"]
    staff = get(world, url(world, subject), "staff", view="authorised", purpose="行政处罚核查")
    assert staff.status_code == 200
    body = staff.json()
    if subject == "person":  # no model evaluates natural persons
        assert body["evaluated"] is False and body["note"] == "尚无公共信用综合评价结果"
        assert body["subject"]["name"] != "王小明"  # masked for staff too
    else:
        assert body["current"]["model_code"] == "individual_business"
    # The public archive (JSON and page) says why no grade is shown.
    sid = world["ids"][subject]
    archive = get(world, f"/api/v1/subjects/{sid}/archive").json()
    assert archive["evaluation"] == {
        "shown": False,
        "note": "自然人、农户和个体工商户的评价结果不向社会公开，仅本人及经授权的工作人员可查",
    }
    page = get(world, f"/subjects/{sid}")
    assert page.status_code == 200 and "不向社会公开" in page.text and "评价基准日" not in page.text


def test_archive_shows_an_organisations_grade(world: dict[str, Any]) -> None:
    sid = world["ids"]["company"]
    archive = get(world, f"/api/v1/subjects/{sid}/archive").json()
    ev = archive["evaluation"]
    assert ev["shown"] is True and (ev["grade"], ev["grade_label"]) == ("C", "中")
    assert ev["as_of"] == TODAY.isoformat() and ev["model_version"] == "2026.1"
    page = get(world, f"/subjects/{sid}")
    assert "公共信用综合评价：<strong>C（中）</strong>" in page.text
    assert f'<a href="/subjects/{sid}/evaluation">评价理由与等级历史</a>' in page.text
    assert "评价模型 企业公共信用综合评价模型（2026.1 版）" in page.text
    assert "enterprise 2026.1" not in page.text  # the model's name, not its code


def test_evaluation_page_explains_the_grade(world: dict[str, Any]) -> None:
    """The portal's 评价理由与等级历史: grade, reasons by impact, every public indicator with its
    points under its dimension, the grade lines, the history — the JSON's content, in words."""
    sid = world["ids"]["company"]
    page = get(world, f"/subjects/{sid}/evaluation")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "C（中）<small>545 分</small>" in text
    body = get(world, url(world, "company")).json()
    reasons = [r["text"] for r in body["current"]["reasons"]]
    ordered = [text.index(f"<li>{r}</li>") for r in reasons]  # each reason, by impact
    assert ordered == sorted(ordered) and len(ordered) == 3
    assert '<td colspan="3">基础分</td><td>600</td>' in text
    assert "遵纪守法<br>" in text and "本维度计 -500 至 0 分" in text
    assert "合计 -" not in text  # no dimension totals: the public view hides some parts
    for ind in body["current"]["indicators"]:
        assert f"<td>{ind['name']}</td>" in text
    (hidden,) = [i for i in body["current"]["indicators"] if i["code"] == "non_public"]
    assert f"<td>{hidden['name']}</td><td>—</td><td>-20</td>" in text
    assert "社保" not in text and "社会保险" not in text  # the non-public item is not named
    assert "A（优）≥ 700 分" in text and "GB/T 45255-2025" in text
    history = text.split('<table class="q history">', 1)[1]
    assert "C（中）" in history and "信用记录变化" in history and "record." not in history
    assert "企业公共信用综合评价模型（2026.1 版）" in history and "enterprise" not in history
    # times in Beijing time, as on every other page
    at = datetime.fromisoformat(body["current"]["evaluated_at"]).astimezone(SHANGHAI)
    assert f"计算于 {at:%Y-%m-%d %H:%M:%S}（北京时间）" in text and "UTC" not in text
    assert f'<a href="/subjects/{sid}">' in text  # back to the archive
    person = get(world, f"/subjects/{world['ids']['person']}/evaluation")
    assert person.status_code == 401 and person.headers["content-type"].startswith("text/html")
    assert person.headers["www-authenticate"].startswith("Bearer")  # the page asks to log in
    assert "不向社会公开" in person.text and "评价基准日" not in person.text
    missing = get(world, "/subjects/snothere/evaluation")
    assert missing.status_code == 404 and "主体 snothere 不存在" in missing.text


def test_trigger_labels() -> None:
    from citycredit.web.pages import trigger_label

    assert trigger_label("run") == "定期评价"
    assert trigger_label("record.accepted,record.corrected,membership.published") == (
        "信用记录变化、名单变化"
    )
    assert trigger_label("subject.updated") == "主体信息变化"
    assert trigger_label("something.else") == "something.else"
    assert trigger_label(None) == "—"


def test_unknown_subject_and_runs(world: dict[str, Any], tmp_path: Path) -> None:
    missing = get(world, "/api/v1/subjects/snothere/evaluation")
    assert missing.status_code == 404 and missing.json()["error"] == "subject_not_found"
    bad_view = get(world, url(world, "company"), view="everything")
    assert bad_view.status_code == 422
    c = world["c"]
    licence(c, tmp_path, COMPANY)
    c.clock.advance(days=5)  # type: ignore[attr-defined]  # FixedClock: no as_of after today
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=date(2026, 11, 30))
    listed = get(world, "/api/v1/evaluation/runs", "admin")
    assert listed.status_code == 200
    (only,) = listed.json()["runs"]
    assert only["run_id"] == run["run_id"] and only["engine"] == "db"
    assert sum(only["counts"].values()) == only["evaluated"] == 2  # the company and the shop
    one = get(world, f"/api/v1/evaluation/runs/{run['run_id']}", "admin").json()
    assert one["as_of"] == "2026-11-30" and one["status"] == "completed"
    assert get(world, "/api/v1/evaluation/runs").status_code == 401
    assert get(world, "/api/v1/evaluation/runs", "staff").status_code == 403
    assert get(world, "/api/v1/evaluation/runs/evrnothere", "admin").status_code == 404
    # The run's newer as_of moved the current result; history keeps the triggered one.
    body = get(world, url(world, "company")).json()
    assert body["current"]["run_id"] == run["run_id"] and body["current"]["as_of"] == "2026-11-30"
    assert [h["trigger"] for h in body["history"]][-1].startswith("record.")
