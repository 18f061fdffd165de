"""The result of evaluating one subject: values, points, score, grade, reasons and caps.

`SubjectResult.to_json()` is what the platform stores with every result; `from_json` reads it
back. Reasons are FICO-style reason codes in plain Chinese, ordered by impact (PIPL art. 24:
a person affected by automated decision-making may ask for an explanation), followed by one
line per dimension limit and score limit that changed the sum (codes `dimension_limit:<dim>`
and `score_limit`), so that the model's base plus the points of all reasons is the score
(security.md G33).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from citycredit.evaluation.model import GRADE_LABELS

__all__ = [
    "DIMENSION_LIMIT",
    "SCORE_LIMIT",
    "Cap",
    "IndicatorValue",
    "Reason",
    "SubjectResult",
    "is_adjustment",
]

# Reason codes of the limit adjustments (never an indicator code: those have no colon).
DIMENSION_LIMIT = "dimension_limit"  # f"{DIMENSION_LIMIT}:{dimension code}"
SCORE_LIMIT = "score_limit"


@dataclass(frozen=True)
class IndicatorValue:
    """One indicator's integer value and the points it earned (before dimension caps)."""

    code: str
    name: str
    dimension: str
    value: int
    points: int


@dataclass(frozen=True)
class Reason:
    """A reason code: indicator code (or a limit adjustment), plain-Chinese text, signed points."""

    code: str
    text: str
    points: int

    @property
    def adjustment(self) -> bool:
        """A dimension or score limit line, not an indicator."""
        return is_adjustment(self.code)


def is_adjustment(code: str) -> bool:
    """A reason code of a dimension or score limit line (never an indicator's code)."""
    return code == SCORE_LIMIT or code.startswith(DIMENSION_LIMIT + ":")


@dataclass(frozen=True)
class Cap:
    """A hard rule that held the grade down, and what would lift it."""

    rule: str
    text: str
    capped_grade: str
    uncapped_grade: str
    lift: str


@dataclass(frozen=True)
class SubjectResult:
    """The evaluation of one subject by one model version as of one day."""

    subject_id: str
    subject_type: str
    model_code: str
    model_version: str
    as_of: date
    score: int
    grade: str  # 'A'|'B'|'C'|'D'
    grade_label: str  # 优/良/中/差
    indicators: tuple[IndicatorValue, ...]
    reasons: tuple[Reason, ...]
    caps: tuple[Cap, ...]
    industry: dict[str, Any] | None

    def value(self, code: str) -> int:
        """The value of one indicator."""
        return next(i.value for i in self.indicators if i.code == code)

    def points(self, code: str) -> int:
        """The points of one indicator."""
        return next(i.points for i in self.indicators if i.code == code)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (dates as ISO strings)."""
        return {
            "subject_id": self.subject_id,
            "subject_type": self.subject_type,
            "model_code": self.model_code,
            "model_version": self.model_version,
            "as_of": self.as_of.isoformat(),
            "score": self.score,
            "grade": self.grade,
            "grade_label": self.grade_label,
            "indicators": [
                {
                    "code": i.code,
                    "name": i.name,
                    "dimension": i.dimension,
                    "value": i.value,
                    "points": i.points,
                }
                for i in self.indicators
            ],
            "reasons": [{"code": r.code, "text": r.text, "points": r.points} for r in self.reasons],
            "caps": [
                {
                    "rule": c.rule,
                    "text": c.text,
                    "capped_grade": c.capped_grade,
                    "uncapped_grade": c.uncapped_grade,
                    "lift": c.lift,
                }
                for c in self.caps
            ],
            "industry": self.industry,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SubjectResult:
        """The inverse of to_json."""
        return cls(
            subject_id=d["subject_id"],
            subject_type=d["subject_type"],
            model_code=d["model_code"],
            model_version=d["model_version"],
            as_of=date.fromisoformat(d["as_of"]),
            score=int(d["score"]),
            grade=d["grade"],
            grade_label=d.get("grade_label") or GRADE_LABELS[d["grade"]],
            indicators=tuple(IndicatorValue(**i) for i in d["indicators"]),
            reasons=tuple(Reason(**r) for r in d["reasons"]),
            caps=tuple(Cap(**c) for c in d["caps"]),
            industry=d.get("industry"),
        )
