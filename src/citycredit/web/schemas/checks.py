"""信用核查 and 信用承诺 answers (web/checks_api.py): a check with its memberships, measures and
信易批 eligibility, the stored check with its feedback, feedback, statistics, commitments.

Built from checks/service.py (`run_check`, `get_check`, `_feedback_view`, `check_stats`),
checks/standing.py (`evaluation.views.grade_view`, `rights.pending.objection_entry` /
`repair_entry`), lists/matching.py (`measure_view`, `basis_view`, `eligibility`) and
commitments/service.py (`_view`). A check is the department's hot path and a stored check is
the JSON a check of any earlier version wrote: their models document the answer
(``responses=``) without validating it per request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Day, Instant
from citycredit.web.schemas.lists import MeasureOut

CHECK_ID = "chkq5v2m7kx3dwn4hyt6rbe"
SUBJECT_ID = "s7kd2mqx4vnbt3hy6wrpe"
CHECKED_AT = "2026-11-25T02:00:00+00:00"

GradeCode = Literal["A", "B", "C", "D"]


class CheckSubject(Answer):
    """The subject checked, a natural person's name masked (周*)."""

    subject_id: str = Field(description="The platform's subject id (`s…`).")
    name: str = Field(description="Organisations in full; natural persons and 农户 as 周*.")
    subject_type: str = Field(
        description="`enterprise`, `individual_business`, `natural_person`, `farm_household` …"
    )


class CheckMatter(Answer):
    """The matter of the 事项清单 (lists/data/matters.yaml) the check was made for."""

    code: str = Field(description="The matter's code, e.g. `food_business_licence`.")
    name: str = Field(description="Its name, e.g. 食品经营许可.")
    department: str = Field(description="The department that handles the matter.")


class CheckGrade(Answer):
    """The subject's current 公共信用综合评价 result (evaluation.views.current_grade)."""

    grade: GradeCode = Field(description="A 优 / B 良 / C 中 / D 差.")
    grade_label: str = Field(description="优, 良, 中 or 差.")
    score: int = Field(description="The model's points.")
    as_of: Day = Field(description="The day the result was computed for.")
    model_code: str = Field(description="The evaluation model, e.g. `enterprise`.")
    model_version: str = Field(description="Its version, e.g. `2026.1`.")


class CheckMembership(Answer):
    """A list membership in force (decided or published, not past its expiry) on the day."""

    list_type: str = Field(description="The list type's code, e.g. `judgment_defaulter`.")
    list_name: str = Field(description="Its name, e.g. 失信被执行人.")
    list_kind: Literal["serious_dishonesty", "red_list", "other"] | None = Field(
        description="严重失信主体名单, 红名单 or another list (null: a list type no longer known)."
    )
    origin: Literal["external", "local"] = Field(
        description="`external` (ingested from its source) or `local` (decided here)."
    )
    status: Literal["decided", "published"] = Field(description="In force: decided or published.")
    decision_no: str | None = Field(description="认定文书号 / 案号.")
    decided_on: Day | None = Field(description="Day of the deciding document.")
    published_on: Day | None = Field(description="Day of publication.")
    expires_on: Day | None = Field(description="First day no longer listed (null: until an exit).")
    reasons: str | None = Field(
        description="Why listed, ID and phone numbers scrubbed, a person's own name masked."
    )


class FastApproval(Answer):
    """信易批 eligibility for the matter, with the rule that decided it."""

    eligible: bool = Field(description="Every condition of the matter's rule holds.")
    rule: str = Field(description="The matter's rule in words.")
    basis: str = Field(description="The rule's basis.")
    reasons: list[str] = Field(description="The failed conditions, else the met ones.")
    modes: list[Literal["notify_commit", "tolerant_acceptance"]] = Field(
        description="Eligible: what the matter grants (告知承诺, 容缺受理); else empty."
    )


class CaseTarget(Answer):
    """What an open objection or repair is about."""

    type: str = Field(description="`record`, `membership` or `evaluation`.")
    id: str = Field(description="The record, membership or subject id.")


class PendingObjection(Answer):
    """An open objection of the subject (rights.pending.objection_entry)."""

    objection_id: str = Field(description="The objection's id (`OBJ…`).")
    target: CaseTarget = Field(description="What it disputes.")
    status: str = Field(description="`submitted` or `accepted`.")
    mark: str = Field(description="异议处理中.")
    filed_on: Day = Field(description="Day filed.")


class PendingRepair(Answer):
    """An open 信用修复 application of the subject (rights.pending.repair_entry)."""

    repair_id: str = Field(description="The repair application's id (`RP…`).")
    target: CaseTarget = Field(description="What is to be repaired.")
    status: str = Field(description="`submitted` or `accepted`.")
    status_label: str = Field(description="The status in Chinese.")
    filed_on: Day = Field(description="Day filed.")


class PendingCases(Answer):
    """Open objections and repairs, each oldest first (rights.pending.pending_cases)."""

    objections: list[PendingObjection] = Field(description="Open objections (异议处理中).")
    repairs: list[PendingRepair] = Field(description="Open repair applications.")
    tracked: bool = Field(description="Always true: open cases are tracked on the platform.")


class CheckFeedback(Answer):
    """What the checking department did with one measure of the check."""

    check_id: str = Field(description="The check.")
    measure_code: str = Field(description="The measure, one of the check's `measures`.")
    applied: bool = Field(description="Whether the department applied it.")
    reason: str = Field(description="Why (required when not applied).")
    recorded_by: str = Field(description="Who recorded it.")
    recorded_at: Instant = Field(description="When.")


_MEASURE: JsonDict = {
    "code": "key_supervision",
    "name": "列为重点监管对象，提高双随机抽查比例和频次",
    "kind": "punishment",
    "group": "management",
    "department": "榆林市市场监督管理局",
    "implementer": "各监管部门",
    "legal_basis": [
        {
            "title": "国办发〔2019〕35号《关于加快推进社会信用体系建设构建以信用为基础的新型监管"
            "机制的指导意见》",
            "kind": "central_policy",
            "article": "信用分级分类监管",
            "text": "国办发〔2019〕35号《关于加快推进社会信用体系建设构建以信用为基础的新型监管"
            "机制的指导意见》信用分级分类监管",
        }
    ],
    "list_basis": [
        {
            "list_type": "judgment_defaulter",
            "title": "《最高人民法院关于公布失信被执行人名单信息的若干规定》（法释〔2017〕7号）",
            "kind": "judicial_interpretation",
            "article": None,
            "text": "《最高人民法院关于公布失信被执行人名单信息的若干规定》（法释〔2017〕7号）",
        }
    ],
    "triggered_by": ["judgment_defaulter", "grade:D"],
    "matter_scope": "all",
    "matters": [],
    "uncertain": True,
}

_CHECK: JsonDict = {
    "check_id": CHECK_ID,
    "subject": {
        "subject_id": SUBJECT_ID,
        "name": "榆阳区失信商贸有限公司",
        "subject_type": "enterprise",
    },
    "matter": {
        "code": "food_business_licence",
        "name": "食品经营许可",
        "department": "榆林市市场监督管理局",
    },
    "department": "榆林市市场监督管理局",
    "as_of": "2026-11-25",
    "checked_at": CHECKED_AT,
    "lists_version": "2026.1",
    "grade": "D",
    "grade_note": None,
    "evaluation": {
        "grade": "D",
        "grade_label": "差",
        "score": 420,
        "as_of": "2026-11-25",
        "model_code": "enterprise",
        "model_version": "2026.1",
    },
    "memberships": [
        {
            "list_type": "judgment_defaulter",
            "list_name": "失信被执行人",
            "list_kind": "serious_dishonesty",
            "origin": "external",
            "status": "published",
            "decision_no": "（2026）陕0802执100号",
            "decided_on": None,
            "published_on": "2026-10-01",
            "expires_on": None,
            "reasons": "有履行能力而拒不履行生效法律文书确定义务",
        }
    ],
    "measures": [_MEASURE],
    "fast_approval": {
        "eligible": False,
        "rule": "信用等级为A、B（尚无评价结果时视为满足等级条件）；不在以下名单中：失信被执行人、"
        "市场监管领域严重违法失信名单；无处理中的异议；近12个月内无违反信用承诺记录",
        "basis": "国办发〔2019〕35号 信用承诺与告知承诺；排除期限为本平台默认值",
        "reasons": ["信用等级 D 不在 A、B 之内", "存在有效名单记录：失信被执行人"],
        "modes": [],
    },
    "commitment_breaches": [],
    "pending": {"objections": [], "repairs": [], "tracked": True},
}

_FEEDBACK: JsonDict = {
    "check_id": CHECK_ID,
    "measure_code": "key_supervision",
    "applied": True,
    "reason": "已列入本年度双随机重点抽查名单",
    "recorded_by": "市场监管核查员（samr1）",
    "recorded_at": "2026-11-25T02:05:00+00:00",
}


class CheckResult(Answer):
    """A 信用核查 of one subject for one matter, as stored and logged in the disclosure log."""

    check_id: str = Field(description="The check's id (`chk…`): feedback and reads use it.")
    subject: CheckSubject = Field(description="The subject checked.")
    matter: CheckMatter = Field(description="The matter checked for.")
    department: str = Field(
        description="The checking department (市信用办: the credit office for itself)."
    )
    as_of: Day = Field(description="The day of the check (Asia/Shanghai).")
    checked_at: Instant = Field(description="When it was made.")
    lists_version: str = Field(description="The version of the lists and measures catalog.")
    grade: GradeCode | None = Field(description="The current grade (null: not evaluated yet).")
    grade_note: str | None = Field(
        description="Without a grade: 尚无公共信用综合评价结果; null with one."
    )
    evaluation: CheckGrade | None = Field(description="The current evaluation result, if any.")
    memberships: list[CheckMembership] = Field(description="List memberships in force.")
    measures: list[MeasureOut] = Field(description="Measures that apply to this matter.")
    fast_approval: FastApproval = Field(description="信易批 eligibility.")
    commitment_breaches: list[Day] = Field(
        description="Days a commitment was found breached, within the longest exclusion window."
    )
    pending: PendingCases = Field(description="Open objections and repairs.")

    model_config = ConfigDict(json_schema_extra={"examples": [_CHECK]})


class StoredCheck(CheckResult):
    """A stored check as it was answered when made, with the feedback recorded since."""

    feedback: list[CheckFeedback] = Field(description="Feedback per measure, oldest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [{**_CHECK, "feedback": [_FEEDBACK]}]})


class CheckFeedbackRecorded(CheckFeedback):
    """The feedback just recorded (once per measure of a check)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FEEDBACK]})


class ApplicationCounts(Answer):
    """Feedback counts: measures applied and not applied."""

    applied: int = Field(description="Feedback: applied.")
    not_applied: int = Field(description="Feedback: not applied.")


class DepartmentCheckStats(ApplicationCounts):
    """Checks and feedback of one checking department."""

    department_id: int | None = Field(description="The department (null: the credit office).")
    department: str = Field(description="Its name (市信用办 for the credit office).")
    checks: int = Field(description="Checks made.")


class MeasureCheckStats(ApplicationCounts):
    """Feedback on one measure."""

    measure: str = Field(description="The measure's code.")
    measure_name: str = Field(description="Its name (the code when no longer in the catalog).")


class MatterCheckStats(ApplicationCounts):
    """Checks and feedback for one matter."""

    matter: str = Field(description="The matter's code.")
    matter_name: str = Field(description="Its name (the code when no longer in the catalog).")
    checks: int = Field(description="Checks made.")


class MonthCheckStats(ApplicationCounts):
    """Checks and feedback of one month."""

    month: str = Field(description="YYYY-MM of the check (Asia/Shanghai).")
    checks: int = Field(description="Checks made.")


class CheckStats(Answer):
    """Checks and feedback of every department (credit office)."""

    checks: int = Field(description="Checks made.")
    feedback: int = Field(description="Feedback recorded.")
    applied: int = Field(description="Feedback: applied.")
    not_applied: int = Field(description="Feedback: not applied.")
    by_department: list[DepartmentCheckStats] = Field(description="Per checking department.")
    by_measure: list[MeasureCheckStats] = Field(description="Per measure with feedback.")
    by_matter: list[MatterCheckStats] = Field(description="Per matter.")
    by_month: list[MonthCheckStats] = Field(description="Per month.")
    month_basis: str = Field(description="What the month is: 核查时间所在月份（Asia/Shanghai）.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "checks": 2,
                    "feedback": 1,
                    "applied": 1,
                    "not_applied": 0,
                    "by_department": [
                        {
                            "department_id": 3,
                            "department": "榆林市市场监督管理局",
                            "checks": 2,
                            "applied": 1,
                            "not_applied": 0,
                        }
                    ],
                    "by_measure": [
                        {
                            "measure": "key_supervision",
                            "measure_name": "列为重点监管对象，提高双随机抽查比例和频次",
                            "applied": 1,
                            "not_applied": 0,
                        }
                    ],
                    "by_matter": [
                        {
                            "matter": "food_business_licence",
                            "matter_name": "食品经营许可",
                            "checks": 2,
                            "applied": 1,
                            "not_applied": 0,
                        }
                    ],
                    "by_month": [{"month": "2026-11", "checks": 2, "applied": 1, "not_applied": 0}],
                    "month_basis": "核查时间所在月份（Asia/Shanghai）",
                }
            ]
        }
    )


# -- 信用承诺 -------------------------------------------------------------------------------------

_COMMITMENT: JsonDict = {
    "commitment_id": "cmh4w2q7xk5vdn3ybt6rm",
    "subject_id": "s3vtkq7mhx2dl4wnyrcbp",
    "subject_name": "周*",
    "kind": "approval_substitute",
    "kind_label": "审批替代型",
    "matter": "food_business_licence",
    "matter_name": "食品经营许可",
    "text": "本人承诺所提交的食品经营许可申请材料真实有效，如有不实愿承担相应责任",
    "made_on": "2026-11-01",
    "department": "榆林市市场监督管理局",
    "public": True,
    "status": "in_progress",
    "status_label": "履约中",
    "adverse": False,
    "false_commitment": False,
    "checked_on": None,
    "note": None,
    "record_id": "rk2x7vq4mdn5hwt3ybc6p",
}
_BREACHED: JsonDict = {
    **_COMMITMENT,
    "status": "breached",
    "status_label": "未履约（虚假承诺）",
    "adverse": True,
    "false_commitment": True,
    "checked_on": "2026-11-20",
    "note": "现场核查发现经营场所与申报地址不符",
}


class Commitment(Answer):
    """A credit commitment and its fulfilment (a name masked and free text scrubbed for every
    caller; to the public, other persons' names in the text masked too)."""

    commitment_id: str = Field(description="The commitment's id (`cm…`, its CN_BH).")
    subject_id: str = Field(description="The subject that committed.")
    subject_name: str = Field(description="Organisations in full; natural persons as 周*.")
    kind: Literal["approval_substitute", "voluntary", "industry_self_discipline", "repair"] = Field(
        description="审批替代型, 主动公示型, 行业自律型 or 信用修复型 (staff only)."
    )
    kind_label: str = Field(description="The kind in Chinese.")
    matter: str | None = Field(description="The 事项清单 matter (required for 审批替代型).")
    matter_name: str | None = Field(description="Its name.")
    text: str = Field(description="What was committed, ID and phone numbers scrubbed.")
    made_on: Day = Field(description="Day made.")
    department: str = Field(description="The accepting department.")
    public: bool = Field(description="Shown to the public (every kind but 信用修复型).")
    status: Literal["in_progress", "fulfilled", "breached"] = Field(
        description="履约中, 已履约 or 未履约."
    )
    status_label: str = Field(
        description="The status in Chinese, （虚假承诺） appended when false."
    )
    adverse: bool = Field(description="Breached: dishonesty information (feeds the evaluation).")
    false_commitment: bool = Field(description="Found false (虚假承诺).")
    checked_on: Day | None = Field(description="Day of the fulfilment check.")
    note: str | None = Field(description="The check's note (required for a false commitment).")
    record_id: str | None = Field(description="Its catalog record (item `commitment`).")

    model_config = ConfigDict(json_schema_extra={"examples": [_COMMITMENT, _BREACHED]})


class CommitmentList(Answer):
    """Commitments, newest first (public: one subject's public kinds; staff: their
    department's; the credit office: all)."""

    subject_id: str | None = Field(description="The subject asked for (null: none named).")
    count: int = Field(description="Commitments in this answer.")
    commitments: list[Commitment] = Field(description="Newest first, at most `limit`.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"subject_id": "s3vtkq7mhx2dl4wnyrcbp", "count": 1, "commitments": [_BREACHED]}
            ]
        }
    )
