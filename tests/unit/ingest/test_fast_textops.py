"""Column-wise text helpers agree with the scalar functions they stand for."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from citycredit.ingest.fast.textops import ISSPACE, json_literal, json_object, strip_cells
from citycredit.shared.canonical import canonical_bytes

TRICKY = '\x00\x01\x1f\x7f"\\/\n\r\t\b\f \u3000\u00a0\u2028\u2029\ufeff榆阳区ＡＢ１'
texts = st.text(alphabet=st.sampled_from(list(TRICKY) + list("abc公司")), max_size=12)


def test_isspace_is_pythons() -> None:
    import sys

    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == ISSPACE
    assert "\x1c" in ISSPACE and "\u3000" in ISSPACE and "\u200b" not in ISSPACE


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=1, max_size=20))
def test_json_literal_is_json_dumps(values: list[str]) -> None:
    out = pl.select(json_literal(pl.Series(values, dtype=pl.String))).to_series().to_list()
    assert out == [json.dumps(v, ensure_ascii=False) for v in values]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), texts), min_size=1, max_size=20))
def test_strip_cells_is_str_strip(values: list[str | None]) -> None:
    out = pl.select(strip_cells(pl.Series(values, dtype=pl.String))).to_series().to_list()
    assert out == [(v.strip() or None) if v is not None else None for v in values]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), texts), st.one_of(st.none(), texts)), max_size=10))
def test_json_object_is_canonical_bytes(pairs: list[tuple[str | None, str | None]]) -> None:
    frame = pl.DataFrame(
        {"b": [p[0] for p in pairs], "a": [p[1] for p in pairs]},
        schema={"b": pl.String, "a": pl.String},
    )
    members = [("b", json_literal(pl.col("b"))), ("a", json_literal(pl.col("a")))]
    out = frame.select(json_object(members)).to_series().to_list()
    expected = [
        canonical_bytes({k: v for k, v in (("b", b), ("a", a)) if v is not None}).decode()
        for b, a in pairs
    ]
    assert out == expected
