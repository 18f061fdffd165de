"""The 双公示 export rules: national column order, cell values, which operation to send."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.exports.model import (
    ADD,
    DELETE,
    LAYOUTS,
    PLATFORM_CODES,
    UPDATE,
    Sent,
    Visibility,
    cell_text,
    columns_for,
    decide,
    exported_codes,
    json_cell,
    typed_values,
)

PENALTY = default_catalog().item("penalty")
LICENCE = default_catalog().item("licence")
CF, XK = columns_for(PENALTY), columns_for(LICENCE)


def test_columns_are_the_national_layout_then_local_fields_then_platform_columns() -> None:
    cols = columns_for(PENALTY)
    assert cols.national == LAYOUTS["penalty"].fields and len(cols.national) == 30
    assert cols.national[:3] == ("CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM")
    assert cols.national[-1] == "BZ" and cols.local == (
        "CF_XDR_DZ",
        "CF_AJMC",
        "CF_DFBM",
        "CF_SXYZCD",
    )
    assert cols.all[-len(PLATFORM_CODES) :] == PLATFORM_CODES
    lic = columns_for(LICENCE)
    assert len(lic.national) == 28 and lic.local == ("XK_XDR_DZ",)
    assert (
        lic.national.index("XK_XKWS") < lic.national.index("XK_WSH") < lic.national.index("XK_ZT")
    )


def test_a_persons_address_is_not_sent_but_an_organisations_is() -> None:
    cols = columns_for(PENALTY)
    person = {"CF_XDR_LB": "自然人", "CF_XDR_DZ": "榆阳区某街1号"}
    org = {"CF_XDR_LB": "法人及非法人组织", "CF_XDR_DZ": "榆阳区某街1号"}
    assert "CF_XDR_DZ" not in exported_codes(PENALTY, cols, person)
    assert "CF_XDR_DZ" in exported_codes(PENALTY, cols, org)
    assert "CF_XDR_ZJHM" in exported_codes(PENALTY, cols, person)  # national: the province needs it


@pytest.mark.parametrize(
    ("stored", "text", "number"),
    [
        ("2000.00", "0.2", 0.2),
        ("20000.00", "2", 2),
        ("1234.56", "0.123456", 0.123456),
        ("0.00", "0", 0),
        ("12345678.90", "1234.56789", 1234.56789),
    ],
)
def test_money_goes_out_in_wan_yuan(stored: str, text: str, number: float) -> None:
    assert cell_text(CF, "CF_NR_FK", stored) == text
    assert json_cell(CF, "CF_NR_FK", stored) == number
    assert Decimal(text) * 10000 == Decimal(stored)


def test_other_cells() -> None:
    assert cell_text(CF, "CF_CFLB", "警告；罚款") == "警告；罚款"
    assert cell_text(CF, "CF_JDRQ", "2026-11-02") == "2026-11-02"
    assert cell_text(XK, "XK_YXQZI", "2099-12-31") == "2099-12-31"  # 长期
    assert cell_text(CF, "BZ", None) is None and cell_text(CF, "BZ", "") is None
    assert json_cell(CF, "CF_WSH", "榆市监罚〔2026〕1号") == "榆市监罚〔2026〕1号"
    typed = typed_values(CF, {"CF_NR_FK": "2000.00", "CF_JDRQ": "2026-11-02", "X": 1})
    assert typed == {"CF_NR_FK": Decimal("2000.00"), "CF_JDRQ": date(2026, 11, 2)}


def test_which_operation() -> None:
    never, held, gone = None, Sent(ADD, 1), Sent(DELETE, 2)
    d: dict[str, Any] = {"withdrawn": False, "visible": True, "version": 1, "dedupe": True}
    assert decide(**d, sent=never) == ADD
    assert decide(**d, sent=held) is None  # the province has this very version
    assert decide(**{**d, "dedupe": False}, sent=held) == UPDATE  # a re-send
    assert decide(**{**d, "version": 2}, sent=held) == UPDATE
    assert decide(**{**d, "version": 3}, sent=gone) == ADD  # reinstated after a 删除
    for hidden in ({"withdrawn": True}, {"visible": False}):
        assert decide(**{**d, **hidden, "version": 2}, sent=held) == DELETE
        assert decide(**{**d, **hidden, "version": 2}, sent=never) is None  # never sent
        assert decide(**{**d, **hidden, "version": 2}, sent=gone) is None  # already down


def test_visibility_follows_the_public_archive() -> None:
    today = date(2026, 11, 25)
    assert Visibility(True, None, "public", None).publishable(today)
    assert Visibility(True, None, "public", date(2026, 11, 26)).publishable(today)
    ended = Visibility(True, None, "public", today)
    assert not ended.publishable(today) and ended.hidden_reason(today) == "公示期满"
    minor = Visibility(False, "minor", "public", None)
    assert (
        not minor.publishable(today) and minor.hidden_reason(today) == "不予公示：当事人为未成年人"
    )
    assert (
        Visibility(False, "severity", "public", None).hidden_reason(today)
        == "不予公示：轻微失信信息（按规定不公示）"
    )
    assert not Visibility(True, None, "authorised", None).publishable(today)
    repaired = Visibility(True, None, "public", None, repaired=True)
    assert not repaired.publishable(today) and repaired.hidden_reason(today) == "信用修复"
