"""公共信用综合评价 answers (web/evaluation_api.py): a subject's current result with its reasons,
caps and grade history, and the evaluation runs (评价批次).

Built from evaluation/views.py (`current_evaluation`, `public_result`, `_history`),
evaluation/result.py (`SubjectResult.to_json`: the stored result), evaluation/scoring.py
(`_industry`), evaluation/runs.py (`_run_view`, `run_evaluation`) and rights/objections.py
(`marks_for`: the objection mark).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Day, Instant
from citycredit.web.schemas.rights import ObjectionMark

SUBJECT = "S7d2kq4xw5m3n6p8r1t9v"
RUN = "evrk4w7n2q5t8x3z6b9d1"
AT = "2026-11-25T02:00:00+00:00"
Grade = Literal["A", "B", "C", "D"]
GradeLabel = Literal["优", "良", "中", "差"]


class EvaluatedSubject(Answer):
    """Who the result is about (a person's name masked)."""

    subject_id: str = Field(description="The subject.")
    name: str = Field(description="Name (natural persons and 农户: surname only).")
    subject_type: str = Field(description="`enterprise`, `natural_person` …")
    subject_type_label: str = Field(description="The type in Chinese.")


class IndicatorLine(Answer):
    """One indicator's value and points; in the public view, one summed line `non_public`."""

    code: str = Field(description="Indicator code, or `non_public` for the summed line.")
    name: str = Field(description="Indicator name.")
    dimension: str | None = Field(description="Its dimension (null for the summed line).")
    value: int | None = Field(description="Its integer value (null for the summed line).")
    points: int = Field(description="Points earned (before dimension limits).")


class ReasonLine(Answer):
    """A reason code in plain Chinese, by impact; limit adjustments last."""

    code: str = Field(
        description="Indicator code, `dimension_limit:<dim>`, `score_limit` or `non_public`."
    )
    text: str = Field(description="The reason, in Chinese.")
    points: int = Field(description="Signed points.")


class CapLine(Answer):
    """A hard rule that held the grade down, and what would lift it."""

    rule: str = Field(description="The hard rule's code.")
    text: str = Field(description="The rule in words (public view: generic when non-public).")
    capped_grade: Grade = Field(description="The grade after the rule.")
    uncapped_grade: Grade = Field(description="The grade the score alone gives.")
    lift: str = Field(description="What would lift the cap.")


class IndustryEvaluation(Answer):
    """A 行业信用评价 result the model fuses."""

    industry: str = Field(description="The industry evaluation.")
    grade: str = Field(description="Its grade on the industry's scale.")
    mode: str = Field(description="`indicator`, `override` or `reference`.")


class IndustryOverride(Answer):
    """The industry grade that decided the grade directly (直接使用)."""

    industry: str = Field(description="The industry evaluation.")
    grade: str = Field(description="Its grade.")


class IndustryDetail(Answer):
    """Authorised view: the industry evaluations fused and which one decided the grade."""

    evaluations: list[IndustryEvaluation] = Field(description="Every one in force.")
    override: IndustryOverride | None = Field(description="The one that decided, if any.")
    basis: str = Field(description="The model's basis for fusing them.")


class IndustryPublic(Answer):
    """Public view: only that an industry evaluation decided the grade (its detail is
    authorised-only)."""

    override: bool = Field(description="Always true.")
    note: str = Field(description="Explanation, in Chinese.")


class EvaluationResult(Answer):
    """The current stored result (SubjectResult) with where it came from."""

    subject_id: str = Field(description="The subject.")
    subject_type: str = Field(description="Its type when evaluated.")
    model_code: str = Field(description="Evaluation model code.")
    model_version: str = Field(description="Model version (e.g. `2026.3`).")
    as_of: Day = Field(description="评价基准日.")
    score: int = Field(description="Score.")
    grade: Grade = Field(description="A 优 / B 良 / C 中 / D 差.")
    grade_label: GradeLabel | None = Field(
        default=None, description="The grade in Chinese (absent in the oldest results)."
    )
    indicators: list[IndicatorLine] = Field(description="Indicators in the model's order.")
    reasons: list[ReasonLine] = Field(description="By impact, limit adjustments last.")
    caps: list[CapLine] = Field(description="Hard rules that capped the grade.")
    industry: IndustryDetail | IndustryPublic | None = Field(
        description="行业信用评价: the fusion (authorised view), or only whether it decided the "
        "grade (public view); null when none applies."
    )
    result_id: int = Field(description="The stored result.")
    engine: str = Field(description="`db`, `duckdb`, `spark` or `reference`.")
    run_id: str | None = Field(description="The run that stored it (null: an event's re-score).")
    trigger: str = Field(description="`run`, or what triggered a re-evaluation.")
    evaluated_at: Instant = Field(description="When it was stored.")


class GradeHistoryEntry(Answer):
    """One stored result of the subject, newest first."""

    result_id: int = Field(description="The stored result.")
    as_of: Day = Field(description="评价基准日.")
    grade: Grade = Field(description="Grade.")
    grade_label: GradeLabel = Field(description="The grade in Chinese.")
    score: int = Field(description="Score.")
    model_code: str = Field(description="Model code.")
    model_version: str = Field(description="Model version.")
    engine: str = Field(description="Engine.")
    run_id: str | None = Field(description="The run, if any.")
    trigger: str = Field(description="What stored it.")
    evaluated_at: Instant = Field(description="When.")
    grade_changed: bool = Field(description="The grade differs from the result before it.")


_RESULT: JsonDict = {
    "subject_id": SUBJECT,
    "subject_type": "enterprise",
    "model_code": "enterprise",
    "model_version": "2026.3",
    "as_of": "2026-11-25",
    "score": 760,
    "grade": "B",
    "grade_label": "良",
    "indicators": [
        {
            "code": "registered_years",
            "name": "成立年限",
            "dimension": "basic",
            "value": 6,
            "points": 20,
        },
        {
            "code": "penalty_general_in_force",
            "name": "公示期内的一般失信行政处罚",
            "dimension": "compliance",
            "value": 1,
            "points": -40,
        },
        {
            "code": "non_public",
            "name": "非公开信息指标（1 项）",
            "dimension": None,
            "value": None,
            "points": -30,
        },
    ],
    "reasons": [
        {
            "code": "penalty_general_in_force",
            "text": "公示期内有一般失信行政处罚 1 次（-40分）",
            "points": -40,
        },
        {
            "code": "non_public",
            "text": "依据非公开信息的指标合计（-30分），明细仅本人及经授权的工作人员可查",
            "points": -30,
        },
        {"code": "registered_years", "text": "成立 6 年（+20分）", "points": 20},
    ],
    "caps": [],
    "industry": None,
    "result_id": 12,
    "engine": "db",
    "run_id": RUN,
    "trigger": "run",
    "evaluated_at": AT,
}


SUBJECT_EVALUATION_EXAMPLE: JsonDict = {
    "objection_mark": None,
    "subject": {
        "subject_id": SUBJECT,
        "name": "榆阳区评价商贸有限公司",
        "subject_type": "enterprise",
        "subject_type_label": "企业",
    },
    "view": "public",
    "evaluated": True,
    "note": None,
    "current": _RESULT,
    "history": [
        {
            "result_id": 12,
            "as_of": "2026-11-25",
            "grade": "B",
            "grade_label": "良",
            "score": 760,
            "model_code": "enterprise",
            "model_version": "2026.3",
            "engine": "db",
            "run_id": RUN,
            "trigger": "run",
            "evaluated_at": AT,
            "grade_changed": False,
        }
    ],
    "explanation": "等级由基础分加各指标得分（按维度上下限）得出，再按模型的等级线"
    "划分；理由按对得分的影响从大到小排列。",
}


class SubjectEvaluation(Answer):
    """A subject's current result, its grade history and how the grade is made."""

    objection_mark: ObjectionMark | None = Field(
        description="An objection against the result (PIPL art. 24 review), if any."
    )
    subject: EvaluatedSubject = Field(description="Who.")
    view: Literal["public", "authorised", "own"] = Field(
        description="`public`: non-public indicators summed into one line; `authorised`: every "
        "detail (logged); `own`: the subject's own account."
    )
    evaluated: bool = Field(description="Whether there is a current result.")
    note: str | None = Field(description="Without a result: 尚无结果 or 未评价.")
    current: EvaluationResult | None = Field(description="The current result.")
    history: list[GradeHistoryEntry] = Field(description="Stored results, newest first.")
    explanation: str = Field(description="How the grade is made, in Chinese.")

    model_config = ConfigDict(json_schema_extra={"examples": [SUBJECT_EVALUATION_EXAMPLE]})


class RunModel(Answer):
    """A model a run used, and the subject types it evaluated."""

    code: str = Field(description="Model code.")
    version: str = Field(description="Model version.")
    subject_types: list[str] = Field(description="Subject types it evaluates.")


_RUN: JsonDict = {
    "run_id": RUN,
    "engine": "duckdb",
    "as_of": "2026-11-25",
    "status": "completed",
    "models": [
        {"code": "enterprise", "version": "2026.3", "subject_types": ["enterprise"]},
    ],
    "counts": {"A": 120, "B": 860, "C": 95, "D": 12},
    "evaluated": 1087,
    "skipped": 0,
    "source": {
        "parquet": None,
        "exported": True,
        "snapshot_at": AT,
        "format": "citycredit-facts/1",
        "rows": {"fact_subjects": 1087, "fact_records": 5230},
        "current_kept": 0,
        "cleared": 0,
    },
    "error": None,
    "started_by": "信用办（admin）",
    "started_at": AT,
    "finished_at": "2026-11-25T02:03:10+00:00",
}


class EvaluationRun(Answer):
    """An evaluation run (评价批次): one engine over every subject on one as_of."""

    run_id: str = Field(description="The run (`evr…`).")
    engine: Literal["db", "duckdb", "spark"] = Field(description="The engine.")
    as_of: Day = Field(description="评价基准日.")
    status: Literal["running", "completed", "failed"] = Field(description="Its outcome.")
    models: list[RunModel] = Field(description="Models in force on as_of.")
    counts: dict[str, int] = Field(description="Results per grade (A/B/C/D).")
    evaluated: int = Field(description="Results stored.")
    skipped: int = Field(description="Results for subjects no longer in the registry.")
    source: dict[str, Any] = Field(
        description="What it read: `database` and `snapshot_at` (db), or the Parquet export "
        "(`parquet`, `exported`, `snapshot_at`, `format`, `rows`; spark: `spark_master`); when "
        "completed, `current_kept` and `cleared`."
    )
    error: str | None = Field(description="A failed run: why.")
    started_by: str = Field(description="Who started it.")
    started_at: Instant = Field(description="When it started.")
    finished_at: Instant | None = Field(description="When it finished (null: running).")

    model_config = ConfigDict(json_schema_extra={"examples": [_RUN]})


class EvaluationRunList(Answer):
    """Evaluation runs, newest first."""

    runs: list[EvaluationRun] = Field(description="Newest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"runs": [_RUN]}]})
