"""Evaluation models (公共信用综合评价模型) as data: indicators, points, dimensions, grades, rules.

A model is one YAML file in `evaluation/models/` (`<code>.<version>.yaml`). Everything here is
pure and frozen; `citycredit.evaluation.loader` reads and validates the files, the compiler
(`evaluation.compiler`) turns a model into SQL and `evaluation.reference` scores it in Python.
How to add an indicator: docs/howto/add-indicator.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from citycredit.shared.errors import CityCreditError, NotFound

__all__ = [
    "GRADES",
    "GRADE_LABELS",
    "Band",
    "Dimension",
    "EvaluationModel",
    "FusionMode",
    "GradeBand",
    "HardRule",
    "Indicator",
    "IndustryFusion",
    "IndustryRule",
    "Measure",
    "ModelError",
    "ModelSet",
    "Points",
    "Source",
    "grade_rank",
    "load_models",
    "version_key",
]

# The unified grade scale (GB/T 45255-2025 as recalled, rules.md §8.1): rank 1 = best.
GRADES: tuple[str, ...] = ("A", "B", "C", "D")
GRADE_LABELS: Mapping[str, str] = {"A": "优", "B": "良", "C": "中", "D": "差"}


def grade_rank(grade: str) -> int:
    """1 for A … 4 for D."""
    return GRADES.index(grade) + 1


class ModelError(CityCreditError):
    """A model file is malformed; ``file`` and ``key`` locate the problem."""

    default_code = "evaluation_model_invalid"

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"评价模型文件 {file} 的键 {key}：{problem}")
        self.file, self.key, self.problem = file, key, problem


class Source(StrEnum):
    """Where an indicator's value comes from."""

    records = "records"  # current versions of active records (the `facts` view)
    memberships = "memberships"  # list memberships in force on as_of
    subject = "subject"  # the subject row itself (registration date)


class Measure(StrEnum):
    """How the matching facts become one integer value."""

    count = "count"  # type: ignore[assignment]  # number of matching facts (shadows str.count)
    exists = "exists"  # 1 if any fact matches, else 0
    worst = "worst"  # 1-based position in `scale` of the worst matching value, 0 = none
    years = "years"  # whole years since registration on as_of, capped at `cap`


class FusionMode(StrEnum):
    """How an industry grade enters the comprehensive evaluation (plan 专栏6.2)."""

    reference = "reference"  # 参考使用: shown beside the grade, no effect
    indicator = "indicator"  # 引入指标变量: an indicator with points per grade
    override = "override"  # 直接使用: the industry grade replaces the score's grade


@dataclass(frozen=True)
class Band:
    """`points` when the value is at least `min` (the highest matching band wins)."""

    min: int
    points: int


@dataclass(frozen=True)
class Points:
    """How a value earns points: `per` unit (up to `max_count` units), bands, or per grade."""

    per: int | None = None
    max_count: int | None = None
    bands: tuple[Band, ...] = ()
    by_value: Mapping[str, int] = field(default_factory=dict)

    def for_value(self, value: int, scale: tuple[str, ...] = ()) -> int:
        """Points of one indicator value (pure; the compiler emits the same arithmetic)."""
        if self.per is not None:
            units = value if self.max_count is None else min(value, self.max_count)
            return self.per * units
        if self.bands:
            points = 0
            for band in self.bands:  # ascending `min`
                if value >= band.min:
                    points = band.points
            return points
        if value <= 0:
            return 0
        return self.by_value.get(scale[value - 1], 0)


@dataclass(frozen=True)
class Indicator:
    """One indicator: a filter over the subject's facts, a measure, points and its basis."""

    code: str
    name: str
    dimension: str
    source: Source
    measure: Measure
    points: Points
    basis: str
    reason: str  # plain-Chinese template: {value} (count, years or grade), {points}
    items: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()  # records.severity: minor / general / serious
    values: tuple[str, ...] = ()  # facts.value in … (the item's value field, see facts.py)
    categories: tuple[str, ...] = ()  # facts.category in …
    window_days: int | None = None  # decision_date in [as_of − N, as_of)
    in_force: bool = False  # publication_end is NULL or after as_of
    published_only: bool = False  # only records published (not 轻微, not minors)
    list_kinds: tuple[str, ...] = ()
    list_types: tuple[str, ...] = ()
    scale: tuple[str, ...] = ()  # measure `worst`: values best first
    cap: int | None = None  # measure `years`: largest value reported
    uncertain: bool = False

    def display(self, value: int) -> str:
        """The value as people read it (a grade letter for `worst`)."""
        if self.measure is Measure.worst:
            return self.scale[value - 1] if value > 0 else "无"
        return str(value)


@dataclass(frozen=True)
class Dimension:
    """A group of indicators whose summed points are clamped to [min, max]."""

    code: str
    name: str
    min: int
    max: int


@dataclass(frozen=True)
class GradeBand:
    """Scores of at least `min` get `grade` (the first matching band, best first)."""

    grade: str
    label: str
    min: int


@dataclass(frozen=True)
class HardRule:
    """While indicator ≥ `gte`, the grade is no better than `grade` (a cap)."""

    code: str
    indicator: str
    gte: int
    grade: str
    text: str
    lift: str  # what would lift the cap, in plain Chinese
    basis: str
    uncertain: bool = False


@dataclass(frozen=True)
class IndustryRule:
    """How one industry's grade (行业信用评价) is fused; `points` for mode `indicator`."""

    industry: str
    mode: FusionMode
    code: str = ""  # ASCII code of the generated indicator (mode indicator)
    dimension: str = ""
    points: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IndustryFusion:
    """Fusion of industry evaluations, one rule per industry of the catalog item."""

    item: str
    scale: tuple[str, ...]
    rules: tuple[IndustryRule, ...]
    basis: str

    def industries(self, mode: FusionMode) -> tuple[str, ...]:
        return tuple(r.industry for r in self.rules if r.mode is mode)

    def index(self, industry: str) -> int:
        """1-based position of an industry (used to encode it in one integer)."""
        return next(i for i, r in enumerate(self.rules, 1) if r.industry == industry)


@dataclass(frozen=True)
class EvaluationModel:
    """One version of the evaluation model of one or more subject types."""

    code: str
    version: str
    name: str
    subject_types: tuple[str, ...]
    effective: date
    retired: bool
    basis: tuple[str, ...]
    base: int
    min_score: int
    max_score: int
    dimensions: tuple[Dimension, ...]
    indicators: tuple[Indicator, ...]  # including the generated industry indicators
    grades: tuple[GradeBand, ...]
    hard_rules: tuple[HardRule, ...]
    fusion: IndustryFusion | None
    file: str = ""

    @property
    def key(self) -> str:
        return f"{self.code}@{self.version}"

    def indicator(self, code: str) -> Indicator:
        for ind in self.indicators:
            if ind.code == code:
                return ind
        raise NotFound(f"模型 {self.key} 没有指标 {code}", code="indicator_not_found")

    def dimension(self, code: str) -> Dimension:
        return next(d for d in self.dimensions if d.code == code)

    def grade_for(self, score: int) -> str:
        """The grade of a score by the thresholds (before hard rules and fusion)."""
        for band in self.grades:
            if score >= band.min:
                return band.grade
        return self.grades[-1].grade

    def windows(self) -> tuple[int, ...]:
        """Distinct window lengths in days (each is bound as a parameter)."""
        return tuple(sorted({i.window_days for i in self.indicators if i.window_days}))

    def year_caps(self) -> int:
        """Largest `cap` of a years indicator (number of year boundaries to bind)."""
        return max((i.cap or 0 for i in self.indicators if i.measure is Measure.years), default=0)


def version_key(version: str) -> tuple[int, ...]:
    """'2026.10' sorts after '2026.9'."""
    return tuple(int(p) for p in version.split("."))


class ModelSet:
    """Every model version found; the one in force per code on a day is the newest version that
    is not retired and whose `effective` date is on or before that day."""

    def __init__(self, models: tuple[EvaluationModel, ...], directory: Path | None = None):
        self.models = models
        self.directory = directory
        self._by_key = {m.key: m for m in models}

    def __iter__(self) -> Iterator[EvaluationModel]:
        return iter(self.models)

    def versions(self, code: str) -> list[str]:
        """Versions of a model code, oldest first."""
        return sorted((m.version for m in self.models if m.code == code), key=version_key)

    def get(self, code: str, version: str) -> EvaluationModel:
        found = self._by_key.get(f"{code}@{version}")
        if found is None:
            known = "、".join(self.versions(code)) or "无"
            raise NotFound(
                f"评价模型 {code} 没有版本 {version}（已有：{known}）", code="model_not_found"
            )
        return found

    def current(self, as_of: date | None = None) -> tuple[EvaluationModel, ...]:
        """The model of each code in force on as_of: the newest version (by version number)
        that is not retired and took effect on or before as_of (`effective <= as_of`). A code
        none of whose versions is in force yet evaluates nothing on that day; a back-dated
        as_of gets the version in force then.

        as_of None: the newest version not retired whatever its effective date — the versions
        known (model validation, the export's default subject types), not the ones to evaluate
        with; every evaluation passes its as_of.
        """
        out: dict[str, EvaluationModel] = {}
        for m in sorted(self.models, key=lambda m: version_key(m.version)):
            if m.retired or (as_of is not None and m.effective > as_of):
                continue
            out[m.code] = m
        return tuple(sorted(out.values(), key=lambda m: m.code))

    def current_for(self, subject_type: str, as_of: date | None = None) -> EvaluationModel | None:
        """The model that evaluates subjects of this type on as_of (None: not evaluated)."""
        for m in self.current(as_of):
            if subject_type in m.subject_types:
                return m
        return None

    def subject_types(self, as_of: date | None = None) -> tuple[str, ...]:
        """Every subject type some model in force on as_of evaluates."""
        return tuple(t for m in self.current(as_of) for t in m.subject_types)


def load_models(directory: Path | None = None) -> ModelSet:
    """Read and validate every model file (default: the package's models/ directory)."""
    from citycredit.evaluation.loader import read_models

    return read_models(directory)
