"""Points → dimensions → score → grade, industry fusion, hard rules, reasons (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from citycredit.evaluation.model import GRADES, EvaluationModel, HardRule, grade_rank, load_models
from citycredit.evaluation.reference import Fact, ListFact, SubjectFact, evaluate_subject
from citycredit.evaluation.result import SubjectResult
from citycredit.evaluation.scoring import INDUSTRY_BASE, build_result, score_values

AS_OF = date(2026, 6, 15)
MODELS = load_models()
ENTERPRISE = MODELS.current_for("enterprise")
assert ENTERPRISE is not None
RULES = [
    pytest.param(m, r, id=f"{m.code}:{r.code}") for m in MODELS.current() for r in m.hard_rules
]


def zeros(model: EvaluationModel, **values: int) -> dict[str, int]:
    return {i.code: values.get(i.code, 0) for i in model.indicators}


def best_values(model: EvaluationModel) -> dict[str, int]:
    """Values that earn every positive point available (grade A when nothing holds it down)."""
    out = {}
    for i in model.indicators:
        p = i.points
        if p.by_value:
            out[i.code] = i.scale.index(max(p.by_value, key=lambda g: p.by_value[g])) + 1
        elif p.bands:
            out[i.code] = p.bands[-1].min
        elif (p.per or 0) > 0:
            out[i.code] = p.max_count or 1
        else:
            out[i.code] = 0
    return out


@pytest.mark.parametrize(("model", "rule"), RULES)
def test_each_hard_rule_caps_the_grade(model: EvaluationModel, rule: HardRule) -> None:
    values = best_values(model)
    free = score_values(model, values)
    assert free.grade == "A", (model.key, free.score)
    values[rule.indicator] = rule.gte
    held = build_result(model, "s", model.subject_types[0], AS_OF, values)
    assert grade_rank(held.grade) >= grade_rank(rule.grade)
    cap = next(c for c in held.caps if c.rule == rule.code)
    assert cap.capped_grade == rule.grade and cap.text == rule.text
    assert rule.lift in cap.lift and "解除后等级为" in cap.lift
    values[rule.indicator] = rule.gte - 1
    assert rule.code not in {c.rule for c in build_result(model, "s", "x", AS_OF, values).caps}


def test_serious_list_means_d_and_serious_penalty_at_most_c() -> None:
    m = ENTERPRISE
    good = {"honours_high_5y": 2, "registered_years": 20, "tax_grade": 1, "red_list": 1}
    listed = score_values(m, zeros(m, serious_listing=1, **good))
    assert listed.grade == "D" and listed.score_grade == "B"  # 600 + 180 − 150
    penalised = score_values(
        m,
        zeros(
            m,
            penalty_serious_in_force=1,
            honours_high_5y=2,
            registered_years=20,
            tax_grade=1,
            red_list=1,
        ),
    )
    assert penalised.score_grade == "A" and penalised.grade == "C"
    # the cap only limits: a worse score keeps its worse grade and the rule does not bind
    bad = score_values(m, zeros(m, penalty_serious_in_force=3, penalties_3y=6, tax_grade=5))
    assert bad.grade == "D" and bad.binding == ()


def test_two_binding_rules_each_say_the_other_still_holds() -> None:
    m = ENTERPRISE
    values = {**best_values(m), "serious_listing": 1, "judgment_defaulter": 1}
    r = build_result(m, "s", "enterprise", AS_OF, values)  # score 560: C without the rules
    assert r.grade == "D" and {c.rule for c in r.caps} == {"serious_list_d", "judgment_defaulter_d"}
    assert all("其他限制仍然有效" in c.lift and "D（差）" in c.lift for c in r.caps)


def test_dimension_caps_and_score_bounds() -> None:
    m = ENTERPRISE
    worst = zeros(
        m,
        penalty_serious_in_force=3,
        penalty_general_in_force=5,
        penalties_3y=6,
        serious_listing=2,
        judgment_defaulter=1,
        abnormal_operation=1,
    )
    s = score_values(m, worst)
    raw = sum(s.points[c] for c in worst if m.indicator(c).dimension == "compliance")
    assert raw < -500 and s.dimensions["compliance"] == m.dimension("compliance").min
    assert s.score == m.base - 500
    honours = zeros(m, honours_high_5y=2, honours_local_5y=2, red_list=1)
    assert score_values(m, honours).dimensions["honours"] == 100  # 60 + 20 + 40, capped


@pytest.mark.parametrize("model", MODELS.current(), ids=lambda m: m.code)
def test_grade_thresholds_are_inclusive(model: EvaluationModel) -> None:
    for band in model.grades:
        assert model.grade_for(band.min) == band.grade
        if band.grade != "A":
            better = GRADES[GRADES.index(band.grade) - 1]
            above = next(b for b in model.grades if b.grade == better)
            assert model.grade_for(above.min - 1) == band.grade
    assert model.grade_for(model.min_score) == "D"
    nothing = score_values(model, zeros(model))
    assert nothing.score == model.base and nothing.grade == "B"  # no information: 良


def test_industry_override_replaces_the_grade_but_not_the_caps() -> None:
    m = ENTERPRISE
    assert m.fusion is not None
    safety = m.fusion.index("安全生产")
    d_safety = 4 * INDUSTRY_BASE + safety
    s = score_values(m, zeros(m, registered_years=20), override=d_safety)
    assert s.score_grade == "B" and s.fused_grade == "D" and s.grade == "D"
    a_safety = 1 * INDUSTRY_BASE + safety
    capped = score_values(m, zeros(m, penalty_serious_in_force=1), override=a_safety)
    assert capped.fused_grade == "A" and capped.grade == "C"


def test_industry_fusion_modes_on_the_reference_scorer() -> None:
    m = ENTERPRISE
    subject = SubjectFact("s1", "enterprise", date(2015, 1, 1))
    day = AS_OF - timedelta(days=30)

    def ev(industry: str, grade: str) -> Fact:
        return Fact("s1", "industry_evaluation", day, value=grade, category=industry)

    base = evaluate_subject(m, AS_OF, subject)
    transport = evaluate_subject(m, AS_OF, subject, [ev("交通运输", "D")])
    assert transport.value("industry_transport") == 4
    assert transport.score == base.score - 60  # 引入指标变量
    reference = evaluate_subject(m, AS_OF, subject, [ev("文化旅游", "D")])
    assert (reference.score, reference.grade) == (base.score, base.grade)  # 参考使用
    assert reference.industry is not None
    assert reference.industry["evaluations"] == [
        {"industry": "文化旅游", "grade": "D", "mode": "reference"}
    ]
    override = evaluate_subject(m, AS_OF, subject, [ev("安全生产", "C"), ev("文化旅游", "A")])
    assert override.score == base.score and override.grade == "C"  # 直接使用
    assert override.industry is not None and override.industry["override"] == {
        "industry": "安全生产",
        "grade": "C",
    }
    assert base.industry is None


def test_reasons_are_ordered_by_impact_in_plain_chinese() -> None:
    m = ENTERPRISE
    subject = SubjectFact("s1", "enterprise", date(2012, 1, 1))
    facts = [
        Fact("s1", "penalty", AS_OF - timedelta(days=40), severity="general"),
        Fact("s1", "tax_credit_grade", AS_OF - timedelta(days=40), value="A"),
        Fact("s1", "utility_arrears", AS_OF - timedelta(days=40)),
        Fact("s1", "honour", AS_OF - timedelta(days=40), value="省级"),
    ]
    lists = [ListFact("s1", "red_list", "red_list", AS_OF - timedelta(days=90))]
    r = evaluate_subject(m, AS_OF, subject, facts, lists)
    impacts = [abs(x.points) for x in r.reasons]
    assert impacts == sorted(impacts, reverse=True) and len(r.reasons) == 7
    assert r.reasons[0].code in ("tax_grade", "red_list")  # ±40, first in model order
    assert [x.code for x in r.reasons[:2]] == ["red_list", "tax_grade"]
    texts = {x.code: x.text for x in r.reasons}
    assert texts["tax_grade"] == "现行纳税信用等级为 A 级（+40分）"
    assert texts["penalty_general_in_force"] == "有 1 条一般失信行政处罚仍在公示期内（-30分）"
    assert texts["registered_years"] == "成立已满 14 年（+30分）"
    assert all(x.points != 0 for x in r.reasons)  # zero-point indicators give no reason
    assert {i.code for i in r.indicators} == {i.code for i in m.indicators}


def test_result_json_round_trip() -> None:
    m = ENTERPRISE
    r = build_result(
        m,
        "s9",
        "enterprise",
        AS_OF,
        zeros(m, serious_listing=1, tax_grade=2, registered_years=7),
        reference=2 * INDUSTRY_BASE + 1,
    )
    data = r.to_json()
    assert data["grade"] == "D" and data["grade_label"] == "差" and data["as_of"] == "2026-06-15"
    assert data["caps"][0]["uncapped_grade"] in GRADES
    assert SubjectResult.from_json(data) == r
    import json

    assert SubjectResult.from_json(json.loads(json.dumps(data, ensure_ascii=False))) == r
