"""双公示 in the portal (subjects.archive.dual_publicity, /publicity/{item}, the API): the
city's newest public licences and penalties, each as its subject's public archive shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from citycredit.accounts.model import ANONYMOUS
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError
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

PERSON_ID = id_number("610802", "19800304", "123")
FIRM = uscc("91", "610802", "MA6PB001")
SHOP = uscc("92", "610802", "MA6PB002")


def rows() -> list[list[Any]]:
    def row(**values: Any) -> list[Any]:
        return penalty_row(PENALTY_COLUMNS_WITH_ID, **values)

    return [
        row(CF_XDR_MC="榆阳区公示商贸有限公司", CF_XDR_SHXYM=FIRM, CF_WSH="榆市监罚〔2026〕11号",
            CF_JDRQ="2026-11-20"),
        row(CF_XDR_MC="王小明", CF_XDR_LB="自然人", CF_XDR_ZJHM=PERSON_ID,
            CF_WSH="榆市监罚〔2026〕12号", CF_JDRQ="2026-11-10",
            CF_SY=f"当事人王小明（身份证号{PERSON_ID}）无证经营"),
        row(CF_XDR_MC="榆阳区老王小吃店", CF_XDR_LB="个体工商户", CF_XDR_SHXYM=SHOP,
            CF_WSH="榆市监罚〔2026〕13号", CF_JDRQ="2026-11-01"),
        row(CF_XDR_MC="榆阳区公示商贸有限公司", CF_XDR_SHXYM=FIRM, CF_WSH="榆市监罚〔2026〕14号",
            CF_JDRQ="2026-10-15"),
    ]  # fmt: skip


@pytest.fixture
def city(container: Container, tmp_path: Path) -> Container:
    samr = department(container)
    receipt = ingest_submission(
        container,
        samr,
        path=write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows()),
        item_code="penalty",
    )
    assert receipt.counts.new == 4, receipt.as_dict()
    return container


def numbers(feed: dict[str, Any]) -> list[str]:
    out = []
    for e in feed["entries"]:
        (no,) = [f["value"] for f in e["record"]["fields"] if f["code"] == "CF_WSH"]
        out.append(no)
    return out


def test_newest_first_as_the_archive_shows_each_record(city: Container) -> None:
    feed = archive.dual_publicity(city, ANONYMOUS, "penalty")
    assert feed["item_name"] == "行政处罚" and feed["has_more"] is False
    assert numbers(feed) == [f"榆市监罚〔2026〕{n}号" for n in (11, 12, 13, 14)]
    assert [e["decision_no"] for e in feed["entries"]] == numbers(feed)  # the summary's number
    firm, person, shop, _older = feed["entries"]
    # an organisation: named and linked, the record exactly as on its archive
    public = archive.public_archive(city, ANONYMOUS, firm["subject"]["subject_id"])
    (group,) = public["groups"]
    assert firm["record"] in group["records"]
    assert firm["subject"]["uscc"] == FIRM and firm["subject"]["name"] == "榆阳区公示商贸有限公司"
    # a natural person: masked, no link to the archive, no identifier
    assert person["subject"]["subject_id"] is None and person["subject"]["uscc"] is None
    assert person["subject"]["name"] != "王小明" and person["subject"]["name"].startswith("王")
    assert PERSON_ID not in str(person) and PERSON_ID[6:14] not in str(person)
    assert shop["subject"]["subject_id"] is not None  # 个体工商户: an organisation here
    amounts = [f for f in firm["record"]["fields"] if f["code"] == "CF_NR_FK"]
    assert amounts == [{"code": "CF_NR_FK", "label": "罚款金额", "value": "20000.00", "unit": "元"}]
    assert archive.dual_publicity(city, ANONYMOUS, "licence")["entries"] == []


def test_only_what_is_public_today(city: Container, clock: FixedClock) -> None:
    feed = archive.dual_publicity(city, ANONYMOUS, "penalty")
    first, second = feed["entries"][0]["record"], feed["entries"][1]["record"]
    samr = department_principal(city, SAMR)
    withdraw_record(city, samr, first["record_id"], reason="决定已撤销")
    with city.uow() as uow:  # an approved 信用修复 stops publication (Order No. 36 art. 3)
        uow.session.execute(
            update(RecordRow)
            .where(RecordRow.id == second["record_id"])
            .values(repaired_at=clock.now())
        )
        uow.commit()
    assert numbers(archive.dual_publicity(city, ANONYMOUS, "penalty")) == [
        "榆市监罚〔2026〕13号",
        "榆市监罚〔2026〕14号",
    ]


def test_pages_and_limits(city: Container) -> None:
    one = archive.dual_publicity(city, ANONYMOUS, "penalty", limit=1)
    two = archive.dual_publicity(city, ANONYMOUS, "penalty", limit=1, offset=1)
    last = archive.dual_publicity(city, ANONYMOUS, "penalty", limit=1, offset=3)
    assert numbers(one) == ["榆市监罚〔2026〕11号"] and one["has_more"] is True
    assert numbers(two) == ["榆市监罚〔2026〕12号"] and last["has_more"] is False
    with pytest.raises(FieldError) as bad:
        archive.dual_publicity(city, ANONYMOUS, "registration")
    assert bad.value.field == "item" and bad.value.value == "registration"
    with pytest.raises(FieldError) as deep:
        archive.dual_publicity(
            city, ANONYMOUS, "penalty", offset=archive.DUAL_PUBLICITY_MAX_OFFSET + 1
        )
    assert deep.value.field == "offset"


def test_the_portal_page_and_the_api(city: Container) -> None:
    client = TestClient(create_app(city, scheduler=False))
    page = client.get("/publicity/penalty")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    order = [text.index(f"榆市监罚〔2026〕{n}号") for n in (11, 12, 13, 14)]
    assert order == sorted(order)
    firm = archive.dual_publicity(city, ANONYMOUS, "penalty")["entries"][0]["subject"]
    assert f'<a href="/subjects/{firm["subject_id"]}">榆阳区公示商贸有限公司</a>' in text
    assert PERSON_ID not in text and "王小明" not in text
    assert "<dt>罚款金额</dt><dd>20000.00 元</dd>" in text
    # one line a decision, the record folded under it
    assert "<summary><strong>榆阳区公示商贸有限公司</strong>" in text
    assert text.count('<details class="publicity') == 4
    assert '<a href="/publicity/licence">行政许可</a>' in text
    assert "没有在公示期内的行政许可信息" in client.get("/publicity/licence").text
    api = client.get("/api/v1/publicity/penalty", params={"limit": 2})
    assert api.status_code == 200 and numbers(api.json())[:1] == ["榆市监罚〔2026〕11号"]
    assert api.json()["has_more"] is True
    wrong = client.get("/api/v1/publicity/registration")
    assert wrong.status_code == 422 and wrong.json()["field"] == "item"
    deep = client.get("/publicity/penalty", params={"page": 500})
    assert deep.status_code == 422 and "只能翻看最新的" in deep.text
    # the front page shows the newest five of each, people masked; a search shows results only
    home = client.get("/").text
    latest = home.split('<div class="latest">', 1)[1]
    assert "最新行政处罚" in latest and "最新行政许可" in latest and "暂无公示信息" in latest
    assert f'<a href="/subjects/{firm["subject_id"]}">榆阳区公示商贸有限公司</a>' in latest
    assert "王小明" not in home and PERSON_ID not in home
    assert latest.count("<li>") == 4  # four penalties, no licence
    assert '<div class="latest">' not in client.get("/", params={"q": "榆阳"}).text


def test_the_departments_own_publication_end_is_marked_for_reference(
    container: Container, tmp_path: Path
) -> None:
    """CF_GSJZQ is what the department wrote; the platform's 公示截止 is computed by severity."""
    samr = department(container)
    columns = [*PENALTY_COLUMNS_WITH_ID, "CF_GSJZQ"]
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="榆阳区参考商贸有限公司",
        CF_XDR_SHXYM=uscc("91", "610802", "MA6PB009"),
        CF_WSH="榆市监罚〔2026〕31号",
    )
    path = write_csv(tmp_path / "g.csv", columns, [[*row, "2029-11-01"]])
    assert ingest_submission(container, samr, path=path, item_code="penalty").counts.new == 1
    (entry,) = archive.dual_publicity(container, ANONYMOUS, "penalty")["entries"]
    declared = [f for f in entry["record"]["fields"] if f["code"] == "CF_GSJZQ"]
    assert declared == [
        {
            "code": "CF_GSJZQ",
            "label": "公示截止期（报送单位填报，仅供参考）",
            "value": "2029-11-01",
        }
    ]
    assert entry["record"]["publication_end"] != "2029-11-01"  # the platform's own period
