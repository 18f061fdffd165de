"""The reference scorer: the same model evaluated in plain Python over the fact view's rows.

It is the executable specification of every indicator (windows are [as_of − N, as_of), a period
is in force on as_of when it started before as_of and ends after it, a repaired record is no
longer used from its repair day), so unit tests of indicators and hard rules are pure and fast,
and the parity tests hold every engine to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from citycredit.evaluation.model import (
    EvaluationModel,
    FusionMode,
    Indicator,
    Measure,
    ModelSet,
    Source,
)
from citycredit.evaluation.result import SubjectResult
from citycredit.evaluation.scoring import INDUSTRY_BASE, build_result
from citycredit.shared.calendar import add_months

__all__ = [
    "Fact",
    "ListFact",
    "SubjectFact",
    "evaluate_reference",
    "evaluate_subject",
    "indicator_value",
    "read_parquet_facts",
]


@dataclass(frozen=True)
class SubjectFact:
    """A row of fact_subjects."""

    subject_id: str
    subject_type: str
    registered_on: date | None = None


@dataclass(frozen=True)
class Fact:
    """A row of facts (the current version of an active record)."""

    subject_id: str
    item_code: str
    decision_date: date | None
    severity: str | None = None
    publication_end: date | None = None
    published: int = 1
    repaired_on: date | None = None
    value: str | None = None
    category: str | None = None

    def usable(self, as_of: date) -> bool:
        """Known before as_of and not repaired by then."""
        return (
            self.decision_date is not None
            and self.decision_date < as_of
            and (self.repaired_on is None or self.repaired_on > as_of)
        )

    def in_force(self, as_of: date) -> bool:
        return self.publication_end is None or self.publication_end > as_of


@dataclass(frozen=True)
class ListFact:
    """A row of fact_memberships."""

    subject_id: str
    list_type: str
    list_kind: str
    decided_on: date
    expires_on: date | None = None
    ended_on: date | None = None

    def in_force(self, as_of: date) -> bool:
        return (
            self.decided_on < as_of
            and (self.expires_on is None or self.expires_on > as_of)
            and (self.ended_on is None or self.ended_on > as_of)
        )


def _matches(ind: Indicator, f: Fact, as_of: date) -> bool:
    if f.item_code not in ind.items:
        return False
    if ind.severities and f.severity not in ind.severities:
        return False
    if ind.values and f.value not in ind.values:
        return False
    if ind.categories and f.category not in ind.categories:
        return False
    if (
        ind.window_days
        and f.decision_date is not None
        and f.decision_date < as_of - timedelta(days=ind.window_days)
    ):
        return False
    if ind.in_force and not f.in_force(as_of):
        return False
    return not (ind.published_only and not f.published)


def _list_matches(ind: Indicator, m: ListFact) -> bool:
    if ind.list_kinds and m.list_kind not in ind.list_kinds:
        return False
    return not (ind.list_types and m.list_type not in ind.list_types)


def _measure(ind: Indicator, hits: Sequence[Fact] | Sequence[ListFact]) -> int:
    if ind.measure is Measure.count:
        return len(hits)
    if ind.measure is Measure.exists:
        return 1 if hits else 0
    ranks = [
        ind.scale.index(f.value) + 1 for f in hits if isinstance(f, Fact) and f.value in ind.scale
    ]
    return max(ranks, default=0)


def indicator_value(
    ind: Indicator,
    as_of: date,
    subject: SubjectFact,
    facts: Iterable[Fact],
    memberships: Iterable[ListFact],
) -> int:
    """One indicator's value for one subject (facts and memberships of that subject)."""
    if ind.source is Source.subject:
        reg = subject.registered_on
        if reg is None:
            return 0
        # Whole years completed on as_of (民法典第二百零二条: no corresponding day → month end).
        return max(
            (k for k in range(1, (ind.cap or 0) + 1) if add_months(reg, 12 * k) <= as_of),
            default=0,
        )
    if ind.source is Source.memberships:
        lists = [m for m in memberships if m.in_force(as_of) and _list_matches(ind, m)]
        return _measure(ind, lists)
    hits = [f for f in facts if f.usable(as_of) and _matches(ind, f, as_of)]
    return _measure(ind, hits)


def _industry(model: EvaluationModel, facts: Iterable[Fact], as_of: date, mode: FusionMode) -> int:
    fusion = model.fusion
    if fusion is None:
        return 0
    wanted = fusion.industries(mode)
    best = 0
    for f in facts:
        if (
            f.item_code == fusion.item
            and f.category in wanted
            and f.value in fusion.scale
            and f.usable(as_of)
            and f.in_force(as_of)
        ):
            code = (fusion.scale.index(f.value) + 1) * INDUSTRY_BASE + fusion.index(f.category)
            best = max(best, code)
    return best


def evaluate_subject(
    model: EvaluationModel,
    as_of: date,
    subject: SubjectFact,
    facts: Sequence[Fact] = (),
    memberships: Sequence[ListFact] = (),
) -> SubjectResult:
    """The reference result of one subject."""
    values = {
        i.code: indicator_value(i, as_of, subject, facts, memberships) for i in model.indicators
    }
    return build_result(
        model,
        subject.subject_id,
        subject.subject_type,
        as_of,
        values,
        _industry(model, facts, as_of, FusionMode.override),
        _industry(model, facts, as_of, FusionMode.reference),
    )


def evaluate_reference(
    models: ModelSet,
    subjects: Iterable[SubjectFact],
    facts: Iterable[Fact],
    memberships: Iterable[ListFact],
    as_of: date,
) -> list[SubjectResult]:
    """Every subject a model in force on as_of evaluates, in the order given."""
    by_subject: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_subject[f.subject_id].append(f)
    lists: dict[str, list[ListFact]] = defaultdict(list)
    for m in memberships:
        lists[m.subject_id].append(m)
    by_type = {t: m for m in models.current(as_of) for t in m.subject_types}
    out = []
    for s in subjects:
        model = by_type.get(s.subject_type)
        if model is not None:
            out.append(
                evaluate_subject(model, as_of, s, by_subject[s.subject_id], lists[s.subject_id])
            )
    return out


def read_parquet_facts(
    parquet_dir: Path,
) -> tuple[list[SubjectFact], list[Fact], list[ListFact]]:
    """The three relations of a Parquet export as reference rows."""
    import pyarrow.parquet as pq

    from citycredit.evaluation.engines import PARQUET_FILES

    def rows(name: str) -> list[dict[str, Any]]:
        return pq.read_table(Path(parquet_dir) / PARQUET_FILES[name]).to_pylist()

    return (
        [SubjectFact(**r) for r in rows("fact_subjects")],
        # facts.parquet also carries the subject's type (analytics.export); Fact groups by id.
        [Fact(**{k: v for k, v in r.items() if k != "subject_type"}) for r in rows("facts")],
        [ListFact(**r) for r in rows("fact_memberships")],
    )
