"""No ID digits, phone numbers, home addresses or bank accounts of a natural person in any public
response; minors' penalties never published (G30, G31).

A property test: hypothesis generates natural persons (valid ID numbers from Yulin counties,
mobile numbers, names, home addresses down to the room or the village group, bank card numbers),
departments send registrations, licences and penalties that carry them — in their own columns
and inside free text — and every public endpoint is read anonymously.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from stdnum import luhn

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.shared.divisions import YULIN_COUNTIES
from citycredit.shared.ids import ID_NUMBER_PATTERN, PHONE_PATTERN
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉斌宇浩凯健俊帆帅旭宁欣悦琳晨"
AUTH = uscc("11", "610800", "MA0CAMR1")
TODAY = date(2026, 11, 25)

persons = st.lists(
    st.fixed_dictionaries(
        {
            "county": st.sampled_from([c.code for c in YULIN_COUNTIES] + ["610821", "610823"]),
            "birth": st.dates(min_value=date(1940, 1, 1), max_value=date(2011, 12, 31)),
            "seq": st.integers(min_value=0, max_value=999),
            "surname": st.sampled_from(SURNAMES),
            "given": st.text(alphabet=GIVEN, min_size=1, max_size=2),
            "phone": st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
            # home: a flat in town or a house in a village (street-level detail must not show)
            "home": st.tuples(
                st.sampled_from(["flat", "village"]),
                st.integers(min_value=1, max_value=999),  # house number
                st.integers(min_value=1, max_value=9),  # unit / village group
                st.integers(min_value=101, max_value=2899),  # room
            ),
            # a UnionPay card: 62 + 16 digits + the Luhn check digit
            "card": st.from_regex(r"62[0-9]{16}", fullmatch=True),
        }
    ),
    min_size=1,
    max_size=4,
)


def home_of(p: dict[str, Any]) -> tuple[str, list[str]]:
    """A home address and its street-level parts, which no public response may show."""
    kind, house, unit, room = p.get("home", ("flat", 12, 3, 501))
    if kind == "flat":
        parts = [f"长城路{house}号", f"{unit}单元{room}", f"{room}室"]
        return f"榆阳区长城路{house}号{unit}单元{room}室", parts
    return f"榆阳区鱼河镇王庄村{unit}组{house}号", [f"王庄村{unit}组", f"{unit}组{house}号"]


def card_of(p: dict[str, Any]) -> str:
    prefix = p.get("card", "622202123456789012")
    return prefix + luhn.calc_check_digit(prefix)


def person_rows(p: dict[str, Any], n: int) -> tuple[list[Any], list[Any], list[Any], str, str]:
    idn = id_number(p["county"], p["birth"].strftime("%Y%m%d"), f"{p['seq']:03d}")
    name = p["surname"] + p["given"]
    home, _ = home_of(p)
    card = card_of(p)
    grouped = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    # minors if born after 2008-06; never after TODAY (the intake refuses future decisions:
    # births late in 2011 put the fifteenth year past it)
    decided = min(max(p["birth"] + timedelta(days=15 * 365), date(2026, 6, 1)), TODAY)
    reg = [
        name,
        "自然人",
        idn,
        "2020-01-01",
        f"陕西省榆林市{home}，电话{p['phone']}",
        p["phone"],
        "教师",
    ]
    pen = [
        name,
        "自然人",
        "身份证",
        idn,
        f"榆市监罚〔2026〕个{n}号",
        "无证经营",
        f"当事人{name}（身份证号{idn}，联系电话{p['phone']}，住{home}，银行账号{card}）无证经营",
        "《无证无照经营查处办法》第十三条",
        "罚款",
        "罚款5万元",
        "5",
        decided.isoformat(),
        "榆林市市场监督管理局",
        AUTH,
        SAMR,
        AUTH,
        home,
    ]
    lic = [
        name,
        "自然人",
        idn,
        "导游证",
        f"榆文旅许〔2026〕{n}号",
        "普通",
        f"持证人电话{p['phone']}，住址：{home}，收款卡号 {grouped}",
        "2026-01-05",
        "2026-01-05",
        "2099/12/31",
        "榆林市文化和旅游局",
        AUTH,
        "有效",
        SAMR,
        AUTH,
        home,
    ]
    return reg, pen, lic, idn, name


REG = ["DJ_MC", "DJ_ZTLX", "DJ_ZJHM", "DJ_CLRQ", "DJ_ZS", "DJ_LXDH", "DJ_ZYBQ"]
PEN = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_ZJLX",
    "CF_XDR_ZJHM",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_JDRQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
    "CF_XDR_DZ",
]
LIC = [
    "XK_XDR_MC",
    "XK_XDR_LB",
    "XK_XDR_ZJHM",
    "XK_XKWS",
    "XK_WSH",
    "XK_XKLB",
    "XK_NR",
    "XK_JDRQ",
    "XK_YXQZ",
    "XK_YXQZI",
    "XK_XKJG",
    "XK_XKJGDM",
    "XK_ZT",
    "XK_LYDW",
    "XK_LYDWDM",
    "XK_XDR_DZ",
]


def leaks(text: str, idn: str, phone: str, p: dict[str, Any] | None = None) -> list[str]:
    found = []
    if p is not None:
        card = card_of(p)
        _, street_level = home_of(p)
        found += [f"address {part}" for part in street_level if part in text]
        if card in text or card in re.sub(r"[ -]", "", text):
            found.append("bank account")
    if (
        idn in text
        or idn[:6] + idn[6:14] in text
        or idn[-4:] + "" in re.findall(r"\*{4,}(\w{4})", text)
    ):
        found.append("id")
    if re.search(re.escape(idn[:4]) + r"\*{4,}", text):
        found.append("masked id")
    if phone in text or re.search(re.escape(phone[:3]) + r"\*{4}" + re.escape(phone[-4:]), text):
        found.append("phone")
    if ID_NUMBER_PATTERN.search(text):
        found.append("id pattern")
    if PHONE_PATTERN.search(text):
        found.append("phone pattern")
    return found


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=persons)
def test_no_personal_numbers_in_any_public_response(
    container: Container, tmp_path: Path, people: list[dict[str, Any]]
) -> None:
    with container.uow() as uow:
        from citycredit.accounts.db import DepartmentRow

        exists = uow.session.scalar(select(DepartmentRow.id).where(DepartmentRow.name == SAMR))
    actor = department_principal(container, SAMR) if exists else department(container)
    built = [person_rows(p, i) for i, p in enumerate(people)]
    for item, header, idx in (("registration", REG, 0), ("penalty", PEN, 1), ("licence", LIC, 2)):
        path = write_csv(tmp_path / f"{item}.csv", header, [b[idx] for b in built])
        r = ingest_submission(container, actor, path=path, item_code=item)
        assert r.counts.rejected == 0, (item, r.notes)
    with container.uow() as uow:
        people_ids = list(
            uow.session.scalars(
                select(SubjectRow.subject_id).where(SubjectRow.subject_type == "natural_person")
            )
        )
    # Every example reads every page from one address under a fixed clock: the public rate
    # limit (tests/e2e/test_rate_limits_http.py) would answer for the limiter, not the scan.
    policy = container.settings.security.model_copy(update={"public_rate_per_minute": 0})
    container.settings = container.settings.model_copy(update={"security": policy})
    client = TestClient(create_app(container, scheduler=False))
    urls = ["/", "/healthz", "/quality", "/api/v1/catalog", "/api/v1/quality", "/openapi.json"]
    urls += ["/publicity/penalty", "/publicity/licence", "/api/v1/publicity/penalty?limit=100"]
    for _reg, _pen, _lic, _idn, name in built:
        urls += [f"/api/v1/subjects?q={name}", f"/?q={name}"]
    for sid in people_ids:
        urls += [f"/api/v1/subjects/{sid}", f"/api/v1/subjects/{sid}/archive", f"/subjects/{sid}"]
    # the ledger's proof bundles of every record 双公示 lists (anyone can fetch them by its id)
    ledger.integrate_now(container)
    for item in ("penalty", "licence"):
        feed = client.get(f"/api/v1/publicity/{item}?limit=100").json()
        urls += [f"/api/v1/ledger/bundles/{e['record']['record_id']}" for e in feed["entries"]]
    assert any(u.startswith("/api/v1/ledger/bundles/") for u in urls)
    for url in urls:
        resp = client.get(url)
        bundle_url = url.startswith("/api/v1/ledger/bundles/")
        if bundle_url and resp.status_code == 401:  # a person's bundle is the person's own
            assert resp.json()["error"] == "bundle_person_only", url
        else:
            assert resp.status_code == 200, url
        text = resp.text
        if bundle_url and resp.status_code == 200:  # values only: salts and hashes are random
            bundle = resp.json()  # hex, which a digit pattern may match by chance
            values = {k: v["value"] for k, v in bundle["disclosed"].items()}
            text = json.dumps([bundle["record"], values], ensure_ascii=False)
            names_or_ids = [b[4] for b in built] + people_ids  # a person's bundle names neither
            assert not [n for n in names_or_ids if n in text], (url, text)
        for (_reg, _pen, _lic, idn, _name), p in zip(built, people, strict=True):
            assert leaks(text, idn, p["phone"], p) == [], (url, idn, p["phone"])


def test_minors_penalties_are_never_published_and_names_are_masked(
    container: Container, tmp_path: Path
) -> None:
    actor = department(container)
    adult = {
        "county": "610802",
        "birth": date(1980, 3, 4),
        "seq": 11,
        "surname": "王",
        "given": "小明",
        "phone": "13912345678",
    }
    minor = {
        "county": "610881",
        "birth": date(2010, 5, 6),
        "seq": 22,
        "surname": "欧阳",
        "given": "娜",
        "phone": "13812345678",
    }
    built = [person_rows(adult, 1), person_rows(minor, 2)]
    path = write_csv(tmp_path / "pen.csv", PEN, [b[1] for b in built])
    assert ingest_submission(container, actor, path=path, item_code="penalty").counts.new == 2
    client = TestClient(create_app(container, scheduler=False))
    with container.uow() as uow:
        rows = {r.name: r for r in uow.session.scalars(select(SubjectRow))}
    adult_archive = client.get(f"/api/v1/subjects/{rows['王小明'].subject_id}/archive").json()
    minor_archive = client.get(f"/api/v1/subjects/{rows['欧阳娜'].subject_id}/archive").json()
    assert adult_archive["total"] == 1 and minor_archive["total"] == 0
    assert (
        adult_archive["subject"]["name"] == "王**" and minor_archive["subject"]["name"] == "欧阳*"
    )
    names = [
        f["value"]
        for f in adult_archive["groups"][0]["records"][0]["fields"]
        if f["code"] == "CF_XDR_MC"
    ]
    assert names == ["王**"]
    # natural persons are not found by the public search
    assert client.get("/api/v1/subjects", params={"q": "王小明"}).json()["results"] == []
