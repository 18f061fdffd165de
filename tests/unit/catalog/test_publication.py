"""Severity classification (publisher first, then the versioned classifier) and Order 36 periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.model import CatalogItem, Severity
from citycredit.catalog.publication import PUBLISHER_RULE, classify, publication_for
from citycredit.catalog.values import LONG_TERM
from citycredit.shared.errors import FieldError

DECIDED = date(2026, 4, 10)


def _item(code: str) -> CatalogItem:
    return default_catalog().item(code)


def _penalty(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "CF_XDR_LB": "法人及非法人组织",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款",
        "CF_CFJG": "榆林市市场监督管理局",
        "CF_NR_FK": Decimal("5000.00"),
    }
    base.update(values)
    return base


@pytest.mark.parametrize(
    ("values", "severity", "rule_id"),
    [
        (_penalty(CF_CFLB="吊销许可证件"), Severity.serious, "serious_revocation"),
        (_penalty(CF_CFLB="其他", CF_NR="限制从业五年"), Severity.serious, "serious_revocation"),
        (_penalty(CF_CFLB="行政拘留", CF_NR_FK=None), Severity.serious, "serious_revocation"),
        (
            _penalty(CF_CFJG="榆林市应急管理局", CF_NR_FK=Decimal("1500000.00")),
            Severity.serious,
            "serious_sector_large_fine",
        ),
        (
            _penalty(CF_CFJG="府谷县生态环境局", CF_NR_FK=Decimal("1000000.00")),
            Severity.serious,
            "serious_sector_large_fine",
        ),
        (
            _penalty(CF_CFJG="榆林市交通运输局", CF_NR_FK=Decimal("1500000.00")),
            Severity.general,
            "general_fine",
        ),
        (
            _penalty(CF_CFJG="榆林市交通运输局", CF_NR_FK=Decimal("6000000.00")),
            Severity.serious,
            "serious_very_large_fine",
        ),
        (_penalty(CF_NR_FK=Decimal("50000.00")), Severity.general, "general_fine"),
        (_penalty(CF_CFLB="警告；罚款", CF_NR_FK=Decimal("2e4")), Severity.general, "general_fine"),
        (_penalty(CF_CFLB="警告", CF_NR_FK=None), Severity.minor, "minor_warning"),
        (_penalty(CF_CFLB="警告；通报批评", CF_NR_FK=None), Severity.minor, "minor_warning"),
        (_penalty(CF_NR="适用简易程序，罚款200元"), Severity.minor, "minor_simple_procedure"),
        (
            _penalty(CF_XDR_LB="自然人", CF_NR_FK=Decimal("200.00")),
            Severity.minor,
            "minor_small_fine_person",
        ),
        (_penalty(CF_XDR_LB="自然人", CF_NR_FK=Decimal("500.00")), Severity.general, "default"),
        (_penalty(CF_NR_FK=Decimal("3000.00")), Severity.minor, "minor_small_fine_organisation"),
        (_penalty(CF_CFLB="责令停产停业", CF_NR_FK=None), Severity.general, "default"),
    ],
)  # fmt: skip
def test_classifier_rules(values: dict[str, object], severity: Severity, rule_id: str) -> None:
    assert classify(_item("penalty"), values) == (severity, True, rule_id)


def test_publisher_severity_wins() -> None:
    values = _penalty(CF_CFLB="吊销许可证件", CF_SXYZCD="一般")
    assert classify(_item("penalty"), values) == (Severity.general, False, PUBLISHER_RULE)
    values = _penalty(CF_CFLB="警告", CF_SXYZCD="严重")
    assert classify(_item("penalty"), values) == (Severity.serious, False, PUBLISHER_RULE)


def test_non_adverse_items_have_no_severity() -> None:
    assert classify(_item("licence"), {"XK_XKLB": "普通"}) == (None, False, None)
    assert classify(_item("honour"), {}) == (None, False, None)
    assert classify(_item("commitment"), {"CN_LYZT": "已履约"}) == (None, False, None)


def test_lists_are_serious_by_default() -> None:
    item = _item("judgment_defaulter")
    assert classify(item, {}) == (Severity.serious, True, "default")
    assert classify(_item("serious_dishonesty"), {})[0] is Severity.serious


def test_general_period() -> None:
    result = publication_for(_item("penalty"), _penalty(), DECIDED)
    assert result.severity is Severity.general and result.severity_inferred
    assert result.published
    # 民法典 201/202: decided 2026-04-10, the year runs 04-11 … 2027-04-10 (last day).
    assert result.publication_end == date(2027, 4, 11)
    assert result.repair_from == date(2026, 7, 11)
    assert result.classifier_version == "penalty-2026.1"


def test_serious_period() -> None:
    values = _penalty(CF_CFLB="吊销许可证件")
    result = publication_for(_item("penalty"), values, DECIDED)
    assert result.severity is Severity.serious
    assert result.publication_end == date(2029, 4, 11)
    assert result.repair_from == date(2027, 4, 11)


def test_minor_is_not_published() -> None:
    result = publication_for(_item("penalty"), _penalty(CF_CFLB="警告", CF_NR_FK=None), DECIDED)
    assert result.severity is Severity.minor
    assert not result.published
    assert result.repair_from == DECIDED


def test_publisher_severity_has_no_classifier_version() -> None:
    result = publication_for(_item("penalty"), _penalty(CF_SXYZCD="严重"), DECIDED)
    assert (result.severity, result.severity_inferred, result.rule_id) == (
        Severity.serious,
        False,
        PUBLISHER_RULE,
    )
    assert result.classifier_version is None
    assert result.publication_end == date(2029, 4, 11)


def test_month_end_clamps() -> None:
    result = publication_for(_item("penalty"), _penalty(), date(2024, 11, 30))
    # 3 months from 11-30: February has no 30th, so 02-28 is the last day (民法典 202).
    assert result.repair_from == date(2025, 3, 1)
    assert result.publication_end == date(2025, 12, 1)


def test_missing_decision_date_is_a_field_error() -> None:
    with pytest.raises(FieldError) as info:
        publication_for(_item("penalty"), _penalty(), None)
    assert info.value.field == "CF_JDRQ"
    assert info.value.code == "required"


def test_until_field_long_term_is_open_ended() -> None:
    result = publication_for(_item("licence"), {"XK_YXQZI": LONG_TERM}, DECIDED)
    assert result.published and result.publication_end is None
    assert result.severity is None and result.repair_from is None


def test_until_field_inclusive_and_exclusive_ends() -> None:
    licence = publication_for(_item("licence"), {"XK_YXQZI": date(2027, 12, 31)}, DECIDED)
    assert licence.publication_end == date(2028, 1, 1)  # 有效期至 is the last valid day
    removed = publication_for(_item("judgment_defaulter"), {"SX_YCRQ": date(2026, 9, 1)}, DECIDED)
    assert removed.publication_end == date(2026, 9, 1)  # 移出日期: no longer published that day
    assert removed.severity is Severity.serious
    listed = publication_for(_item("abnormal_operation"), {"YC_YCRQ": None}, DECIDED)
    assert listed.publication_end is None


def test_fixed_and_always() -> None:
    tax = publication_for(_item("tax_credit_grade"), {"NS_DJ": "A"}, DECIDED)
    assert tax.publication_end == date(2027, 4, 11)
    honour = publication_for(_item("honour"), {}, None)
    assert honour.publication_end is None and honour.published
    with pytest.raises(FieldError):
        publication_for(_item("utility_arrears"), {}, None)
