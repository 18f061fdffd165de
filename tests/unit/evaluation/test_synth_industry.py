"""The synthetic city's 行业信用评价: valid rows in each department's wording, every grade."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.values import parse_field
from citycredit.synth import industry
from citycredit.synth.city import DEFAULT_AS_OF, build_subjects
from citycredit.synth.records import Book, dept


def test_industry_evaluations_parse_and_cover_every_grade() -> None:
    subjects = build_subjects(random.Random(5), 1500, DEFAULT_AS_OF)
    book = Book(random.Random(6), subjects, DEFAULT_AS_OF)
    industry.evaluations(book)
    item = default_catalog().item(industry.ITEM)
    rows = [r for (_, code), recs in book.out.items() if code == industry.ITEM for r in recs]
    assert len(rows) > 60
    grades: Counter[object] = Counter()
    senders = set()
    for rec in rows:
        values = {
            f: parse_field(item.field(f), v, today=DEFAULT_AS_OF) for f, v in rec.values.items()
        }
        grades[values["HY_DJ"]] += 1
        assert values["HY_HY"] in item.field("HY_HY").enum
        assert values["HY_PJBM"] == rec.values["HY_PJBM"]
        start, end = values["HY_PDRQ"], values["HY_YXQZ"]
        assert start < DEFAULT_AS_OF and end == start.replace(year=start.year + 1) - timedelta(
            days=1
        )
        senders.add(rec.dept)
    assert set(grades) == {"A", "B", "C", "D"}
    assert senders == {slug for slug, *_ in industry.SENDERS}
    # every sender is a department of the catalog's obligations for the item
    obliged = {o.department for o in item.obligations}
    assert {dept(s).name for s in senders} <= obliged
