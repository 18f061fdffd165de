"""The compiled SQL: one pass, bound parameters, and the reference result on random facts.

Random facts sitting on every boundary (window starts, as_of, publication ends, repair days,
list periods, grade scales) are scored by the reference scorer and by the compiled query on
in-memory DuckDB and SQLite; the results must be identical.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citycredit.analytics.export import PARQUET_FACT_COLUMNS
from citycredit.evaluation.compiler import (
    DIALECTS,
    TYPED_FACTS,
    compile_model,
    fact_classes,
    output_columns,
)
from citycredit.evaluation.facts import FACT_COLUMNS, MEMBERSHIP_COLUMNS, SUBJECT_COLUMNS
from citycredit.evaluation.model import EvaluationModel, load_models
from citycredit.evaluation.reference import (
    Fact,
    ListFact,
    SubjectFact,
    evaluate_reference,
    evaluate_subject,
)
from citycredit.evaluation.result import SubjectResult
from citycredit.evaluation.scoring import result_from_row

AS_OF = date(2026, 6, 15)
MODELS = load_models()
CURRENT = MODELS.current()


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize("model", CURRENT, ids=lambda m: m.code)
def test_compiled_sql_is_one_pass_with_bound_parameters(
    model: EvaluationModel, dialect: str
) -> None:
    compiled = compile_model(model, dialect)
    sql = compiled.sql
    sqlglot.parse_one(sql, read=DIALECTS[dialect][0])  # the dialect's parser accepts it
    prefix = DIALECTS[dialect][1]
    names = set(re.findall(rf"{re.escape(prefix)}([a-z_0-9]+)", sql))
    assert names == set(compiled.params(AS_OF)), names ^ set(compiled.params(AS_OF))
    assert not re.search(r"\d{4}-\d{2}-\d{2}", sql)  # no date is formatted into the text
    assert sql.count("FROM facts") == 1 and sql.count("GROUP BY f.subject_id") == 1
    assert sql.count("FROM fact_memberships") <= 1 and sql.count("FROM fact_subjects") == 1
    # Facts of other subject types: a filter on the export's column, or a join on the database.
    assert ("JOIN fact_subjects" not in sql) == (dialect in TYPED_FACTS)
    assert ("f.subject_type IN" in sql or "f.subject_type =" in sql) == (dialect in TYPED_FACTS)
    # No indicator's condition is evaluated per fact: every aggregate reads the class table.
    aggregates = sql[sql.index("SELECT f.subject_id, ") + 21 : sql.index(" FROM facts AS f")]
    assert re.fullmatch(r"(?:(?:COUNT|MAX)\(c\.(\w+)\) AS \1(?:, |$))+", aggregates), aggregates
    assert compile_model(model, dialect) is compiled  # compiled once per dialect


@pytest.mark.parametrize("model", CURRENT, ids=lambda m: m.code)
def test_fact_classes_are_few_distinct_and_each_adds_something(model: EvaluationModel) -> None:
    fc = fact_classes(model)
    assert fc is not None
    numbers = [n for n, _ in fc.rows]
    assert len(numbers) == len(set(numbers)) and 0 < len(numbers) < 500
    assert all(any(a is not None for a in adds) for _, adds in fc.rows)
    # Items' blocks of class numbers do not overlap; each class lies in one item's block, and
    # only indicators reading that item gain from it.
    blocks = []
    for item, ic in fc.items.items():
        size = 1
        for _, multiplier, domain in ic.dims:
            assert multiplier == size  # mixed radix: the first dimension varies fastest
            size *= len(domain) + 1
        blocks.append((ic.first, ic.first + size, item))
    blocks.sort()
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
    fused = (model.fusion.item,) if model.fusion is not None else ()
    for n, adds in fc.rows:
        item = next(item for lo, hi, item in blocks if lo <= n < hi)
        for r, a in zip(fc.readers, adds, strict=True):
            if a is not None:
                reads = r.indicator.items if r.indicator is not None else fused
                assert item in reads, (n, item, r.column)
    if model is MODELS.current_for("enterprise"):
        assert [r.column for r in fc.readers][-2:] == ["x_override", "x_reference"]
        dims = {item: {d: dom for d, _, dom in ic.dims} for item, ic in fc.items.items()}
        assert dims["penalty"] == {
            "in_force": (True,),
            "window": (1095,),
            "severity": ("serious", "general"),
        }
        assert dims["industry_evaluation"]["value"] == ("A", "B", "C", "D")
        assert len(dims["industry_evaluation"]["category"]) == 11
        assert dims["honour"] == {"window": (1826,), "value": ("国家级", "省级", "市级", "县级")}


def test_parameters_are_dates_computed_in_python() -> None:
    model = MODELS.current_for("enterprise")
    assert model is not None
    params = compile_model(model, "duckdb").params(AS_OF)
    assert params["as_of"] == AS_OF
    assert params["since_1095"] == AS_OF - timedelta(days=1095)
    assert params["reg_1"] == date(2025, 6, 15) and len([k for k in params if "reg_" in k]) == 30


# --- random facts on every boundary ---------------------------------------------------------

DAYS = sorted(
    {AS_OF + timedelta(days=d) for d in (-1827, -1826, -1096, -1095, -366, -365, -30, -1, 0, 1)}
)
END_DAYS = [None, AS_OF - timedelta(days=1), AS_OF, AS_OF + timedelta(days=1)]
ITEMS = (
    "penalty",
    "licence",
    "abnormal_operation",
    "tax_credit_grade",
    "industry_evaluation",
    "commitment",
    "contract_performance",
    "honour",
    "social_insurance_arrears",
    "utility_arrears",
    "red_list",
)
VALUES = (None, "A", "B", "M", "C", "D", "未履约", "已履约", "违约", "国家级", "省级", "市级", "X")
CATEGORIES = (
    None,
    "交通运输",
    "安全生产",
    "生态环境",
    "工程建设",
    "社会组织",
    "农业农村",
    "教育培训",
)
LIST_TYPES = {
    "judgment_defaulter": "serious_dishonesty",
    "market_supervision_serious": "serious_dishonesty",
    "wage_arrears": "serious_dishonesty",
    "red_list": "red_list",
    "abnormal_operation": "other",
}
SUBJECT_IDS = ("s1", "s2", "s3", "s4")
# Four models cover every feature: fusion by override, indicator and reference (enterprise),
# published_only (farm_household), no fusion and no years (government_body), smaller weights;
# every version of them that is not retired (2026.1 and 2026.2: a `values` filter on licences).
FUZZED = tuple(
    m
    for m in MODELS
    if not m.retired
    and m.code in ("enterprise", "farm_household", "government_body", "individual_business")
)
TYPES = tuple(dict.fromkeys(t for m in FUZZED for t in m.subject_types))
IN_FORCE = {(m.code, m.version) for m in MODELS.current(AS_OF)}

facts_st = st.builds(
    Fact,
    subject_id=st.sampled_from(SUBJECT_IDS),
    item_code=st.sampled_from(ITEMS),
    decision_date=st.sampled_from(DAYS),
    severity=st.sampled_from((None, "minor", "general", "serious")),
    publication_end=st.sampled_from(END_DAYS),
    published=st.sampled_from((0, 1)),
    repaired_on=st.sampled_from(END_DAYS),
    value=st.sampled_from(VALUES),
    category=st.sampled_from(CATEGORIES),
)
lists_st = st.builds(
    lambda sid, lt, start, exp, end: ListFact(sid, lt, LIST_TYPES[lt], start, exp, end),
    st.sampled_from(SUBJECT_IDS),
    st.sampled_from(list(LIST_TYPES)),
    st.sampled_from(DAYS),
    st.sampled_from(END_DAYS),
    st.sampled_from(END_DAYS),
)
subjects_st = st.tuples(
    st.lists(st.sampled_from(TYPES), min_size=4, max_size=4),
    st.lists(
        st.sampled_from([None, *DAYS, date(2021, 6, 15), date(1990, 2, 28)]), min_size=4, max_size=4
    ),
)


def _rows(objs: list[Any], columns: dict[str, str]) -> dict[str, list[Any]]:
    return {c: [getattr(o, c) for o in objs] for c in columns}


def _arrow(objs: list[Any], columns: dict[str, str]) -> pa.Table:
    kinds = {"string": pa.string(), "date": pa.date32(), "int32": pa.int32()}
    data = _rows(objs, columns)
    return pa.table({c: pa.array(data[c], type=kinds[k]) for c, k in columns.items()})


class _Typed:
    """A fact with its subject's type, like a row of the export's facts.parquet."""

    def __init__(self, fact: Fact, subject_type: str) -> None:
        self.fact, self.subject_type = fact, subject_type

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fact, name)


def _duckdb(
    subjects: list[SubjectFact], facts: list[Fact], lists: list[ListFact]
) -> list[SubjectResult]:
    con = duckdb.connect()
    # As the Parquet export writes them: each facts row carries its subject's type.
    types = {s.subject_id: s.subject_type for s in subjects}
    typed = [_Typed(f, types[f.subject_id]) for f in facts]
    tables = {
        "fact_subjects": _arrow(subjects, dict(SUBJECT_COLUMNS)),
        "facts": _arrow(typed, dict(PARQUET_FACT_COLUMNS)),
        "fact_memberships": _arrow(lists, dict(MEMBERSHIP_COLUMNS)),
    }
    for name, table in tables.items():
        con.from_arrow(table).create_view(name)
    out = []
    for model in FUZZED:
        c = compile_model(model, "duckdb")
        for row in con.sql(c.sql, params=c.params(AS_OF)).to_arrow_table().to_pylist():
            out.append(result_from_row(model, AS_OF, row))
    con.close()
    return out


def _sqlite(
    subjects: list[SubjectFact], facts: list[Fact], lists: list[ListFact]
) -> list[SubjectResult]:
    con = sqlite3.connect(":memory:")
    for name, objs, columns in (
        ("fact_subjects", subjects, SUBJECT_COLUMNS),
        ("facts", facts, FACT_COLUMNS),
        ("fact_memberships", lists, MEMBERSHIP_COLUMNS),
    ):
        con.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
        marks = ", ".join("?" for _ in columns)
        rows = [
            tuple(
                v.isoformat() if isinstance(v, date) else v
                for v in (getattr(o, c) for c in columns)
            )
            for o in objs
        ]
        con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    out = []
    for model in FUZZED:
        c = compile_model(model, "sqlite")
        params = {k: v.isoformat() for k, v in c.params(AS_OF).items()}  # as SQLAlchemy binds
        cursor = con.execute(c.sql, params)
        names = [d[0] for d in cursor.description]
        assert names == output_columns(model)
        for row in cursor.fetchall():
            out.append(result_from_row(model, AS_OF, dict(zip(names, row, strict=True))))
    con.close()
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(facts_st, max_size=40),
    st.lists(lists_st, max_size=6),
    subjects_st,
)
def test_compiled_query_equals_reference_on_random_facts(
    facts: list[Fact], lists: list[ListFact], subjects: tuple[list[str], list[date | None]]
) -> None:
    people = [
        SubjectFact(sid, t, reg)
        for sid, t, reg in zip(SUBJECT_IDS, subjects[0], subjects[1], strict=True)
    ]

    def key(r: SubjectResult) -> tuple[str, str, str]:
        return (r.subject_id, r.model_code, r.model_version)

    # Each version on its own (evaluate_reference picks the version in force on as_of).
    reference = sorted(
        (
            evaluate_subject(
                model,
                AS_OF,
                p,
                [f for f in facts if f.subject_id == p.subject_id],
                [m for m in lists if m.subject_id == p.subject_id],
            )
            for model in FUZZED
            for p in people
            if p.subject_type in model.subject_types
        ),
        key=key,
    )
    in_force = sorted(evaluate_reference(MODELS, people, facts, lists, AS_OF), key=key)
    assert in_force == [r for r in reference if (r.model_code, r.model_version) in IN_FORCE]
    assert {r.subject_id for r in reference} == set(SUBJECT_IDS)
    on_duckdb = sorted(_duckdb(people, facts, lists), key=key)
    on_sqlite = sorted(_sqlite(people, facts, lists), key=key)
    assert on_duckdb == reference
    assert on_sqlite == reference
    for r in reference:  # G33: base + every listed line = score, on every engine alike
        base = MODELS.get(r.model_code, r.model_version).base
        assert base + sum(x.points for x in r.reasons) == r.score, r
