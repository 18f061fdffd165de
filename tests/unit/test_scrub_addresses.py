"""G30: street-level address detail in the free text of a natural person's record on a public
view is replaced by "[已隐去]"; the county, district and town may stay. Decision numbers,
amounts, dates and USCCs are not addresses, and an organisation's text keeps its address."""

from __future__ import annotations

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.shared.ids import address_spans, scrub_address, scrub_personal
from citycredit.shared.masking import hidden_on_person_record, scrub_value
from citycredit.sharing.model import Access, PersonalMode, RecordFacts, project


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("榆阳区长城路12号3单元501室", "榆阳区[已隐去]"),
        ("陕西省榆林市榆阳区长城北路12号", "陕西省榆林市榆阳区[已隐去]"),
        (
            "当事人王某（住榆阳区新建南路二巷8号院2号楼1单元1101）于2026年3月销售假酒",
            "当事人王某（住榆阳区[已隐去]）于2026年3月销售假酒",
        ),
        ("住所为新建南路12-3-501室。", "住所为[已隐去]。"),
        ("榆阳区鱼河镇王庄村3组15号", "榆阳区鱼河镇[已隐去]"),
        ("横山区波罗镇高家峁村三组", "横山区波罗镇[已隐去]"),
        ("神木市滨河新区阳光小区3号楼2单元501", "神木市滨河新区[已隐去]"),
        ("鼓楼街道长城北路8号", "鼓楼街道[已隐去]"),
        ("榆阳区某街道12号", "榆阳区某街道[已隐去]"),  # 街道 is the town level
        ("府谷县府谷镇人民社区15号", "府谷县府谷镇[已隐去]"),
        ("家住501室", "家住[已隐去]"),
        ("２号楼１单元", "[已隐去]"),  # full-width digits
        # a street name runs at most 8 characters back, so a sentence is not swallowed
        ("当事人张某某长期在其经营的长城路12号", "当事人张某某长期在其经营的[已隐去]"),
        # 市场路 is a street, not 市 + 场路: nothing of it stays behind the mask
        ("住榆阳区市场路12号", "住榆阳区[已隐去]"),
        ("在神木市市场路12号3单元501室", "在神木市[已隐去]"),
        ("住市政巷3号", "住[已隐去]"),
    ],
)
def test_street_level_detail_is_hidden(text: str, expected: str) -> None:
    assert scrub_address(text) == expected
    assert scrub_personal(text, addresses=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "榆市监罚〔2026〕123号",
        "榆阳市监罚字[2026]第0012号",
        "国办发〔2025〕22号、国务院令第397号、主席令第十二号",
        "（2026）陕0802执1234号",
        "罚款50000元，没收违法所得1200元",
        "2026年1月5号，2026-01-05",
        "第3组抽检样品3户",
        "涉及王庄村3户村民",
        "在商场3楼销售",
        "根据榆政发12号文件",
        "地铁2号线",
        "统一社会信用代码91610802MA70QK3G6C",
        "榆阳区长城路派出所",
        "当事人住所地榆阳区",  # no street-level detail at all
        "",
    ],
)
def test_numbers_that_are_not_addresses_stay(text: str) -> None:
    assert scrub_address(text) == text
    assert address_spans(text) == []


def test_addresses_only_when_asked() -> None:
    # an organisation's (and a 个体工商户's) text keeps its address: scrub_personal and
    # scrub_value leave addresses alone unless the record is a natural person's
    text = "榆林某某商贸有限公司在榆阳区长城路12号经营场所销售过期食品，罚款5000元"
    assert scrub_personal(text) == text
    assert scrub_value({"CF_SY": [text]}) == {"CF_SY": [text]}
    hidden = "榆林某某商贸有限公司在榆阳区[已隐去]经营场所销售过期食品，罚款5000元"
    assert scrub_value({"CF_SY": [text]}, addresses=True) == {"CF_SY": [hidden]}


def test_roles_a_persons_public_record_leaves_out() -> None:
    assert hidden_on_person_record("address") and hidden_on_person_record("legal_rep")
    assert hidden_on_person_record("phone")
    assert not hidden_on_person_record("subject_name")
    assert not hidden_on_person_record("decision_no")
    assert not hidden_on_person_record(None)


def _penalty() -> dict[str, str]:
    return {
        "CF_XDR_MC": "王小明",
        "CF_XDR_LB": "自然人",
        "CF_FRDB": "李监护",  # a third party's name on a person's record
        "CF_WSH": "榆市监罚〔2026〕7号",
        "CF_SY": "当事人王小明（住榆阳区长城路12号3单元501室）无证经营，收款账号6222021234567890128",
    }


def test_public_feed_of_a_persons_record_hides_address_third_party_and_account() -> None:
    item = default_catalog().item("penalty")
    person = RecordFacts(openness="public", public_now=True, is_person=True)
    view = project(
        item, _penalty(), {}, person, access=Access.public, personal_mode=PersonalMode.none
    )
    assert view is not None
    assert "CF_FRDB" not in view.fields
    assert view.fields["CF_WSH"] == "榆市监罚〔2026〕7号"
    # the person's name inside the text is masked as the name field is (as on the archive)
    assert view.fields["CF_XDR_MC"] == "王**"
    assert view.fields["CF_SY"] == ("当事人王**（住榆阳区[已隐去]）无证经营，收款账号[已隐去]")
    # an authorised feed keeps the legal representative and the text's address
    authorised = project(
        item, _penalty(), {}, person, access=Access.authorised, personal_mode=PersonalMode.none
    )
    assert authorised is not None and authorised.fields["CF_FRDB"] == "李监护"
    assert authorised.fields["CF_SY"].startswith("当事人王小明（")
    # an organisation's public record keeps its legal representative and address
    org = RecordFacts(openness="public", public_now=True, is_person=False)
    values = {**_penalty(), "CF_XDR_LB": "法人及非法人组织", "CF_XDR_MC": "榆林某某有限公司"}
    shown = project(item, values, {}, org, access=Access.public, personal_mode=PersonalMode.none)
    assert shown is not None and shown.fields["CF_FRDB"] == "李监护"
    assert "长城路12号3单元501室" in shown.fields["CF_SY"]
    assert shown.fields["CF_XDR_MC"] == "榆林某某有限公司"
    assert "6222021234567890128" not in shown.fields["CF_SY"]  # an organisation's account too
