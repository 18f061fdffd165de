"""The archives behind a login (web/rights_api.py): an institution's authorised read of a
subject (查询授权) and the subject's own account (/me: archive, queries, inbox).

Built from subjects/archive.py (`_authorised_view`, `_subject_summary`, `public_entry`),
rights/account.py (`my_archive`, `my_queries`, `_memberships`), rights/authorisations.py
(`institution_query`), rights/disclosures.py (`view`) and evaluation/views.py (`archive_grade`,
`current_evaluation`: with view=own, the stored result in full and the grade history, typed
with schemas/evaluation.py's models). Keys a service writes only in some cases are optional
here and their routes answer ``exclude_unset``: absent stays absent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.archive import (
    ENTRY_EXAMPLE,
    GRADE_EXAMPLE,
    GROUP_EXAMPLE,
    SUBJECT_EXAMPLE,
    ArchiveGrade,
    ArchiveGroup,
    ArchiveSubject,
    RegistrationProfile,
)
from citycredit.web.schemas.common import Answer, Day, Instant
from citycredit.web.schemas.evaluation import SubjectEvaluation
from citycredit.web.schemas.lists import MeasureOut, PublicListEntry
from citycredit.web.schemas.rights import (
    AT,
    AUTH_ID,
    AUTHORISATION_EXAMPLE,
    OBJECTION_EXAMPLE,
    REPAIR_EXAMPLE,
    SUBJECT_ID,
    Authorisation,
    Objection,
    ObjectionMark,
    Repair,
)

# -- archives (an institution's authorised read, the subject's own account) -----------------


class AuthorisationUsed(Answer):
    """The authorisation an institution's read rests on, and what it covers."""

    id: str = Field(description="Authorisation id.")
    purpose: str = Field(description="Its purpose (logged with the read).")
    items: list[str] = Field(description="The scopes it names: catalog items, `evaluation`.")
    all_non_public_items: bool = Field(
        description="It names nothing: the whole archive, the evaluation included."
    )
    evaluation: bool = Field(description="It covers the 公共信用综合评价 result.")
    valid_until: Day = Field(description="有效期至: its last valid day (inclusive).")


class PublicLists(Answer):
    """The subject's public list memberships in force, as anyone sees them (公开)."""

    lists: list[PublicListEntry] = Field(description="Oldest publication first.")
    measures: list[MeasureOut] = Field(description="Joint measures in force, whatever the matter.")


_ARCHIVE: JsonDict = {
    "subject": SUBJECT_EXAMPLE,
    "as_of": "2026-11-25",
    "view": "authorised",
    "purpose": "贷款审批",
    "evaluation": GRADE_EXAMPLE,
    "groups": [GROUP_EXAMPLE],
    "total": 1,
}
_USED: JsonDict = {
    "id": AUTH_ID,
    "purpose": "贷款审批",
    "items": ["penalty"],
    "all_non_public_items": False,
    "evaluation": False,
    "valid_until": "2027-05-01",
}


class AuthorisedArchive(Answer):
    """The archive read under an authorisation: only the authorised items, no personal
    fields, logged in the subject's 查询记录."""

    subject: ArchiveSubject = Field(description="The subject.")
    as_of: Day = Field(description="Today.")
    view: Literal["authorised", "own"] = Field(description="`authorised` (or `own`: /me).")
    purpose: str = Field(description="The authorisation's purpose (`本人查询`: /me).")
    evaluation: ArchiveGrade = Field(description="The grade block.")
    groups: list[ArchiveGroup] = Field(description="Records by catalog item.")
    total: int = Field(description="Records in all groups.")
    authorisation: AuthorisationUsed = Field(description="The authorisation used.")
    public_lists: PublicLists = Field(description="Public list memberships (公开).")
    disclosed: list[str] = Field(
        description="What this read showed beyond the public view, as logged in the subject's "
        "查询记录: catalog items, `evaluation`, `registration`."
    )
    scope_note: str = Field(description="The authorisation's scope and what is shown as 公开.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_ARCHIVE,
                    "authorisation": _USED,
                    "public_lists": {"lists": [], "measures": []},
                    "disclosed": ["penalty"],
                    "scope_note": "本次查询的授权范围：行政处罚。……",
                }
            ]
        }
    )


class ListExitCondition(Answer):
    """How a list entry can end."""

    exit: str = Field(description="`period_end`, `repair`, …")
    min_months: int | None = Field(description="Months on the list first, if any.")
    basis: str = Field(description="Legal basis.")


class AccountMembership(Answer):
    """A list entry of the subject (withdrawn ones aside)."""

    id: str = Field(description="List entry id.")
    list_type: str = Field(description="List type code.")
    list_name: str = Field(description="Its name.")
    status: str = Field(description="`noticed`, `decided`, `published`, `exited`, …")
    published_on: Day | None = Field(description="Published on.")
    expires_on: Day | None = Field(
        description="First day off the list (its last day is the day before; null: no end set)."
    )
    exit_conditions: list[ListExitCondition] = Field(description="The list type's exits.")
    objection_mark: ObjectionMark | None = Field(description="Disputed: its mark.")


class VoluntaryRegistration(Answer):
    """自愿注册 of the subject."""

    status: str = Field(description="`active` or `withdrawn`.")
    registered_at: Instant = Field(description="When.")
    profile: RegistrationProfile = Field(
        description="The profile fields the subject declared (only those it filled in)."
    )


DISCLOSURE_EXAMPLE: JsonDict = {
    "id": "sdk2v7q3pwhtd6yxamz4l",
    "subject_id": SUBJECT_ID,
    "record_id": "rq7c2hpkkq3ldrfmd5bsm",
    "kind": "honour",
    "kind_label": "荣誉表彰",
    "title": "榆林市守合同重信用企业",
    "status": "unverified",
    "status_label": "未核实",
    "filed_by": "张经办（agent_a）",
    "decided_by": None,
    "decision_note": None,
    "decided_at": None,
    "created_at": AT,
}


class SelfDisclosure(Answer):
    """自主公示: positive information the subject published."""

    id: str = Field(description="Disclosure id.")
    subject_id: str = Field(description="The subject.")
    record_id: str | None = Field(description="The catalog record it was stored as.")
    kind: str = Field(description="`honour`, …")
    kind_label: str = Field(description="Its label.")
    title: str = Field(description="公示事项.")
    status: str = Field(description="`unverified`, `verified`, `withdrawn`, `rejected`.")
    status_label: str = Field(description="Its label.")
    filed_by: str = Field(description="Who published it.")
    decided_by: str | None = Field(description="Who verified or took it down.")
    decision_note: str | None = Field(description="Their note.")
    decided_at: Instant | None = Field(description="When.")
    created_at: Instant = Field(description="When published.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                DISCLOSURE_EXAMPLE,
                {
                    **DISCLOSURE_EXAMPLE,
                    "status": "verified",
                    "status_label": "已核实",
                    "decided_by": "信用办",
                    "decision_note": "已与颁发单位核实",
                    "decided_at": "2026-11-26T02:00:00+00:00",
                },
            ]
        }
    )


_OWN_EVALUATION: JsonDict = {
    "objection_mark": None,
    "subject": {
        "subject_id": SUBJECT_ID,
        "name": "榆林A商贸有限公司",
        "subject_type": "enterprise",
        "subject_type_label": "企业",
    },
    "view": "own",
    "evaluated": True,
    "note": None,
    "current": {
        "subject_id": SUBJECT_ID,
        "subject_type": "enterprise",
        "model_code": "enterprise",
        "model_version": "2026.3",
        "as_of": "2026-11-25",
        "score": 580,
        "grade": "C",
        "grade_label": "中",
        "indicators": [
            {
                "code": "registered_years",
                "name": "成立年限",
                "dimension": "basic",
                "value": 7,
                "points": 20,
            },
            {
                "code": "penalty_general_in_force",
                "name": "公示期内的一般失信行政处罚",
                "dimension": "compliance",
                "value": 1,
                "points": -40,
            },
        ],
        "reasons": [
            {
                "code": "penalty_general_in_force",
                "text": "公示期内有一般失信行政处罚 1 次（-40分）",
                "points": -40,
            },
            {"code": "registered_years", "text": "成立已满 7 年（+20分）", "points": 20},
        ],
        "caps": [],
        "industry": None,
        "result_id": 31,
        "engine": "db",
        "run_id": None,
        "trigger": "record.accepted",
        "evaluated_at": AT,
    },
    "history": [
        {
            "result_id": 31,
            "as_of": "2026-11-25",
            "grade": "C",
            "grade_label": "中",
            "score": 580,
            "model_code": "enterprise",
            "model_version": "2026.3",
            "engine": "db",
            "run_id": None,
            "trigger": "record.accepted",
            "evaluated_at": AT,
            "grade_changed": True,
        },
        {
            "result_id": 12,
            "as_of": "2026-11-01",
            "grade": "B",
            "grade_label": "良",
            "score": 620,
            "model_code": "enterprise",
            "model_version": "2026.3",
            "engine": "duckdb",
            "run_id": "evrk4w7n2q5t8x3z6b9d1",
            "trigger": "run",
            "evaluated_at": "2026-11-01T02:00:00+00:00",
            "grade_changed": False,
        },
    ],
    "explanation": "等级由基础分加各指标得分（按维度上下限）得出……",
}


class OwnEvaluation(SubjectEvaluation):
    """The current evaluation with every detail (view=own), as GET
    /api/v1/subjects/{subject_id}/evaluation answers it to the subject: every indicator shown
    (the industry evaluations in full), with where the result came from."""

    view: Literal["own"] = Field(description="`own`.")

    model_config = ConfigDict(json_schema_extra={"examples": [_OWN_EVALUATION]})


class MyArchive(Answer):
    """信用账户: the bound subject's full archive with everything about its rights."""

    subject: ArchiveSubject = Field(description="The subject (its ID number masked).")
    as_of: Day = Field(description="Today.")
    view: Literal["own"] = Field(description="`own`.")
    purpose: str = Field(description="`本人查询`.")
    evaluation: ArchiveGrade = Field(description="The grade block.")
    groups: list[ArchiveGroup] = Field(description="Every active record, repaired ones marked.")
    total: int = Field(description="Records in all groups.")
    lists: list[AccountMembership] = Field(description="List entries.")
    objections: list[Objection] = Field(description="Every objection of the subject.")
    repairs: list[Repair] = Field(description="Every repair application of the subject.")
    voluntary_registration: VoluntaryRegistration | None = Field(description="自愿注册.")
    evaluation_detail: OwnEvaluation = Field(description="The evaluation with its reasons.")
    authorisations: list[Authorisation] = Field(description="Grants it gave, newest first.")
    self_disclosures: list[SelfDisclosure] = Field(description="自主公示.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_ARCHIVE,
                    "view": "own",
                    "purpose": "本人查询",
                    "groups": [
                        {
                            **GROUP_EXAMPLE,
                            "records": [
                                {
                                    **ENTRY_EXAMPLE,
                                    "repair": {
                                        "eligible": True,
                                        "message": "可申请修复：自 2026-10-02 起",
                                    },
                                }
                            ],
                        }
                    ],
                    "lists": [],
                    "objections": [OBJECTION_EXAMPLE],
                    "repairs": [REPAIR_EXAMPLE],
                    "voluntary_registration": {
                        "status": "active",
                        "registered_at": AT,
                        "profile": {"introduction": "榆林本地企业"},
                    },
                    "evaluation_detail": _OWN_EVALUATION,
                    "authorisations": [AUTHORISATION_EXAMPLE],
                    "self_disclosures": [],
                }
            ]
        }
    )


class MyQuery(Answer):
    """One read of the subject's non-public information."""

    at: Instant = Field(description="When.")
    who: str = Field(description="The department's name, or the account's label.")
    role: str = Field(description="The reader's role.")
    role_label: str = Field(description="The role in Chinese (金融机构, 部门用户 …).")
    purpose: str = Field(description="The stated purpose.")
    items: list[str] = Field(description="Catalog items read (`evaluation`: the grade).")
    item_labels: list[str] = Field(description="The same, by name (行政处罚 …).")
    channel: str = Field(description="`api`, `page`, `institution`, `check`, …")
    channel_label: str = Field(description="The channel in Chinese (授权机构查询 …).")
    authorisation: str | None = Field(description="An institution's read: the authorisation.")


class MyQueries(Answer):
    """查询记录: who read the subject's non-public information, why and when."""

    subject_id: str = Field(description="The subject.")
    count: int = Field(description="Number of items.")
    items: list[MyQuery] = Field(description="Newest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject_id": SUBJECT_ID,
                    "count": 1,
                    "items": [
                        {
                            "at": AT,
                            "who": "bank",
                            "role": "financial_institution",
                            "role_label": "金融机构",
                            "purpose": "贷款审批",
                            "items": ["penalty"],
                            "item_labels": ["行政处罚"],
                            "channel": "institution",
                            "channel_label": "授权机构查询",
                            "authorisation": AUTH_ID,
                        }
                    ],
                }
            ]
        }
    )
