"""`parse_column` gives, cell for cell, what `parse_field` gives — and its recognisers are used.

The recognisers may only accept cells the scalar rule returns unchanged (or, for money, in a
shape it computes the same way); every other cell, errors included, is `parse_field` itself.
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citycredit.catalog.loader import load_catalog
from citycredit.catalog.model import FieldSpec, FieldType
from citycredit.catalog.values import parse_field
from citycredit.ingest.fast import cells
from citycredit.ingest.fast.cells import parse_column, python_value, render
from citycredit.shared.errors import FieldError
from support import id_number, uscc

TODAY = date(2026, 11, 25)
CATALOG = load_catalog(None)
SPECS = {(item.code, spec.code): spec for item in CATALOG.items.values() for spec in item.fields}


def scalar(spec: FieldSpec, raw: str | None) -> tuple[str | None, dict[str, object] | None]:
    try:
        return render(spec, parse_field(spec, raw, today=TODAY)), None
    except FieldError as e:
        return None, {"field": e.field, "value": e.value, "code": e.code, "message": e.message}


def column(spec: FieldSpec, raws: list[str | None]) -> list[tuple[str | None, object]]:
    parsed = parse_column(spec, pl.Series(raws, dtype=pl.String), today=TODAY)
    reasons = [json.loads(r) if r else None for r in parsed.reason.to_list()]
    return list(zip(parsed.value.to_list(), reasons, strict=True))


def bodies() -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)


def dirty(base: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values and the ways departments spoil them."""
    noise = st.sampled_from(["", " ", "  ", "\u3000", "\u200b", "-", "*", "x", "１", "NULL", "无"])
    return st.one_of(
        base,
        st.builds(lambda b, n: n + b, base, noise),
        st.builds(lambda b, n: b + n, base, noise),
        st.builds(lambda b: b.lower(), base),
        st.builds(lambda b, i: b[:i] + b[i + 1 :], base, st.integers(0, 17)),
        st.builds(lambda b, i: b[:i] + "0" + b[i + 1 :], base, st.integers(0, 17)),
    )


USCCS = dirty(
    st.builds(
        lambda p, b: uscc(p, "610802", b), st.sampled_from(["91", "92", "12", "11"]), bodies()
    )
)
IDS = dirty(
    st.builds(
        lambda d, s: id_number("610802", d.strftime("%Y%m%d"), f"{s:03d}"),
        st.dates(date(1870, 1, 1), date(2030, 12, 31)),
        st.integers(0, 999),
    )
)
DATES = dirty(
    st.builds(
        lambda d, f: d.strftime(f),
        st.dates(date(1899, 12, 1), date(2100, 1, 31)),
        st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d 00:00:00"]),
    )
)
MONEY = dirty(
    st.one_of(
        st.decimals(0, 10**9, places=2).map(str),
        st.decimals(0, 10**6, places=5).map(str),
        st.sampled_from(["0", "01", "1,000", "2万元", "300元", "-1", "1e3", "¥5", "罚款2万元"]),
    )
)
TEXTS = dirty(st.text(alphabet="榆阳区某商贸有限公司（）()ABcd12 -\t", min_size=0, max_size=14))
ORGS = dirty(st.builds(lambda b: uscc("91", "610802", b)[8:17], bodies()))
REGNOS = dirty(st.text(alphabet="0123456789", min_size=12, max_size=16))


@pytest.mark.parametrize(
    ("key", "values"),
    [
        (("penalty", "CF_XDR_SHXYM"), USCCS),
        (("penalty", "CF_XDR_ZJHM"), IDS),
        (("judgment_defaulter", "SX_ZJHM"), IDS),
        (("penalty", "CF_JDRQ"), DATES),
        (("licence", "XK_YXQZI"), DATES),
        (("penalty", "CF_NR_FK"), MONEY),
        (("social_insurance_arrears", "QJ_JE"), MONEY),
        (("penalty", "CF_XDR_MC"), TEXTS),
        (("penalty", "CF_WSH"), TEXTS),
        (("penalty", "CF_XDR_ZZJG"), ORGS),
        (("penalty", "CF_XDR_GSZC"), REGNOS),
        (
            ("penalty", "CF_CFLB"),
            st.sampled_from(["罚款", "警告;罚款", "吊销许可证", "打板子", "其他-x"]),
        ),
        (("tax_credit_grade", "NS_ND"), st.sampled_from(["2025", "2025年", "二〇二五", "2025.0"])),
    ],
    ids=lambda v: "/".join(v) if isinstance(v, tuple) else "values",
)
def test_column_equals_scalar(key: tuple[str, str], values: st.SearchStrategy[str]) -> None:
    spec = SPECS[key]

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.one_of(st.none(), values), min_size=1, max_size=30))
    def check(raws: list[str | None]) -> None:
        assert column(spec, raws) == [scalar(spec, r) for r in raws]

    check()


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        (("penalty", "CF_XDR_SHXYM"), uscc("91", "610802", "MA6CW2B2")),
        (("penalty", "CF_XDR_ZJHM"), id_number("610802", "19800101", "011")),
        (("penalty", "CF_JDRQ"), "2026-10-10"),
        (("penalty", "CF_NR_FK"), "1.5"),
        (("penalty", "CF_XDR_MC"), "榆阳区某商贸有限公司"),
        (("penalty", "CF_XDR_ZZJG"), uscc("91", "610802", "MA6CW2B2")[8:17]),
        (("penalty", "CF_XDR_GSZC"), "610881000123451"),
    ],
    ids=lambda v: "/".join(v) if isinstance(v, tuple) else "raw",
)
def test_regular_cells_do_not_reach_python(
    key: tuple[str, str], raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common shapes are parsed column-wise: the scalar rule is never called for them."""
    spec = SPECS[key]
    expected = scalar(spec, raw)
    assert expected[1] is None  # a valid value

    def refuse(*args: object, **kw: object) -> object:
        raise AssertionError("parse_field was called")

    monkeypatch.setattr(cells, "parse_field", refuse)
    assert column(spec, [raw] * 5) == [expected] * 5


@pytest.mark.parametrize("spec", sorted(SPECS.values(), key=lambda s: s.code), ids=lambda s: s.code)
def test_render_round_trips(spec: FieldSpec) -> None:
    samples = {
        FieldType.date: "2026-10-10",
        FieldType.datetime: "2026-10-10 08:30",
        FieldType.decimal: "1.5",
        FieldType.integer: "2025",
        FieldType.tags: "律师；教师",
        FieldType.year_month: "2026-03",
    }
    raw = samples.get(spec.type)
    if raw is None:
        return
    try:
        value = parse_field(spec, raw, today=TODAY)
    except FieldError:
        return
    assert python_value(spec, render(spec, value)) == value
