"""Explanations that add up (G33), what lifting a cap gives, and 2026.2's 有效 licences (pure).

- Every limit that changed a sum — a dimension's [min, max], the score's [min, max] — is a line
  of the reasons (`dimension_limit:<dim>`, `score_limit`), so base + every line = score; a
  property test checks it on random facts for every model version.
- A cap's "解除后等级" is the grade of a re-scoring without the capping indicator's points.
- Version 2026.2 (from 2026-12-01) counts only licences whose XK_ZT is 有效; 2026.1 is unchanged.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citycredit.analytics.export import PARQUET_FACT_COLUMNS
from citycredit.evaluation.compiler import compile_model
from citycredit.evaluation.facts import MEMBERSHIP_COLUMNS, SUBJECT_COLUMNS, list_kinds
from citycredit.evaluation.model import EvaluationModel, Source, load_models
from citycredit.evaluation.reference import (
    Fact,
    ListFact,
    SubjectFact,
    evaluate_reference,
    evaluate_subject,
)
from citycredit.evaluation.result import DIMENSION_LIMIT, SCORE_LIMIT, SubjectResult
from citycredit.evaluation.scoring import build_result, result_from_row

AS_OF = date(2026, 11, 25)
MODELS = load_models()
VERSIONS = tuple(m for m in MODELS if not m.retired)
OLD = MODELS.get("enterprise", "2026.1")
NEW = MODELS.get("enterprise", "2026.2")
NOBODY = SubjectFact("s1", "enterprise", None)


def zeros(model: EvaluationModel, **values: int) -> dict[str, int]:
    return {i.code: values.get(i.code, 0) for i in model.indicators}


def adds_up(model: EvaluationModel, r: SubjectResult) -> bool:
    return model.base + sum(x.points for x in r.reasons) == r.score


# --- G33: the listed contributions add up to the score -----------------------------------------


def test_a_binding_dimension_limit_is_a_line_of_the_explanation() -> None:
    """The audit's case: score 100, yet base + the listed points was 45."""
    facts = [
        Fact("s1", "penalty", date(2026, k, 1), "serious", publication_end=date(2029, 1, 1))
        for k in (1, 2, 3)
    ]
    lists = [
        ListFact("s1", "market_supervision_serious", "serious_dishonesty", date(2026, 1, 1)),
        ListFact("s1", "judgment_defaulter", "serious_dishonesty", date(2026, 1, 1)),
    ]
    r = evaluate_subject(OLD, AS_OF, NOBODY, facts, lists)
    assert r.score == 100 and adds_up(OLD, r)
    line = r.reasons[-1]
    assert (line.code, line.points) == (f"{DIMENSION_LIMIT}:compliance", 55) and line.adjustment
    assert (
        line.text == "维度下限调整：遵纪守法维度各指标合计 -555 分，按本维度下限 -500 分计（+55分）"
    )
    assert not any(x.adjustment for x in r.reasons[:-1])  # indicator lines first, by impact


def test_an_upper_dimension_limit_and_the_score_limit() -> None:
    honours = zeros(OLD, honours_high_5y=2, honours_local_5y=2, red_list=1)
    r = build_result(OLD, "s1", "enterprise", AS_OF, honours)
    assert (r.score, r.reasons[-1].points) == (700, -20) and adds_up(OLD, r)
    assert r.reasons[-1].text == (
        "维度上限调整：守信激励与荣誉维度各指标合计 +120 分，按本维度上限 +100 分计（-20分）"
    )
    # Every dimension at its minimum: 600 − 860 = −260, and the score's minimum is 0.
    worst = zeros(
        OLD,
        penalty_serious_in_force=3,
        penalty_general_in_force=5,
        serious_listing=2,
        judgment_defaulter=1,
        commitments_broken_3y=3,
        contract_breaches_3y=3,
        social_insurance_arrears_1y=3,
        tax_grade=5,
        industry_transport=4,
        industry_environment=4,
    )
    r = build_result(OLD, "s1", "enterprise", AS_OF, worst)
    assert r.score == 0 and adds_up(OLD, r)
    codes = [x.code for x in r.reasons if x.adjustment]
    assert codes == [
        f"{DIMENSION_LIMIT}:compliance",
        f"{DIMENSION_LIMIT}:performance",
        f"{DIMENSION_LIMIT}:evaluations",
        SCORE_LIMIT,
    ]
    assert (
        r.reasons[-1].text
        == "总分下限调整：基础分与各维度合计 -260 分，按总分下限 0 分计（+260分）"
    )
    assert SubjectResult.from_json(json.loads(json.dumps(r.to_json()))) == r
    # Nothing bound: no adjustment line.
    plain = build_result(OLD, "s1", "enterprise", AS_OF, zeros(OLD, tax_grade=1))
    assert not any(x.adjustment for x in plain.reasons) and adds_up(OLD, plain)


DAYS = sorted(
    {AS_OF + timedelta(days=d) for d in (-1826, -1095, -365, -200, -30, -1, 0, 1)}
    | {date(2026, 12, 2), date(2027, 1, 1)}
)
KINDS = list_kinds()


@st.composite
def cases(draw: st.DrawFn) -> tuple[EvaluationModel, list[Fact], list[ListFact]]:
    """A model version and facts drawn from its own indicators (so that limits bind often),
    each moved across the boundaries: dates, publication ends, repairs, unpublished."""
    model = draw(st.sampled_from(VERSIONS))
    records = [i for i in model.indicators if i.source is Source.records]
    facts = []
    for _ in range(draw(st.integers(0, 40))):
        i = draw(st.sampled_from(records))
        industries = tuple(r.industry for r in model.fusion.rules) if model.fusion else ()
        facts.append(
            Fact(
                "s1",
                draw(st.sampled_from(i.items)),
                draw(st.sampled_from([None, *DAYS])),
                draw(st.sampled_from(i.severities or (None, "minor", "general", "serious"))),
                draw(st.sampled_from([None, None, *DAYS])),
                draw(st.sampled_from((1, 1, 0))),
                draw(st.sampled_from([None, None, None, *DAYS])),
                draw(st.sampled_from((*i.values, *i.scale) or (None, "X"))),
                draw(st.sampled_from(i.categories or (None, *industries))),
            )
        )
    lists = []
    for i in (i for i in model.indicators if i.source is Source.memberships):
        types = i.list_types or tuple(t for t, k in KINDS.items() if k in i.list_kinds)
        for lt in draw(st.lists(st.sampled_from(types), max_size=2)):
            lists.append(ListFact("s1", lt, KINDS[lt], draw(st.sampled_from(DAYS))))
    return model, facts, lists


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([None, date(1990, 1, 1), date(2020, 6, 1)]))
def test_base_plus_every_line_is_the_score(
    case: tuple[EvaluationModel, list[Fact], list[ListFact]], registered: date | None
) -> None:
    model, facts, lists = case
    subject = SubjectFact("s1", model.subject_types[0], registered)
    r = evaluate_subject(model, AS_OF, subject, facts, lists)
    assert adds_up(model, r), r
    indicator_lines = [x for x in r.reasons if not x.adjustment]
    assert sum(x.points for x in indicator_lines) == sum(i.points for i in r.indicators)
    assert all(x.points != 0 for x in r.reasons)
    firsts = [x.adjustment for x in r.reasons]
    assert firsts == sorted(firsts)  # adjustments after the indicator lines
    assert SubjectResult.from_json(json.loads(json.dumps(r.to_json()))) == r


# --- a cap's lifted grade -----------------------------------------------------------------------


def test_lifting_a_cap_removes_its_indicators_points() -> None:
    """失信被执行人 alone: 450 (D); lifted, the −150 goes too: 600 = B, not C."""
    jd = [ListFact("s1", "judgment_defaulter", "serious_dishonesty", date(2026, 1, 1))]
    r = evaluate_subject(OLD, AS_OF, NOBODY, [], jd)
    (cap,) = r.caps
    assert (r.score, r.grade, cap.uncapped_grade) == (450, "D", "C")
    assert cap.lift.endswith("；解除后等级为 B（良）")
    assert evaluate_subject(OLD, AS_OF, NOBODY, [], []).grade == "B"  # what lifting gives
    # A serious penalty in force: score 660 (B) held at C; its end removes −80: 740 = A.
    good = {"registered_years": 20, "tax_grade": 1, "honours_high_5y": 2}
    held = build_result(
        OLD, "s1", "enterprise", AS_OF, zeros(OLD, penalty_serious_in_force=1, **good)
    )
    (cap,) = held.caps
    assert (held.score, held.grade, cap.uncapped_grade) == (660, "C", "B")
    assert cap.lift.endswith("；解除后等级为 A（优）") and "其他限制" not in cap.lift
    assert build_result(OLD, "s1", "enterprise", AS_OF, zeros(OLD, **good)).grade == "A"


def test_a_lifted_cap_still_names_the_rules_that_remain() -> None:
    good = {"registered_years": 20, "tax_grade": 1, "honours_high_5y": 2, "red_list": 1}
    values = zeros(OLD, penalty_serious_in_force=1, judgment_defaulter=1, **good)
    r = build_result(OLD, "s1", "enterprise", AS_OF, values)  # 600 + 180 − 80 − 150 = 550: C
    assert (r.score, r.grade) == (550, "D")
    (cap,) = r.caps  # the serious penalty's C does not bind a C score
    assert cap.rule == "judgment_defaulter_d"
    # Without the defaulter's −150 the score is 700 (A), which the serious penalty holds at C.
    assert cap.lift.endswith("解除后等级为 C（中）（其他限制仍然有效）")


# --- 2026.2: only 有效 licences --------------------------------------------------------------


LICENCES = [
    Fact("s1", "licence", date(2026, 1, 5), publication_end=date(2030, 1, 1), value=status)
    for status in ("吊销", "注销", "撤销", "无效", "有效")
]


def test_version_2026_2_counts_only_valid_licences() -> None:
    assert NEW.effective == date(2026, 12, 1)
    new = evaluate_subject(NEW, AS_OF, NOBODY, LICENCES)
    assert new.value("licences_in_force") == 1 and new.points("licences_in_force") == 5
    assert [x.text for x in new.reasons] == ["持有有效行政许可 1 项（+5分）"]
    # 2026.1 is kept unchanged: its stored results can still be explained.
    old = evaluate_subject(OLD, AS_OF, NOBODY, LICENCES)
    assert old.value("licences_in_force") == 5 and old.points("licences_in_force") == 10
    # The version in force: 2026.1 until 2026-11-30, 2026.2 from 2026-12-01.
    for day, version in ((date(2026, 11, 30), "2026.1"), (date(2026, 12, 1), "2026.2")):
        (r,) = evaluate_reference(MODELS, [NOBODY], LICENCES, [], day)
        assert r.model_version == version


def test_version_2026_2_compiled_query_agrees() -> None:
    types = {"s1": "enterprise"}
    kinds = {"string": pa.string(), "date": pa.date32(), "int32": pa.int32()}

    def table(objs: list[object], cols: dict[str, str], typed: bool = False) -> pa.Table:
        return pa.table(
            {
                c: pa.array(
                    [types["s1"] if typed and c == "subject_type" else getattr(o, c) for o in objs],
                    type=kinds[k],
                )
                for c, k in cols.items()
            }
        )

    con = duckdb.connect()
    con.from_arrow(table([NOBODY], dict(SUBJECT_COLUMNS))).create_view("fact_subjects")
    con.from_arrow(table(list(LICENCES), dict(PARQUET_FACT_COLUMNS), True)).create_view("facts")
    con.from_arrow(table([], dict(MEMBERSHIP_COLUMNS))).create_view("fact_memberships")
    for model, count in ((NEW, 1), (OLD, 5)):
        c = compile_model(model, "duckdb")
        (row,) = con.sql(c.sql, params=c.params(AS_OF)).to_arrow_table().to_pylist()
        r = result_from_row(model, AS_OF, row)
        assert r == evaluate_subject(model, AS_OF, NOBODY, LICENCES)
        assert r.value("licences_in_force") == count
    con.close()
