"""G30: bank card and account numbers in free text are replaced by "[已隐去]" (rules.md §13.4:
a natural person's bank account and an organisation's), without eating decision numbers,
amounts, dates, USCCs or ID numbers."""

from __future__ import annotations

import pytest
from stdnum import luhn

from citycredit.shared.ids import bank_account_spans, scrub_personal
from citycredit.shared.masking import scrub_value

CARD = "6222021234567890128"  # 19 digits, Luhn-valid (UnionPay)
assert luhn.is_valid(CARD)
CARD16 = "4111111111111111"  # 16 digits, Luhn-valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a Luhn-valid card number anywhere, together or in groups of four
        (f"退款至{CARD}。", "退款至[已隐去]。"),
        (f"卡 {CARD16} 已冻结", "卡 [已隐去] 已冻结"),
        ("尾号 6222 0212 3456 7890 128 的卡", "尾号 [已隐去] 的卡"),
        ("6222-0212-3456-7890-128", "[已隐去]"),
        ("全角６２２２０２１２３４５６７８９０１２８", "全角[已隐去]"),
        # introduced by 账号/卡号/账户/银行: any 12–30 digits, whatever the checksum
        ("银行账号：6228480402564890018，户名张三", "银行账号：[已隐去]，户名张三"),
        ("对公账户 610801040001234567890", "对公账户 [已隐去]"),
        (
            "开户银行：中国农业银行榆林分行，账号 61-0801-0400-0123-4567",
            "开户银行：中国农业银行榆林分行，账号 [已隐去]",
        ),
        ("卡号为 1234 5678 9012 3456", "卡号为 [已隐去]"),
        ("帐号123456789012", "帐号[已隐去]"),
        ("中国建设银行 61050163840000000123 收款", "中国建设银行 [已隐去] 收款"),
        # next to an ID number and a phone number: one marker each
        (
            f"身份证610802199001011230，电话15212349276，账号{CARD}",
            "身份证[已隐去]，电话[已隐去]，账号[已隐去]",
        ),
    ],
)
def test_bank_numbers_are_hidden(text: str, expected: str) -> None:
    assert scrub_personal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # amounts, also after 账户/银行
        "罚款50000元，没收违法所得12000元",
        "账户余额1234567890123.45元",
        "通过银行转账 500000000000 元",
        "银行贷款3000000000000万元",
        # decision numbers, case numbers, dates, times
        "榆市监罚〔2026〕123号",
        "案号（2026）陕0802执1234号",
        "2026年1月15日至2026年12月31日",
        "2023100120240930",  # two dates written together (not a card: starts with 20)
        "20260115103000123",  # a 17-digit timestamp
        "账户于2026-01-15 10:30开立",
        # USCCs (a digit-only one is Luhn-valid by chance or not: never a card), also after 银行
        "统一社会信用代码914403001922038216",
        "中国农业银行股份有限公司（统一社会信用代码914403001922038216）",
        "代码91610821MA70QK3G6C",
        # a Luhn-invalid 19-digit number without a bank word
        "流水号6222021234567890123",
        # an ordinary 11-digit number after 账号 is too short to be an account
        "账号12345678901",
        # 注册号 (15 digits) and organisation codes without a bank word
        "注册号610800100012345，组织机构代码MA0CAMR1X",
    ],
)
def test_numbers_that_are_not_bank_accounts_stay(text: str) -> None:
    assert scrub_personal(text) == text
    assert bank_account_spans(text) == []


def test_id_numbers_stay_one_marker_and_public_values_are_scrubbed_recursively() -> None:
    # an ID number written after 账户 is hidden once, not twice
    assert scrub_personal("账户名张三 610802199001011230") == "账户名张三 [已隐去]"
    value = {"CF_SY": [f"收款账号{CARD}", {"note": "罚款5000元"}], "n": 5}
    assert scrub_value(value) == {"CF_SY": ["收款账号[已隐去]", {"note": "罚款5000元"}], "n": 5}
