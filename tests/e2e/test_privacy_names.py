"""G30: natural persons' names inside free text (违法事实 …) on every public view — the archive
(API and page), 双公示 (API and page), a public sharing feed and a public ledger bundle — are
shown masked like a name field (刘芳芳 → 刘**); names the record shows publicly anyway (an
enterprise's 法定代表人, a 个体工商户's 经营者) stay; authorised views keep every name; the
setting `mask_names_in_public_text` turns the masking off. Records come through the real intake."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.shared.clock import FixedClock
from citycredit.sharing import service as sharing
from citycredit.sharing.fanout import fan_out
from citycredit.sharing.service import NewSubscription, pull_feed
from citycredit.subjects.archive import authorised_archive
from citycredit.subjects.db import SubjectRow
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

COLUMNS = [*PENALTY_COLUMNS_WITH_ID, "CF_FRDB"]
COMPANY = "榆林鑫泰商贸有限公司"
SHOP = "榆阳区老赵小吃店"
PERSON = "王小明"
FIRM_TEXT = "经查，该公司员工刘芳芳、陈晨销售假冒伪劣产品，法定代表人贺建军未履行管理职责。"
SHOP_TEXT = "经营者赵国华雇佣的厨师魏志刚、呼延红霞未取得健康证明。"
PERSON_TEXT = "当事人王小明驾驶无证车辆将受害人李秀英撞伤。"
THIRD_PARTIES = ("刘芳芳", "陈晨", "魏志刚", "呼延红霞", "李秀英")
SHOWN = {
    "firm": "经查，该公司员工刘**、陈*销售假冒伪劣产品，法定代表人贺建军未履行管理职责。",
    "shop": "经营者赵国华雇佣的厨师魏**、呼延**未取得健康证明。",
    "person": "当事人王**驾驶无证车辆将受害人李**撞伤。",
}
CLEAR = {"firm": FIRM_TEXT, "shop": SHOP_TEXT, "person": PERSON_TEXT}


def _load(c: Container, tmp_path: Path) -> dict[str, str]:
    rows = [
        [
            *penalty_row(
                PENALTY_COLUMNS_WITH_ID,
                CF_XDR_MC=COMPANY,
                CF_XDR_SHXYM=uscc("91", "610802", "MA0NAME1"),
                CF_WSH="榆市监罚〔2026〕201号",
                CF_SY=FIRM_TEXT,
            ),
            "贺建军",
        ],
        [
            *penalty_row(
                PENALTY_COLUMNS_WITH_ID,
                CF_XDR_MC=SHOP,
                CF_XDR_LB="个体工商户",
                CF_XDR_SHXYM=uscc("92", "610802", "MA0NAME2"),
                CF_WSH="榆市监罚〔2026〕202号",
                CF_SY=SHOP_TEXT,
            ),
            "赵国华",
        ],
        [
            *penalty_row(
                PENALTY_COLUMNS_WITH_ID,
                CF_XDR_MC=PERSON,
                CF_XDR_LB="自然人",
                CF_XDR_ZJHM=id_number("610802", "19800304", "271"),
                CF_WSH="榆市监罚〔2026〕203号",
                CF_SY=PERSON_TEXT,
            ),
            "",
        ],
    ]
    path = write_csv(tmp_path / "penalty.csv", COLUMNS, rows)
    receipt = ingest_submission(c, department(c), path=path, item_code="penalty")
    assert receipt.counts.new == 3, receipt.notes
    with c.uow() as uow:
        subjects = {r.name: r.subject_id for r in uow.session.scalars(select(SubjectRow))}
        records = {r.subject_id: r.id for r in uow.session.scalars(select(RecordRow))}
    ids = {"firm": subjects[COMPANY], "shop": subjects[SHOP], "person": subjects[PERSON]}
    return ids | {f"{k}_record": records[v] for k, v in list(ids.items())}


def _texts(view: dict[str, Any]) -> list[str]:
    return [
        f["value"]
        for g in view["groups"]
        for r in g["records"]
        for f in r["fields"]
        if f["code"] == "CF_SY"
    ]


def _public_feed(c: Container) -> dict[str, str]:
    tax = department(c, "榆林市税务局", "MA0TAX01")
    # without a purpose and legal basis a subscription is to public data only
    sub = sharing.subscribe(c, tax, NewSubscription(name="公开订阅", items=["penalty"]))["id"]
    fan_out(c)
    entries = pull_feed(c, tax, str(sub), after=0, limit=100)["entries"]
    return {e["data"]["fields"]["CF_WSH"]: e["data"]["fields"]["CF_SY"] for e in entries}


def test_public_views_mask_third_parties_names_in_free_text(
    container: Container, tmp_path: Path
) -> None:
    c = container
    ids = _load(c, tmp_path)
    client = TestClient(create_app(c, scheduler=False))
    for key in ("firm", "shop", "person"):
        archive = client.get(f"/api/v1/subjects/{ids[key]}/archive").json()
        assert _texts(archive) == [SHOWN[key]], key
    publicity = client.get("/api/v1/publicity/penalty?limit=100").json()
    assert sorted(e["record"]["fields"][0]["value"] for e in publicity["entries"]) == sorted(
        [COMPANY, SHOP, "王**"]
    )
    shown_texts = sorted(
        f["value"]
        for e in publicity["entries"]
        for f in e["record"]["fields"]
        if f["code"] == "CF_SY"
    )
    assert shown_texts == sorted(SHOWN.values())
    pages = [
        client.get("/publicity/penalty").text,
        *(client.get(f"/subjects/{ids[k]}").text for k in ("firm", "shop", "person")),
        json.dumps(publicity, ensure_ascii=False),
    ]
    for page in pages:
        for name in THIRD_PARTIES:
            assert name not in page, name
    assert "贺建军" in pages[1] and "赵国华" in pages[2]  # public 法定代表人 / 经营者 stay
    # a public sharing feed shows the same
    feed = _public_feed(c)
    assert sorted(feed.values()) == sorted(SHOWN.values())
    # the public bundle cannot disclose a masked text (it would not hash to the leaf) nor the
    # raw one: the text stays an undisclosed digest; the firm's other fields are disclosed
    ledger.integrate_now(c)
    bundle = client.get(f"/api/v1/ledger/bundles/{ids['firm_record']}").json()
    assert "CF_SY" not in bundle["disclosed"]
    assert bundle["disclosed"]["CF_FRDB"]["value"] == "贺建军"
    for name in THIRD_PARTIES:
        assert name not in json.dumps(bundle, ensure_ascii=False)
    # authorised staff read every name in clear
    samr = department_principal(c, SAMR)
    for key in ("firm", "shop", "person"):
        staff = authorised_archive(c, samr, ids[key], purpose="案件核查")
        assert _texts(staff) == [CLEAR[key]], key


def test_the_setting_off_shows_the_names(container: Container, tmp_path: Path) -> None:
    c = container
    c.settings = c.settings.model_copy(update={"mask_names_in_public_text": False})
    ids = _load(c, tmp_path)
    client = TestClient(create_app(c, scheduler=False))
    assert _texts(client.get(f"/api/v1/subjects/{ids['firm']}/archive").json()) == [FIRM_TEXT]
    # the penalised person's own name keeps its own rule; third parties are shown
    person = client.get(f"/api/v1/subjects/{ids['person']}/archive").json()
    assert _texts(person) == ["当事人王**驾驶无证车辆将受害人李秀英撞伤。"]
    page = client.get("/publicity/penalty").text
    assert "刘芳芳" in page and "魏志刚" in page
    feed = _public_feed(c)
    assert FIRM_TEXT in feed.values()
    ledger.integrate_now(c)
    bundle = client.get(f"/api/v1/ledger/bundles/{ids['firm_record']}").json()
    assert bundle["disclosed"]["CF_SY"]["value"] == FIRM_TEXT  # shown as stored: disclosed


def _published_membership(c: Container, clock: FixedClock, sid: str, reasons: str) -> None:
    samr = department_principal(c, SAMR)
    mid = lists.propose(
        c,
        samr,
        list_type="market_supervision_serious",
        subject_id=sid,
        document_no="榆市监罚〔2026〕201号",
        reasons=reasons,
    )
    lists.notify(c, samr, mid)
    with c.uow() as uow:
        m = uow.session.get(MembershipRow, mid)
        assert m is not None and m.objection_due is not None
        due = m.objection_due
    clock.current = clock.current + timedelta(days=(due - clock.current.date()).days + 2)
    lists.decide(c, samr, mid, decision_no="榆市监严列〔2026〕9号")
    lists.publish(c, samr, mid)


@pytest.mark.parametrize("masking", [True, False])
def test_public_list_reasons_follow_the_setting(
    container: Container, clock: FixedClock, tmp_path: Path, masking: bool
) -> None:
    """An organisation's list reasons on the public list and its archive's list section:
    other persons' names masked, the organisation's own name kept; with the setting off,
    shown as written."""
    c = container
    c.settings = c.settings.model_copy(update={"mask_names_in_public_text": masking})
    ids = _load(c, tmp_path)
    reasons = f"{COMPANY}组织员工刘芳芳、陈晨销售假冒伪劣产品，情节严重"
    _published_membership(c, clock, ids["firm"], reasons)
    client = TestClient(create_app(c, scheduler=False))
    listed = client.get("/api/v1/lists/market_supervision_serious").json()["entries"]
    own = client.get(f"/api/v1/subjects/{ids['firm']}/lists").json()
    shown = [e["reasons"] for e in listed] + [e["reasons"] for e in own["lists"]]
    expected = reasons if not masking else f"{COMPANY}组织员工刘**、陈*销售假冒伪劣产品，情节严重"
    assert shown == [expected, expected]


@pytest.mark.parametrize("masking", [True, False])
def test_the_recogniser_loads_at_start_only_when_masking(
    container: Container, monkeypatch: pytest.MonkeyPatch, masking: bool
) -> None:
    """The server loads the name recogniser's dictionary before it answers (the first public
    read would otherwise wait for it), and not at all when the setting is off."""
    from citycredit.shared import person_names

    c = container
    c.settings = c.settings.model_copy(update={"mask_names_in_public_text": masking})
    monkeypatch.setattr(person_names, "_WORDS", None)
    with TestClient(create_app(c, scheduler=False)):
        assert (person_names._WORDS is not None) is masking
