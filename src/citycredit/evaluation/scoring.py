"""From indicator values to a result: points, dimension caps, score, fusion, hard rules, reasons.

Pure integer arithmetic. The compiled SQL does the same arithmetic inside the engines; every
engine's row is re-scored here and must agree (`result_from_row`), so an engine and this module
can never drift apart silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from citycredit.evaluation.model import (
    GRADE_LABELS,
    GRADES,
    EvaluationModel,
    FusionMode,
    HardRule,
    grade_rank,
)
from citycredit.evaluation.result import (
    DIMENSION_LIMIT,
    SCORE_LIMIT,
    Cap,
    IndicatorValue,
    Reason,
    SubjectResult,
)

__all__ = [
    "INDUSTRY_BASE",
    "EngineMismatch",
    "Scored",
    "build_result",
    "clamp",
    "decode_industry",
    "result_from_row",
    "score_values",
]

# An industry grade in force is encoded in one integer: rank * INDUSTRY_BASE + industry index,
# so that MAX() over a subject's evaluations picks the worst grade in one aggregate.
INDUSTRY_BASE = 100


class EngineMismatch(AssertionError):
    """An engine's score or grade differs from the Python scoring of its own values."""


def clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def decode_industry(model: EvaluationModel, encoded: int) -> tuple[str, str] | None:
    """(industry, grade) from the encoded worst industry grade, or None."""
    if not encoded or model.fusion is None:
        return None
    rank, index = divmod(encoded, INDUSTRY_BASE)
    return model.fusion.rules[index - 1].industry, model.fusion.scale[rank - 1]


@dataclass(frozen=True)
class Scored:
    """Every intermediate figure of one subject's evaluation."""

    points: dict[str, int]
    dimensions: dict[str, int]
    score: int
    score_grade: str  # by the thresholds
    fused_grade: str  # after an industry override (直接使用)
    grade: str  # after hard rules
    binding: tuple[HardRule, ...]  # hard rules that hold the grade below fused_grade
    sums: dict[str, int]  # each dimension's points before the dimension's limits
    total: int  # base + the clamped dimensions, before the score's limits


def score_values(model: EvaluationModel, values: Mapping[str, int], override: int = 0) -> Scored:
    """Score indicator values; `override` is the encoded worst override-industry grade."""
    points = {i.code: i.points.for_value(values[i.code], i.scale) for i in model.indicators}
    sums = {
        d.code: sum(points[i.code] for i in model.indicators if i.dimension == d.code)
        for d in model.dimensions
    }
    dims = {d.code: clamp(sums[d.code], d.min, d.max) for d in model.dimensions}
    total = model.base + sum(dims.values())
    score = clamp(total, model.min_score, model.max_score)
    score_grade = model.grade_for(score)
    fused = decode_industry(model, override)
    fused_grade = fused[1] if fused is not None else score_grade
    rank = grade_rank(fused_grade)
    holding = [r for r in model.hard_rules if values[r.indicator] >= r.gte]
    final = max([rank, *(grade_rank(r.grade) for r in holding)])
    binding = tuple(r for r in holding if grade_rank(r.grade) > rank)
    return Scored(
        points, dims, score, score_grade, fused_grade, GRADES[final - 1], binding, sums, total
    )


def _caps(
    model: EvaluationModel, values: Mapping[str, int], override: int, scored: Scored
) -> tuple[Cap, ...]:
    """Each binding rule, and the grade once it is lifted.

    Lifting a rule ends what its indicator counts (the listing ends, the publication ends), so
    the grade after it is that of a re-scoring without the indicator's points; the other rules
    still apply.
    """
    caps = []
    for rule in scored.binding:
        lifted = score_values(model, {**values, rule.indicator: 0}, override)
        grade = lifted.grade
        lift = f"{rule.lift}；解除后等级为 {grade}（{GRADE_LABELS[grade]}）"
        if lifted.binding:
            lift += "（其他限制仍然有效）"
        caps.append(Cap(rule.code, rule.text, rule.grade, scored.fused_grade, lift))
    return tuple(caps)


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def _limits(model: EvaluationModel, scored: Scored) -> tuple[Reason, ...]:
    """One line per limit that changed the sum: a dimension's [min, max], then the score's.

    With them, base + the points of every reason = score (G33: the contributions shown add up).
    """
    out = []
    for d in model.dimensions:
        raw, kept = scored.sums[d.code], scored.dimensions[d.code]
        if raw == kept:
            continue
        bound = "上限" if raw > d.max else "下限"
        adjust = kept - raw
        text = (
            f"维度{bound}调整：{d.name}维度各指标合计 {_signed(raw)} 分，"
            f"按本维度{bound} {_signed(kept)} 分计（{_signed(adjust)}分）"
        )
        out.append(Reason(f"{DIMENSION_LIMIT}:{d.code}", text, adjust))
    if scored.total != scored.score:
        bound = "上限" if scored.total > model.max_score else "下限"
        adjust = scored.score - scored.total
        text = (
            f"总分{bound}调整：基础分与各维度合计 {scored.total} 分，"
            f"按总分{bound} {scored.score} 分计（{_signed(adjust)}分）"
        )
        out.append(Reason(SCORE_LIMIT, text, adjust))
    return tuple(out)


def _reasons(
    model: EvaluationModel, values: Mapping[str, int], points: Mapping[str, int]
) -> tuple[Reason, ...]:
    order = {i.code: n for n, i in enumerate(model.indicators)}
    out = []
    for ind in model.indicators:
        p = points[ind.code]
        if p == 0:
            continue
        signed = _signed(p)
        text = ind.reason.format(value=ind.display(values[ind.code]), points=signed)
        out.append(Reason(ind.code, f"{text}（{signed}分）", p))
    out.sort(key=lambda r: (-abs(r.points), order[r.code]))
    return tuple(out)


def _industry(
    model: EvaluationModel, values: Mapping[str, int], override: int, reference: int
) -> dict[str, Any] | None:
    if model.fusion is None:
        return None
    evaluations: list[dict[str, Any]] = []
    for rule in model.fusion.rules:
        if rule.mode is FusionMode.indicator and values.get(rule.code, 0) > 0:
            grade = model.fusion.scale[values[rule.code] - 1]
            evaluations.append({"industry": rule.industry, "grade": grade, "mode": rule.mode.value})
    for mode, encoded in ((FusionMode.override, override), (FusionMode.reference, reference)):
        decoded = decode_industry(model, encoded)
        if decoded is not None:
            evaluations.append({"industry": decoded[0], "grade": decoded[1], "mode": mode.value})
    if not evaluations:
        return None
    applied = decode_industry(model, override)
    return {
        "evaluations": evaluations,
        "override": (
            {"industry": applied[0], "grade": applied[1]} if applied is not None else None
        ),
        "basis": model.fusion.basis,
    }


def build_result(
    model: EvaluationModel,
    subject_id: str,
    subject_type: str,
    as_of: date,
    values: Mapping[str, int],
    override: int = 0,
    reference: int = 0,
) -> SubjectResult:
    """A SubjectResult from indicator values (the reference scorer and every engine end here)."""
    scored = score_values(model, values, override)
    return SubjectResult(
        subject_id=subject_id,
        subject_type=subject_type,
        model_code=model.code,
        model_version=model.version,
        as_of=as_of,
        score=scored.score,
        grade=scored.grade,
        grade_label=GRADE_LABELS[scored.grade],
        indicators=tuple(
            IndicatorValue(i.code, i.name, i.dimension, values[i.code], scored.points[i.code])
            for i in model.indicators
        ),
        reasons=_reasons(model, values, scored.points) + _limits(model, scored),
        caps=_caps(model, values, override, scored),
        industry=_industry(model, values, override, reference),
    )


def result_from_row(model: EvaluationModel, as_of: date, row: Mapping[str, Any]) -> SubjectResult:
    """A result from one engine row (v_*, p_*, score, grade_rank …), checked against Python."""
    values = {i.code: int(row[f"v_{i.code}"]) for i in model.indicators}
    result = build_result(
        model,
        str(row["subject_id"]),
        str(row["subject_type"]),
        as_of,
        values,
        int(row.get("x_override") or 0),
        int(row.get("x_reference") or 0),
    )
    engine = (int(row["score"]), GRADES[int(row["grade_rank"]) - 1])
    engine_points = {i.code: int(row[f"p_{i.code}"]) for i in model.indicators}
    if engine != (result.score, result.grade) or engine_points != {
        i.code: i.points for i in result.indicators
    }:
        raise EngineMismatch(
            f"{model.key} {row['subject_id']}: engine {engine} {engine_points} "
            f"≠ python {(result.score, result.grade)}"
        )
    return result
