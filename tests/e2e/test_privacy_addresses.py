"""G30 on real intake and HTTP: a natural person's home address (street level), bank account and
third parties named in the record's own fields stay off public views; an organisation's and a
个体工商户's address stays public; the ID mask of the own and authorised views follows the
configured style (settings id_mask_keep_first / id_mask_keep_last)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.subjects.archive import authorised_archive, consented_archive, own_archive
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

COLUMNS = [*PENALTY_COLUMNS_WITH_ID, "CF_XDR_DZ", "CF_FRDB"]
IDN = id_number("610802", "19800304", "271")
CARD = "6222021234567890128"  # Luhn-valid
PERSON_HOME = "榆阳区长城路12号3单元501室"
COMPANY = uscc("91", "610802", "MA0ADDR1")
SHOP = uscc("92", "610802", "MA0ADDR2")
COMPANY_ADDRESS = "榆林市榆阳区长城路88号"
SHOP_ADDRESS = "榆阳区新建南路6号"


def _row(address: str, legal_rep: str, **values: object) -> list[object]:
    return [*penalty_row(PENALTY_COLUMNS_WITH_ID, **values), address, legal_rep]


def _load(c: Container, tmp_path: Path) -> dict[str, str]:
    actor = department(c)
    rows = [
        _row(  # a person's 住所 column and a third party's name in 法定代表人
            PERSON_HOME,
            "李监护",
            CF_XDR_MC="王小明",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=IDN,
            CF_WSH="榆市监罚〔2026〕101号",
            CF_SY=f"当事人王小明（住{PERSON_HOME}）无证经营，违法所得经其银行账号{CARD}收取",
        ),
        _row(
            COMPANY_ADDRESS,
            "赵法人",
            CF_XDR_MC="榆林某某商贸有限公司",
            CF_XDR_SHXYM=COMPANY,
            CF_WSH="榆市监罚〔2026〕102号",
            CF_SY=f"当事人在{COMPANY_ADDRESS}经营场所销售过期食品，货款汇入对公账户{CARD}",
        ),
        _row(
            SHOP_ADDRESS,
            "赵经营",
            CF_XDR_MC="榆阳区老赵小吃店",
            CF_XDR_LB="个体工商户",
            CF_XDR_SHXYM=SHOP,
            CF_WSH="榆市监罚〔2026〕103号",
            CF_SY=f"当事人在{SHOP_ADDRESS}经营场所使用过期原料",
        ),
    ]
    path = write_csv(tmp_path / "penalty.csv", COLUMNS, rows)
    receipt = ingest_submission(c, actor, path=path, item_code="penalty")
    assert receipt.counts.new == 3, receipt.notes
    with c.uow() as uow:
        subjects = {r.name: r.subject_id for r in uow.session.scalars(select(SubjectRow))}
    return {
        "person": subjects["王小明"],
        "company": subjects["榆林某某商贸有限公司"],
        "shop": subjects["榆阳区老赵小吃店"],
    }


def department_of(c: Container) -> Principal:
    return department_principal(c, SAMR)


def _fields(view: dict[str, Any]) -> dict[str, Any]:
    return {
        f["code"]: f["value"] for g in view["groups"] for r in g["records"] for f in r["fields"]
    }


def test_public_views_hide_a_persons_address_account_and_third_party(
    container: Container, tmp_path: Path
) -> None:
    c = container
    ids = _load(c, tmp_path)
    client = TestClient(create_app(c, scheduler=False))
    person = client.get(f"/api/v1/subjects/{ids['person']}/archive").json()
    shown = _fields(person)
    assert (
        shown["CF_SY"] == "当事人王**（住榆阳区[已隐去]）无证经营，违法所得经其银行账号[已隐去]收取"
    )
    assert "CF_XDR_DZ" not in shown and "CF_FRDB" not in shown and "CF_XDR_ZJHM" not in shown
    assert shown["CF_WSH"] == "榆市监罚〔2026〕101号"  # a decision number is not an address
    assert "id_number_masked" not in person["subject"]
    # the same on 双公示 (API and page) and the archive page
    pages = [
        client.get("/api/v1/publicity/penalty?limit=100").text,
        client.get("/publicity/penalty").text,
        client.get(f"/subjects/{ids['person']}").text,
        json.dumps(person, ensure_ascii=False),
    ]
    for text in pages:
        for secret in ("长城路12号", "3单元501", "501室", CARD, "李监护", IDN[:6] + IDN[6:14]):
            assert secret not in text, secret
    # authorised staff still see the third party and the text's address (ID and card scrubbed)
    staff = _fields(authorised_archive(c, department_of(c), ids["person"], purpose="案件核查"))
    assert staff["CF_FRDB"] == "李监护" and PERSON_HOME in staff["CF_SY"]
    assert CARD not in staff["CF_SY"]

    # an organisation's and a 个体工商户's address stays public; their bank account does not
    company = _fields(client.get(f"/api/v1/subjects/{ids['company']}/archive").json())
    assert company["CF_XDR_DZ"] == COMPANY_ADDRESS and company["CF_FRDB"] == "赵法人"
    assert (
        company["CF_SY"]
        == f"当事人在{COMPANY_ADDRESS}经营场所销售过期食品，货款汇入对公账户[已隐去]"
    )
    shop = _fields(client.get(f"/api/v1/subjects/{ids['shop']}/archive").json())
    assert shop["CF_XDR_DZ"] == SHOP_ADDRESS and shop["CF_FRDB"] == "赵经营"
    assert shop["CF_SY"] == f"当事人在{SHOP_ADDRESS}经营场所使用过期原料"
    publicity = client.get("/api/v1/publicity/penalty?limit=100").text
    assert COMPANY_ADDRESS in publicity and SHOP_ADDRESS in publicity

    # the ledger bundle discloses the company's address as stored, the scrubbed text not at all
    ledger.integrate_now(c)
    with c.uow() as uow:
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.subject_id == ids["company"]))
    bundle = client.get(f"/api/v1/ledger/bundles/{rid}").json()
    assert bundle["disclosed"]["CF_XDR_DZ"]["value"] == COMPANY_ADDRESS
    assert "CF_SY" not in bundle["disclosed"]


def test_id_mask_follows_the_configured_style(container: Container, tmp_path: Path) -> None:
    c = container
    sid = _load(c, tmp_path)["person"]
    me = Principal(role=Role.natural_person, label="王小明", subject_ids=frozenset({sid}))
    samr = department_of(c)

    def masks() -> tuple[str, str, str, str, str]:
        own = own_archive(c, me, sid)
        staff = authorised_archive(c, samr, sid, purpose="案件核查")
        bank = consented_archive(
            c,
            samr,
            sid,
            purpose="贷款审查",
            items=None,
            evaluation=True,
            authorisation_id="au_test",
        )
        return (
            own["subject"]["id_number_masked"],
            _fields(own)["CF_XDR_ZJHM"],
            staff["subject"]["id_number_masked"],
            _fields(staff)["CF_XDR_ZJHM"],
            bank["subject"]["id_number_masked"],  # no opened value: the stored form
        )

    stored = IDN[:4] + "*" * 14
    assert masks() == (*[IDN[:4] + "*" * 10 + IDN[-4:]] * 4, stored)  # defaults: 4 + 4
    c.settings = c.settings.model_copy(update={"id_mask_keep_first": 6, "id_mask_keep_last": 2})
    assert masks() == (*[IDN[:6] + "*" * 10 + IDN[-2:]] * 4, stored)  # never more than stored
    c.settings = c.settings.model_copy(update={"id_mask_keep_first": 2, "id_mask_keep_last": 0})
    assert masks() == (*[IDN[:2] + "*" * 16] * 5,)
    # the stored form is not affected
    with c.uow() as uow:
        row = uow.session.get(SubjectRow, sid)
        assert row is not None and row.id_masked == stored
    # public views still show no ID number at all
    client = TestClient(create_app(c, scheduler=False))
    text = client.get(f"/api/v1/subjects/{sid}/archive").text
    assert "id_number_masked" not in text and "CF_XDR_ZJHM" not in text
    assert re.search(r"[0-9X]\*{6,}|\*{6,}[0-9X]", text) is None  # no masked ID of any style
