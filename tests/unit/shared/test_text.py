"""Tests for citycredit.shared.text and citycredit.shared.errors."""

from __future__ import annotations

import pickle

import pytest

from citycredit.shared.errors import (
    CityCreditError,
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.shared.text import normalise_code, normalise_name, normalise_text, to_halfwidth


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("９１６１０８", "916108"),
        ("ＡＢＣｘｙｚ", "ABCxyz"),
        ("（）！～", "()!~"),
        ("a\u3000b", "a b"),
        ("榆林市", "榆林市"),  # CJK untouched
        ("", ""),
    ],
)
def test_to_halfwidth(raw: str, expected: str) -> None:
    assert to_halfwidth(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 9144 0300 1922 0382 16 ", "914403001922038216"),
        ("９１４４０３００１９２２０３８２１６", "914403001922038216"),
        ("91440300\u00a01922038216", "914403001922038216"),  # NBSP
        ("91440300\u30001922038216", "914403001922038216"),  # ideographic space
        ("9144030071526726xg", "9144030071526726XG"),
        ("19220382-1", "192203821"),
        ("19220382－1", "192203821"),  # full-width hyphen
        ("19220382—1", "192203821"),  # em dash
        ("\ufeff6108\u200b02\t\n", "610802"),  # BOM, zero-width space, tab, newline
    ],
)
def test_normalise_code(raw: str, expected: str) -> None:
    assert normalise_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  榆林市\u3000\u3000榆阳区  ", "榆林市 榆阳区"),
        ("罚款\n\n５０００元", "罚款 5000元"),
        ("ＡＢＣ公司", "ABC公司"),
        # Chinese punctuation is kept in free text.
        ("违反《食品安全法》，罚款（警告）：", "违反《食品安全法》，罚款（警告）："),
        ("a\u00a0\u00a0b", "a b"),
        ("   ", ""),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("腾讯科技（深圳）有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技(深圳)有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技【深圳】有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技〔深圳〕有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技[深圳]有限公司", "腾讯科技(深圳)有限公司"),
        (" 榆林 abc 能源\u3000有限公司 ", "榆林ABC能源有限公司"),
        ("ＡＢＣ能源", "ABC能源"),
        ("张 三", "张三"),
        # no suffix stripping
        ("榆林市某某有限责任公司", "榆林市某某有限责任公司"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_normalise_name_makes_variants_equal() -> None:
    variants = ["小米科技有限责任公司", "小米科技 有限责任公司", "小米科技有限责任公司\u3000"]
    assert len({normalise_name(v) for v in variants}) == 1


# --- errors -----------------------------------------------------------------------------------


def test_base_error_has_code_and_message() -> None:
    err = CityCreditError("出错了")
    assert err.code == "error"
    assert err.message == "出错了"
    assert str(err) == "出错了"
    assert CityCreditError("x", code="boom").code == "boom"


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (NotFound, "not_found"),
        (PermissionDenied, "permission_denied"),
        (Conflict, "conflict"),
        (InvalidTransition, "invalid_transition"),
    ],
)
def test_subclasses(cls: type[CityCreditError], code: str) -> None:
    err = cls("说明")
    assert isinstance(err, CityCreditError)
    assert err.code == code
    assert cls("说明", code="special").code == "special"
    assert err.message == "说明"


def test_field_error_names_field_and_value() -> None:
    err = FieldError("CF_XDR_SHXYM", "91xyz", "checksum", "校验码错误")
    assert isinstance(err, CityCreditError)
    assert (err.field, err.value, err.code, err.message) == (
        "CF_XDR_SHXYM",
        "91xyz",
        "checksum",
        "校验码错误",
    )
    assert str(err) == "字段 CF_XDR_SHXYM 的值 '91xyz' 无效：校验码错误"


def test_field_error_truncates_long_values_in_str_only() -> None:
    err = FieldError("f", "x" * 500, "length", "太长")
    assert len(str(err)) < 150
    assert err.value == "x" * 500


def test_errors_survive_pickling() -> None:
    err = pickle.loads(pickle.dumps(FieldError("f", "v", "charset", "含非法字符")))
    assert (err.field, err.value, err.code, err.message) == ("f", "v", "charset", "含非法字符")
    assert str(err) == "字段 f 的值 'v' 无效：含非法字符"
    nf = pickle.loads(pickle.dumps(NotFound("无此主体", code="subject_not_found")))
    assert isinstance(nf, NotFound)
    assert (nf.code, nf.message, str(nf)) == ("subject_not_found", "无此主体", "无此主体")
