"""Every indicator of every model, on the reference semantics (pure, no database).

For each indicator a fact that matches it is built from the indicator's own definition, then
moved across each boundary that matters: the window start, as_of itself, the end of its
publication, the repair day, the list period, another item / severity / value / category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from citycredit.evaluation.compiler import year_boundary
from citycredit.evaluation.facts import list_kinds
from citycredit.evaluation.model import EvaluationModel, Indicator, Measure, Source, load_models
from citycredit.evaluation.reference import Fact, ListFact, SubjectFact, indicator_value
from citycredit.shared.calendar import add_months

AS_OF = date(2026, 6, 15)
MODELS = load_models()
CASES = [(m, i) for m in MODELS.current() for i in m.indicators]


def _of(source: Source) -> list[Any]:
    return [pytest.param(m, i, id=f"{m.code}:{i.code}") for m, i in CASES if i.source is source]


RECORD_CASES, LIST_CASES = _of(Source.records), _of(Source.memberships)
SUBJECT_CASES = _of(Source.subject)
ALL_CASES = [pytest.param(m, i, id=f"{m.code}:{i.code}") for m, i in CASES]
SUBJECT = SubjectFact("s1", "enterprise", date(2010, 1, 1))
KINDS = list_kinds()
ENTERPRISE = MODELS.current_for("enterprise")
assert ENTERPRISE is not None


def value(
    ind: Indicator,
    facts: Sequence[Fact] = (),
    lists: Sequence[ListFact] = (),
    subject: SubjectFact = SUBJECT,
) -> int:
    return indicator_value(ind, AS_OF, subject, list(facts), list(lists))


def matching_fact(ind: Indicator) -> Fact:
    return Fact(
        subject_id="s1",
        item_code=ind.items[0],
        decision_date=AS_OF - timedelta(days=1),
        severity=ind.severities[0] if ind.severities else "general",
        publication_end=None,
        published=1,
        value=ind.values[0] if ind.values else (ind.scale[-1] if ind.scale else None),
        category=ind.categories[0] if ind.categories else None,
    )


def matching_list(ind: Indicator) -> ListFact:
    if ind.list_types:
        lt = ind.list_types[0]
    else:
        lt = next(t for t, k in KINDS.items() if k in ind.list_kinds)
    return ListFact("s1", lt, KINDS[lt], AS_OF - timedelta(days=10))


def hit(ind: Indicator) -> int:
    """The value of one matching fact."""
    return len(ind.scale) if ind.measure is Measure.worst else 1


@pytest.mark.parametrize(("model", "ind"), RECORD_CASES)
def test_records_indicator_boundaries(model: EvaluationModel, ind: Indicator) -> None:
    f = matching_fact(ind)
    assert value(ind) == 0  # no records
    assert value(ind, [f]) == hit(ind)
    assert value(ind, [replace(f, item_code="registration")]) == 0
    assert value(ind, [replace(f, decision_date=AS_OF)]) == 0  # decided on as_of: not yet
    assert value(ind, [replace(f, decision_date=None)]) == 0
    assert value(ind, [replace(f, repaired_on=AS_OF)]) == 0  # 信用修复 granted: not used
    assert value(ind, [replace(f, repaired_on=AS_OF + timedelta(days=1))]) == hit(ind)
    if ind.window_days:
        first = AS_OF - timedelta(days=ind.window_days)
        assert value(ind, [replace(f, decision_date=first)]) == hit(ind)
        assert value(ind, [replace(f, decision_date=first - timedelta(days=1))]) == 0
    if ind.in_force:
        assert value(ind, [replace(f, publication_end=AS_OF)]) == 0  # ends on as_of
        assert value(ind, [replace(f, publication_end=AS_OF + timedelta(days=1))]) == hit(ind)
    else:  # a publication that ended long ago does not matter
        assert value(ind, [replace(f, publication_end=AS_OF - timedelta(days=30))]) == hit(ind)
    if ind.severities:
        other = next(s for s in ("minor", "general", "serious") if s not in ind.severities)
        assert value(ind, [replace(f, severity=other)]) == 0
    if ind.values:
        assert value(ind, [replace(f, value="其他")]) == 0
    if ind.categories:
        assert value(ind, [replace(f, category="其他")]) == 0
    if ind.published_only:
        assert value(ind, [replace(f, published=0)]) == 0
    two = [f, replace(f, decision_date=AS_OF - timedelta(days=2))]
    if ind.measure is Measure.count:
        assert value(ind, two) == 2
    elif ind.measure is Measure.exists:
        assert value(ind, two) == 1
    assert value(ind, [replace(f, subject_id="s2")]) == hit(ind)  # caller passes one subject


@pytest.mark.parametrize(("model", "ind"), ALL_CASES)
def test_points_of_each_indicator(model: EvaluationModel, ind: Indicator) -> None:
    p = ind.points
    assert p.for_value(0, ind.scale) == 0  # nothing found earns nothing
    if p.per is not None:
        assert p.for_value(1, ind.scale) == p.per
        if p.max_count:
            assert p.for_value(p.max_count + 5, ind.scale) == p.per * p.max_count
    if p.bands:
        for band in p.bands:
            assert p.for_value(band.min, ind.scale) == band.points
            below = p.for_value(band.min - 1, ind.scale)
            assert below != band.points or band.points == 0
    for grade, points in p.by_value.items():
        assert p.for_value(ind.scale.index(grade) + 1, ind.scale) == points


@pytest.mark.parametrize(("model", "ind"), LIST_CASES)
def test_list_indicator_boundaries(model: EvaluationModel, ind: Indicator) -> None:
    m = matching_list(ind)
    assert value(ind, lists=[m]) == 1
    assert value(ind, lists=[replace(m, decided_on=AS_OF)]) == 0
    assert value(ind, lists=[replace(m, expires_on=AS_OF)]) == 0  # first day off the list
    assert value(ind, lists=[replace(m, expires_on=AS_OF + timedelta(days=1))]) == 1
    assert value(ind, lists=[replace(m, ended_on=AS_OF)]) == 0  # exited / expired on as_of
    assert value(ind, lists=[replace(m, ended_on=AS_OF + timedelta(days=1))]) == 1
    other = next(t for t, k in KINDS.items() if t not in ind.list_types and k not in ind.list_kinds)
    assert value(ind, lists=[replace(m, list_type=other, list_kind=KINDS[other])]) == 0
    two = [m, replace(m, decided_on=AS_OF - timedelta(days=20))]
    assert value(ind, lists=two) == (2 if ind.measure is Measure.count else 1)


@pytest.mark.parametrize(("model", "ind"), SUBJECT_CASES)
def test_subject_indicator_boundaries(model: EvaluationModel, ind: Indicator) -> None:
    assert ind.cap is not None

    def years(registered: date | None) -> int:
        return value(ind, subject=SubjectFact("s1", "enterprise", registered))

    assert years(None) == 0
    assert years(AS_OF) == 0 and years(AS_OF - timedelta(days=1)) == 0
    for k in (1, 3, 5, 10):
        anniversary = add_months(AS_OF, -12 * k)  # AS_OF is mid-month: no clamping
        assert years(anniversary) == k  # the k-th anniversary falls on as_of
        assert years(anniversary + timedelta(days=1)) == k - 1
    assert years(date(1950, 1, 1)) == ind.cap


def test_years_from_29_february() -> None:
    ind = ENTERPRISE.indicator("registered_years")
    subject = SubjectFact("s1", "enterprise", date(2020, 2, 29))
    assert indicator_value(ind, date(2021, 2, 28), subject, [], []) == 1  # 民法典第二百零二条
    assert indicator_value(ind, date(2021, 2, 27), subject, [], []) == 0
    assert indicator_value(ind, date(2024, 2, 28), subject, [], []) == 3
    assert indicator_value(ind, date(2024, 2, 29), subject, [], []) == 4
    # The compiled query binds the same boundaries.
    assert year_boundary(date(2021, 2, 28), 1) == date(2020, 2, 29)
    assert year_boundary(date(2024, 2, 28), 4) == date(2020, 2, 28)
    assert year_boundary(date(2026, 6, 15), 5) == date(2021, 6, 15)


def test_tax_grade_is_the_worst_grade_in_force() -> None:
    ind = ENTERPRISE.indicator("tax_grade")
    a = Fact("s1", "tax_credit_grade", date(2026, 4, 20), value="A")
    d = Fact("s1", "tax_credit_grade", date(2025, 4, 20), value="D", publication_end=AS_OF)
    c = replace(d, value="C", publication_end=AS_OF + timedelta(days=1))
    assert value(ind, [a, d]) == 1  # D's 12 months ended on as_of: A
    assert value(ind, [a, c]) == 4  # C still in force: the worse grade counts
    assert value(ind, [replace(a, value="X")]) == 0  # not on the scale


def test_penalties_without_stated_class_follow_the_record() -> None:
    model = ENTERPRISE
    serious = model.indicator("penalty_serious_in_force")
    general = model.indicator("penalty_general_in_force")
    minor = Fact("s1", "penalty", AS_OF - timedelta(days=5), severity="minor", published=0)
    assert value(serious, [minor]) == 0 and value(general, [minor]) == 0
    assert value(model.indicator("penalties_3y"), [minor]) == 1  # still an offence on record
