"""Tests for citycredit.shared.divisions (Yulin county codes, towns, villages, addresses)."""

from __future__ import annotations

import pytest

from citycredit.shared.divisions import (
    RETIRED_CODES,
    YULIN_CITY_CODE,
    YULIN_COUNTIES,
    Division,
    county_for_code,
    county_name,
    division_from_address,
    is_known_code,
    is_yulin_code,
    towns,
    villages,
)

# rules.md §2
EXPECTED_COUNTIES = {
    "610802": "榆阳区",
    "610803": "横山区",
    "610822": "府谷县",
    "610824": "靖边县",
    "610825": "定边县",
    "610826": "绥德县",
    "610827": "米脂县",
    "610828": "佳县",
    "610829": "吴堡县",
    "610830": "清涧县",
    "610831": "子洲县",
    "610881": "神木市",
}


def test_yulin_counties_are_exactly_the_twelve() -> None:
    assert YULIN_CITY_CODE == "610800"
    assert len(YULIN_COUNTIES) == 12
    assert {d.code: d.name for d in YULIN_COUNTIES} == EXPECTED_COUNTIES
    assert all(d.level == "county" for d in YULIN_COUNTIES)


@pytest.mark.parametrize("county", YULIN_COUNTIES, ids=lambda d: d.code)
def test_every_county_resolves_and_has_towns(county: Division) -> None:
    assert county_for_code(county.code) == county
    assert county_name(county.code) == county.name
    assert is_yulin_code(county.code)
    ts = towns(county.code)
    assert ts
    assert all(t.level == "town" and t.code.startswith(county.code) for t in ts)
    assert all(len(t.code) == 9 for t in ts)
    # every town has villages/communities whose codes extend the town code
    vs = villages(ts[0].code)
    assert vs
    assert all(v.level == "village" and v.code.startswith(ts[0].code) for v in vs)
    assert all(county_for_code(v.code) == county for v in vs)


def test_data_totals_match_sources() -> None:
    all_towns = [t for c in YULIN_COUNTIES for t in towns(c.code)]
    assert len(all_towns) == 184
    assert sum(len(villages(t.code)) for t in all_towns) == 3227


def test_retired_codes_map_to_current() -> None:
    assert RETIRED_CODES == {"610821": "610881", "610823": "610803"}
    shenmu = county_for_code("610821")
    hengshan = county_for_code("610823")
    assert shenmu is not None
    assert (shenmu.code, shenmu.name) == ("610881", "神木市")
    assert hengshan is not None
    assert (hengshan.code, hengshan.name) == ("610803", "横山区")
    assert county_name("610821") == "神木市"
    assert towns("610821") == towns("610881")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("610802", "610802"),
        ("610881101", "610881"),  # 9-digit town code (高家堡镇)
        ("610802001001", "610802"),  # 12-digit village code
        ("610802001001000", "610802"),  # longer statistical code
        (" 610824 ", "610824"),
        ("610821100", "610881"),  # town under the retired code
    ],
)
def test_county_for_code(code: str, expected: str) -> None:
    county = county_for_code(code)
    assert county is not None
    assert county.code == expected


@pytest.mark.parametrize("code", ["610800", "610100", "440300", "6108", "61080X", "", "abcdef"])
def test_county_for_code_none(code: str) -> None:
    assert county_for_code(code) is None


def test_is_yulin_code() -> None:
    assert is_yulin_code("610800")
    assert is_yulin_code("610821")
    assert is_yulin_code("610802001001")
    assert not is_yulin_code("610100")
    assert not is_yulin_code("440300")


def test_county_name_outside_yulin_and_city() -> None:
    assert county_name("610800") == "榆林市"
    assert county_name("440300") == "深圳市"
    assert county_name("110108") == "海淀区"
    assert county_name("999999") is None


def test_is_known_code() -> None:
    assert is_known_code("610802")
    assert is_known_code("610821")  # retired, still known
    assert is_known_code("100000")  # national registration authorities
    assert is_known_code("440300")
    assert not is_known_code("999999")
    assert not is_known_code("610899")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("陕西省榆林市榆阳区长城路街道", "610802"),
        ("榆阳区", "610802"),
        ("榆阳", "610802"),
        ("陕西省榆林市神木市大柳塔镇", "610881"),
        ("榆林市神木县店塔镇", "610881"),
        ("神木", "610881"),
        ("榆林市横山县", "610803"),
        ("横山区夏州街道", "610803"),
        ("府谷县府谷镇", "610822"),
        ("府谷", "610822"),
        ("靖边县张家畔街道", "610824"),
        ("靖边", "610824"),
        ("定边县", "610825"),
        ("定边", "610825"),
        ("绥德县名州镇", "610826"),
        ("绥德", "610826"),
        ("米脂县银州街道", "610827"),
        ("佳县佳州街道", "610828"),
        ("吴堡县宋家川街道", "610829"),
        ("清涧县宽州镇", "610830"),
        ("子洲县双湖峪街道", "610831"),
        ("子洲", "610831"),
        # by town name only
        ("大柳塔镇某某村", "610881"),
        ("大柳塔", "610881"),
        ("锦界镇工业园区", "610881"),
        ("榆林市金鸡滩镇", "610802"),
        ("新安边镇", "610825"),  # contains 安边镇, same county
        # a road named after another county does not count
        ("榆阳区神木路12号", "610802"),
        ("榆林市 定边 街道", "610825"),  # whitespace ignored; 街道 is not a road
    ],
)
def test_division_from_address(address: str, expected: str) -> None:
    division = division_from_address(address)
    assert division is not None
    assert division.code == expected


@pytest.mark.parametrize(
    "address",
    [
        "",
        "榆林市",
        "陕西省西安市雁塔区",
        "榆阳区和神木市交界",  # two counties: ambiguous
        "神木府谷",  # two short names: ambiguous
        "浙江省桐乡市乌镇",  # 乌镇 is also a town of 佳县, but this address is elsewhere
        "北京市海淀区古城镇",
        "榆林市神木路12号",  # a road, not the county
    ],
)
def test_division_from_address_none(address: str) -> None:
    assert division_from_address(address) is None
