"""Dirty real-world values are understood (dates, placeholders, 万元, codes), not kept as is."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.model import CatalogItem, FieldSpec, FieldType
from citycredit.catalog.values import (
    LONG_TERM,
    check_order,
    check_required,
    parse_field,
    parse_row,
)
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.errors import FieldError
from citycredit.shared.ids import id_check_char, org_code_check_char, uscc_check_char

TODAY = date(2026, 4, 20)
USCC = "91610802MA70" + "ABCDE"  # 17 characters; the check character is appended below
USCC = USCC + uscc_check_char(USCC)
ID_NUMBER = "61080219850315123" + id_check_char("61080219850315123")
ORG_CODE = "MA70ABCD" + org_code_check_char("MA70ABCD")
CONFISCATION = "没收违法所得、没收非法财物"
SUSPENSION = "暂扣或者吊销许可证、暂扣或者吊销执照"


def _item(code: str) -> CatalogItem:
    return default_catalog().item(code)


def _spec(item: str, code: str) -> FieldSpec:
    return _item(item).field(code)


def _parse(item: str, code: str, raw: object) -> object:
    return parse_field(_spec(item, code), raw, today=TODAY)


def _error(item: str, code: str, raw: object) -> FieldError:
    with pytest.raises(FieldError) as info:
        _parse(item, code, raw)
    assert info.value.field == code
    return info.value


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["2099/12/31", "2099-12-31", "9999-12-31", "长期", "永久", "长期有效"]
)
def test_long_term(raw: str) -> None:
    assert _parse("licence", "XK_YXQZI", raw) == LONG_TERM


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "1900-01-01", "1900-01-01 00:00:00", "暂无", "无", "无处罚期限", "-", "/",
     "null", "NULL", "空"],
)  # fmt: skip
def test_placeholders_are_empty(raw: str | None) -> None:
    assert _parse("penalty", "CF_YXQ", raw) is None


@pytest.mark.parametrize(
    "raw",
    ["2019-07-13", "2019/07/13", "2019/7/13", "2019.07.13", "20190713", "2019年07月13日",
     "2019年7月13日", "2019-07-13 00:00:00", "2019-07-13 18:30:00.0", "２０１９－０７－１３",
     date(2019, 7, 13), datetime(2019, 7, 13, 9, 0)],  # noqa: DTZ001 (openpyxl gives naive)
)  # fmt: skip
def test_date_formats(raw: object) -> None:
    assert _parse("penalty", "CF_JDRQ", raw) == date(2019, 7, 13)


def test_epoch_timestamps_are_shanghai_dates() -> None:
    # 1562947200 = 2019-07-12T16:00:00Z = 2019-07-13 00:00 in Shanghai (Baidu publishDateStamp).
    assert _parse("judgment_defaulter", "SX_FBRQ", "1562947200") == date(2019, 7, 13)
    assert _parse("judgment_defaulter", "SX_FBRQ", "1562947200000") == date(2019, 7, 13)
    assert _parse("licence", "XK_JDRQ", 1568180781000) == date(2019, 9, 11)
    assert _parse("licence", "XK_JDRQ", 1568180781000.0) == date(2019, 9, 11)


def test_datetime_field_is_aware() -> None:
    spec = replace(_spec("penalty", "CF_JDRQ"), type=FieldType.datetime, not_future=False)
    value = parse_field(spec, "2019-05-22 08:30:00")
    assert value == datetime(2019, 5, 22, 8, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize("raw", ["2023-02-30", "2023-13-01", "20230230", "yesterday", "2023-02"])
def test_impossible_dates(raw: str) -> None:
    error = _error("penalty", "CF_JDRQ", raw)
    assert error.code == "invalid_date"
    assert "处罚决定日期" in error.message and raw in error.message


def test_future_decision_date() -> None:
    assert _error("penalty", "CF_JDRQ", "2026-04-21").code == "future_date"
    assert _parse("penalty", "CF_JDRQ", "2026-04-20") == TODAY
    # A validity end may lie in the future.
    assert _parse("licence", "XK_YXQZI", "2030-01-01") == date(2030, 1, 1)


# --- money and numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "code", "raw", "expected"),
    [
        ("penalty", "CF_NR_FK", "0.2", "2000.00"),
        ("penalty", "CF_NR_FK", 0.2, "2000.00"),
        ("penalty", "CF_NR_FK", "1.5万元", "15000.00"),
        ("penalty", "CF_NR_FK", "罚款2000元", "2000.00"),
        ("penalty", "CF_NR_FK", "2000元", "2000.00"),
        ("penalty", "CF_NR_FK", "0.000001", "0.01"),
        ("penalty", "CF_NR_FK", "0", "0.00"),
        ("social_insurance_arrears", "QJ_JE", "1,200.50", "1200.50"),
        ("social_insurance_arrears", "QJ_JE", "10000", "10000.00"),
        ("social_insurance_arrears", "QJ_JE", "2万", "20000.00"),
        ("social_insurance_arrears", "QJ_JE", "￥350", "350.00"),
        ("registration", "DJ_ZCZB", "500", "5000000.00"),
    ],
)
def test_money_is_parsed_to_yuan(item: str, code: str, raw: object, expected: str) -> None:
    value = _parse(item, code, raw)
    assert isinstance(value, Decimal)
    assert value == Decimal(expected)
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("raw", "error_code"),
    [
        ("-0.2", "negative_amount"),
        ("罚款2000", "invalid_decimal"),
        ("罚款2000元并没收500元", "invalid_decimal"),
        ("两千元", "invalid_decimal"),
        ("abc", "invalid_decimal"),
        ("1e30", "invalid_decimal"),
        ("1E999999", "invalid_decimal"),  # Overflow, not only InvalidOperation (fuzzing)
        ("1E999999万元", "invalid_decimal"),
    ],
)
def test_bad_amounts(raw: str, error_code: str) -> None:
    error = _error("penalty", "CF_NR_FK", raw)
    assert error.code == error_code
    assert "罚款金额" in error.message


@pytest.mark.parametrize(
    ("raw", "year"),
    [("2025", 2025), ("2025年", 2025), ("2025年度", 2025), (2025, 2025), ("2025.0", 2025)],
)
def test_integer_year(raw: object, year: int) -> None:
    assert _parse("tax_credit_grade", "NS_ND", raw) == year


def test_bad_integer() -> None:
    assert _error("tax_credit_grade", "NS_ND", "二〇二五").code == "invalid_integer"
    # Past Python's int() digit limit (4,300) int() raised ValueError: now a named error.
    assert _error("tax_credit_grade", "NS_ND", "9" * 5000).code == "invalid_integer"
    assert _error("tax_credit_grade", "NS_ND", "1" + "0" * 18).code == "invalid_integer"


@pytest.mark.parametrize(
    "raw", ["2026-03", "2026/3", "202603", "2026年3月", "2026-03-01", date(2026, 3, 9)]
)
def test_year_month(raw: object) -> None:
    assert _parse("social_insurance_arrears", "QJ_SSQ", raw) == "2026-03"


def test_bad_year_month() -> None:
    assert _error("utility_arrears", "QF_SSQ", "2026-13").code == "invalid_year_month"


# --- enums and tags -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "code", "raw", "expected"),
    [
        ("licence", "XK_XKLB", "普通", "普通"),
        ("licence", "XK_XKLB", "01", "普通"),
        ("licence", "XK_XKLB", "06", "其他"),
        ("licence", "XK_XKLB", "其他-特殊事项", "其他-特殊事项"),
        ("licence", "XK_ZT", "1", "有效"),
        ("licence", "XK_XDR_LB", "法人及非法人组织", "法人及非法人组织"),
        ("licence", "XK_XDR_LB", " 法人及非法人组织 ", "法人及非法人组织"),
        ("licence", "XK_XDR_LB", "01", "自然人"),
        ("licence", "XK_XDR_LB", "企业", "法人及非法人组织"),
        ("penalty", "CF_CFLB", "罚款", "罚款"),
        ("penalty", "CF_CFLB", "警告;罚款", "警告；罚款"),
        ("penalty", "CF_CFLB", "警告、罚款", "警告；罚款"),
        ("penalty", "CF_CFLB", "没收违法所得、没收非法财物", "没收违法所得、没收非法财物"),
        ("penalty", "CF_CFLB", "罚款，没收违法所得、没收非法财物", f"罚款；{CONFISCATION}"),
        ("penalty", "CF_CFLB", "暂扣或吊销许可证、暂扣或吊销执照", SUSPENSION),
        ("penalty", "CF_CFLB", "吊销营业执照", "吊销许可证件"),
        ("penalty", "CF_SXYZCD", "serious", "严重"),
        ("judgment_defaulter", "SX_LB", "0", "自然人"),
        ("registration", "DJ_ZTLX", "individual_business", "个体工商户"),
        ("registration", "DJ_ZT", "存续（在营、开业、在册）", "存续"),
        ("tax_credit_grade", "NS_DJ", "A级", "A"),
        ("tax_credit_grade", "NS_DJ", "a", "A"),
        ("utility_arrears", "QF_LX", "天然气", "燃气"),
        ("commitment", "CN_LX", "容缺受理型", "审批替代型"),
    ],
)  # fmt: skip
def test_enum_values_and_aliases(item: str, code: str, raw: str, expected: str) -> None:
    assert _parse(item, code, raw) == expected


def test_unknown_enum_lists_allowed_values() -> None:
    error = _error("licence", "XK_XKLB", "特别")
    assert error.code == "not_in_enum"
    assert "「普通」、「特许」、「认可」、「核准」、「登记」、「其他」" in error.message
    # values with 「、」 inside stay readable: each is quoted
    message = _error("penalty", "CF_CFLB", "打板子").message
    assert "「暂扣或者吊销许可证、暂扣或者吊销执照」" in message, message
    assert _error("penalty", "CF_CFLB", "警告;鞭刑").code == "not_in_enum"
    assert _error("licence", "XK_XDR_LB", "法人;自然人").code == "not_in_enum"  # not multiple


def test_tags() -> None:
    assert _parse("registration", "DJ_ZYBQ", "律师;教师；律师") == ("律师", "教师")
    assert _parse("registration", "DJ_ZYBQ", "导游、医师") == ("导游", "医师")


# --- identifiers ----------------------------------------------------------------------------


def test_identifiers_delegate_to_shared_ids() -> None:
    assert _parse("penalty", "CF_XDR_SHXYM", USCC.lower()) == USCC
    assert _parse("penalty", "CF_XDR_ZJHM", ID_NUMBER) == ID_NUMBER
    assert _parse("penalty", "CF_XDR_ZZJG", ORG_CODE[:8] + "-" + ORG_CODE[8]) == ORG_CODE


def test_placeholder_uscc_is_rejected_with_label() -> None:
    error = _error("penalty", "CF_CFJGDM", "00000000000000000X")
    assert error.code in {"placeholder", "checksum", "charset"}
    assert "处罚机关统一社会信用代码" in error.message and "00000000000000000X" in error.message


def test_bad_id_number() -> None:
    assert _error("penalty", "CF_XDR_ZJHM", ID_NUMBER[:17] + "0").code == "checksum"


def test_masked_id_number_kept_only_where_allowed() -> None:
    assert _parse("judgment_defaulter", "SX_ZJHM", "3423011964****3224") == "3423011964****3224"
    assert _error("judgment_defaulter", "SX_ZJHM", "34230119****").code == "invalid_masked"
    assert _error("penalty", "CF_XDR_ZJHM", "3423011964****3224").code != "invalid_masked"


def test_too_long() -> None:
    error = _error("penalty", "CF_WSH", "文" * 201)
    assert error.code == "too_long"


# --- required and rows ----------------------------------------------------------------------


def test_check_required_with_conditions() -> None:
    item = _item("penalty")
    values = {"CF_XDR_MC": "张三", "CF_XDR_LB": "自然人"}
    errors = {e.field: e for e in check_required(item, values)}
    assert all(e.code == "required" for e in errors.values())
    assert "CF_WSH" in errors and "CF_JDRQ" in errors
    assert "CF_XDR_ZJHM" in errors and "自然人" in errors["CF_XDR_ZJHM"].message
    org = {e.field for e in check_required(item, {**values, "CF_XDR_LB": "法人及非法人组织"})}
    # An organisation without a USCC is matched without codes, so the USCC is not required.
    assert "CF_XDR_SHXYM" not in org and "CF_XDR_ZJHM" not in org


def test_registration_person_needs_id_number() -> None:
    item = _item("registration")
    person = {e.field for e in check_required(item, {"DJ_ZTLX": "自然人"})}
    assert "DJ_ZJHM" in person and "DJ_SHXYM" not in person
    assert "DJ_CLRQ" not in person  # profession registrations often carry no 登记日期
    firm = {e.field for e in check_required(item, {"DJ_ZTLX": "企业"})}
    assert "DJ_ZJHM" not in firm and "DJ_SHXYM" not in firm  # codeless: matched by name+address
    assert "DJ_CLRQ" in firm
    unknown = {e.field for e in check_required(item, {})}
    assert "DJ_ZTLX" in unknown and "DJ_ZJHM" not in unknown


def test_licence_document_number_falls_back_to_licence_number() -> None:
    item = _item("licence")
    assert "XK_WSH" in {e.field for e in check_required(item, {})}
    assert "XK_WSH" not in {e.field for e in check_required(item, {"XK_XKBH": "JY1"})}


def _penalty_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "COMP_NAME": "ignored: rows are keyed by code",
        "CF_XDR_MC": "榆林市某某煤业有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": USCC,
        "CF_WSH": "榆应急罚〔2026〕12号",
        "CF_WFXW": "未按规定开展安全培训",
        "CF_SY": "……",
        "CF_YJ": "《安全生产法》第九十七条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": "2026-04-10",
        "CF_YXQ": "无处罚期限",
        "CF_GSJZQ": "1900-01-01 00:00:00",
        "CF_CFJG": "榆林市应急管理局",
        "CF_CFJGDM": USCC,
        "CF_SJLY": "榆林市应急管理局",
        "CF_SJLYDM": USCC,
    }
    row.update(overrides)
    return row


def test_parse_row() -> None:
    values, errors = parse_row(_item("penalty"), _penalty_row(), today=TODAY)
    assert errors == []
    assert values["CF_NR_FK"] == Decimal("20000.00")
    assert values["CF_YXQ"] is None and values["CF_GSJZQ"] is None
    assert set(values) == set(_item("penalty").codes)


def test_parse_row_collects_errors_once() -> None:
    row = _penalty_row(CF_JDRQ="2026-02-30", CF_WSH="暂无", CF_XDR_SHXYM="91")
    _, errors = parse_row(_item("penalty"), row, today=TODAY)
    assert sorted((e.field, e.code) for e in errors) == [
        ("CF_JDRQ", "invalid_date"),
        ("CF_WSH", "required"),
        ("CF_XDR_SHXYM", "length"),
    ]


def test_parse_row_keeps_passport_numbers() -> None:
    row = _penalty_row(
        CF_XDR_LB="自然人", CF_XDR_SHXYM=None, CF_XDR_ZJLX="02", CF_XDR_ZJHM="e1234567"
    )
    values, errors = parse_row(_item("penalty"), row, today=TODAY)
    assert errors == []
    assert values["CF_XDR_ZJHM"] == "E1234567"


def test_check_order_names_both_fields_and_values_and_skips_refused_fields() -> None:
    item = default_catalog().item("licence")
    values = {
        "XK_JDRQ": date(2026, 10, 10),
        "XK_YXQZ": date(2026, 10, 10),
        "XK_YXQZI": date(2026, 1, 1),
    }
    (err,) = check_order(item, values)
    assert (err.field, err.value, err.code) == ("XK_YXQZI", "2026-01-01", "date_order")
    assert err.message == "有效期至（XK_YXQZI）「2026-01-01」早于有效期自（XK_YXQZ）「2026-10-10」"
    # a refused 有效期自 is not compared; the decision date still is
    (err,) = check_order(item, values, {"XK_YXQZ"})
    assert "许可决定日期（XK_JDRQ）「2026-10-10」" in err.message
    assert check_order(item, values, {"XK_YXQZ", "XK_JDRQ"}) == []
    assert check_order(item, {**values, "XK_YXQZI": LONG_TERM}) == []
    assert check_order(item, {**values, "XK_YXQZI": date(2026, 10, 10)}) == []
