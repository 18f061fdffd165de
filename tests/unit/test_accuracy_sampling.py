"""G40, the pure parts: sample size, Wilson interval, seeded sample, field comparison."""

from __future__ import annotations

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.values import parse_field
from citycredit.ingest.accuracy import (
    comparable_fields,
    compare_record,
    default_sample_size,
    draw_sample,
    wilson_interval,
)
from citycredit.privacy.records import split_fields


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        (0, 0),
        (1, 1),
        (6, 6),
        (20, 20),
        (21, 20),
        (50, 45),
        (100, 80),
        (1000, 278),
        (10_000, 370),
        (10**7, 385),
    ],
)
def test_sample_size_for_5_percent_at_95_percent(population: int, expected: int) -> None:
    # n0 = 1.96² · 0.25 / 0.05² ≈ 384.1, finite-population corrected, capped by N
    # (the Krejcie–Morgan table: 100 → 80, 1000 → 278, 10 000 → 370).
    assert default_sample_size(population) == expected


def test_sample_size_follows_the_margin() -> None:
    assert default_sample_size(10_000, margin=0.03) > default_sample_size(10_000)


@pytest.mark.parametrize(
    ("errors", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (5, 10, 0.2366, 0.7634),
        (1, 100, 0.0018, 0.0545),
    ],
)
def test_wilson_interval(errors: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(errors, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-4)
    assert interval[1] == pytest.approx(high, abs=1e-4)


def test_no_interval_without_a_sample() -> None:
    assert wilson_interval(0, 0) is None


def test_the_sample_depends_on_the_seed_only() -> None:
    ids = [f"r{i:03d}" for i in range(200)]
    first = draw_sample(ids, 20, seed=42)
    assert len(first) == 20 and len(set(first)) == 20 and set(first) <= set(ids)
    assert draw_sample(list(reversed(ids)), 20, seed=42) == first  # order of the input: none
    assert draw_sample(ids, 20, seed=43) != first
    assert draw_sample(ids, 500, seed=1) == sorted(ids)


ITEM = default_catalog().item("penalty")


def parsed(**raw: str) -> dict[str, object]:
    return {code: parse_field(ITEM.field(code), text) for code, text in raw.items()}


def stored(values: dict[str, object], *, natural_person: bool) -> dict[str, object]:
    payload, _ = split_fields(ITEM, values, natural_person=natural_person)
    return payload


BASE = {
    "CF_XDR_MC": "榆阳区某商贸有限公司",
    "CF_XDR_LB": "法人及非法人组织",
    "CF_WSH": "榆市监罚〔2026〕1号",
    "CF_NR_FK": "2",
    "CF_JDRQ": "2026-11-02",
    "CF_SY": "当事人未按规定公示",
}
COLUMNS = set(BASE) | {"CF_XDR_ZJHM"}


def test_equivalent_values_match() -> None:
    published = stored(parsed(**BASE), natural_person=False)
    source = parsed(**{**BASE, "CF_NR_FK": "２.0", "CF_JDRQ": "2026/11/2"})
    assert compare_record(ITEM, published, source, COLUMNS, natural_person=False) == []


def test_organisation_differences_keep_both_values_scrubbed() -> None:
    published = stored(parsed(**BASE), natural_person=False)
    source = parsed(**{**BASE, "CF_NR_FK": "3", "CF_SY": "联系电话 15291837465"})
    diffs = compare_record(ITEM, published, source, COLUMNS, natural_person=False)
    assert [d["field"] for d in diffs] == ["CF_SY", "CF_NR_FK"]
    assert diffs[1]["published"] == "20000.00" and diffs[1]["source"] == "30000.00"
    assert "15291837465" not in str(diffs[0]["source"])


def test_a_persons_text_fields_are_named_not_quoted() -> None:
    person = {**BASE, "CF_XDR_MC": "王小明", "CF_XDR_LB": "自然人"}
    published = stored(parsed(**person), natural_person=True)
    source = parsed(**{**person, "CF_XDR_MC": "王晓明", "CF_NR_FK": "3"})
    diffs = compare_record(ITEM, published, source, COLUMNS, natural_person=True)
    assert diffs[0] == {"field": "CF_XDR_MC", "label": "行政相对人名称", "values_withheld": True}
    assert diffs[1]["field"] == "CF_NR_FK" and diffs[1]["source"] == "30000.00"
    assert "王" not in str(diffs)


def test_only_public_fields_with_a_column_are_compared() -> None:
    compared, uncompared = comparable_fields(ITEM, COLUMNS)
    assert "CF_XDR_ZJHM" not in compared and "CF_XDR_ZJHM" not in uncompared  # personal
    assert set(compared) == set(BASE) and "CF_CFJG" in uncompared
    published = stored(parsed(**BASE), natural_person=False)
    source = parsed(**{**BASE, "CF_CFJG": "另一机关"})
    assert compare_record(ITEM, published, source, set(BASE), natural_person=False) == []
