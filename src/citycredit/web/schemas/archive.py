"""信用档案 answers (web/api.py): the public archive, the staff's authorised view, subject search
and summary, and the portal's 双公示 lists; and the parts every archive view shares (the
subject, the grade block, groups of records), which the institution's authorised read and the
subject's own account (schemas/account.py) reuse.

Built from subjects/archive.py (`_subject_summary`, `search_subjects`, `public_archive`,
`_authorised_view`, `public_entry`, `_group`, `dual_publicity`), evaluation/views.py
(`archive_grade`) and rights/registration.py (`public_profile`). Keys a service writes only in
some cases are optional. These are the portal's hot public reads: their routes document these
models without validating each answer (`responses={200: {"model": …}}`);
tests/e2e/test_openapi_contract_archive.py validates real answers against the spec.

A credit report (schemas/reports.py) keeps the public archive's groups and 自愿注册 block as they
were at issue, in these shapes, and its routes validate what is stored: a key added here later
must be optional (older reports lack it), and a key the archive once wrote must stay described.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Day
from citycredit.web.schemas.evaluation import Grade, GradeLabel
from citycredit.web.schemas.rights import RECORD_ID, SUBJECT_ID, ObjectionMark


class SubjectCard(Answer):
    """Who a view is about, as the public archive shows it: the keys an archive view and a
    credit report (schemas/reports.py `ReportSubject`) share."""

    subject_id: str = Field(description="Subject id.")
    name: str = Field(description="Name (a natural person's masked on the public view).")
    subject_type: str = Field(description="`enterprise`, `natural_person`, `social_group` …")
    subject_type_label: str = Field(description="Its label.")
    uscc: str | None = Field(description="统一社会信用代码; null for a natural person.")
    division_code: str | None = Field(description="行政区划代码.")
    division_name: str = Field(description="County, or `榆林市外或未知`.")
    registered_on: Day | None = Field(description="Registration day.")
    status: str | None = Field(description="Registration status (存续, 注销 …), if known.")
    legal_rep: str | None = Field(default=None, description="Organisations: 法定代表人.")
    industry: str | None = Field(default=None, description="Organisations: industry.")
    professions: list[str] | None = Field(
        default=None, description="Persons: professions (never in a public report)."
    )


class ArchiveSubject(SubjectCard):
    """The subject as an archive view shows it: the public view (a natural person's name
    masked; persons are not searchable publicly), the authorised and the own view (in full, the
    ID number masked)."""

    id_number_masked: str | None = Field(
        default=None, description="Authorised and own views: a person's ID number, masked (4 + 4)."
    )


class ArchiveGrade(Answer):
    """The grade block: the current grade, or why there is none (a credit report keeps the
    one shown at issue: organisations' grades only)."""

    shown: bool = Field(description="Whether a grade is shown.")
    note: str | None = Field(default=None, description="Not shown: why (尚无结果, 未评价 …).")
    grade: Grade | None = Field(default=None, description="Shown: the grade (A, B, C, D).")
    grade_label: GradeLabel | None = Field(default=None, description="Shown: in Chinese.")
    score: int | None = Field(default=None, description="Shown: the score.")
    as_of: Day | None = Field(default=None, description="Shown: 评价基准日.")
    model_code: str | None = Field(default=None, description="Shown: the evaluation model.")
    model_version: str | None = Field(default=None, description="Shown: its version.")
    objection_mark: ObjectionMark | None = Field(
        default=None, description="Shown: the mark while the grade is under objection."
    )
    public: bool | None = Field(
        default=None,
        description="An institution's read, grade shown: the public sees it too (organisations; "
        "else it was shown under the authorisation's `evaluation` scope).",
    )


class ArchiveField(Answer):
    """One field of a record as the view shows it."""

    code: str = Field(description="Catalog field code.")
    label: str = Field(description="Catalog label.")
    value: Any = Field(description="The value (scrubbed of numbers in free text).")
    unit: str | None = Field(default=None, description="Amounts: `元`.")
    masked: bool | None = Field(default=None, description="A personal field, shown masked.")


class RepairHint(Answer):
    """Own view: whether an adverse record can be repaired today."""

    eligible: bool = Field(description="An application is accepted today.")
    message: str = Field(description="`可申请修复：自 … 起` or why not.")


class ArchiveEntry(Answer):
    """One record of a group. Adverse records add their severity and periods; the authorised
    and own views add its publication state."""

    record_id: str = Field(description="Record id.")
    version: int = Field(description="Current version.")
    decision_date: Day | None = Field(description="Decision date.")
    fields: list[ArchiveField] = Field(description="The fields shown.")
    adverse: bool = Field(description="失信（不良）信息.")
    legal_basis: list[str] | None = Field(default=None, description="Adverse: legal basis.")
    severity: str | None = Field(default=None, description="Adverse: `minor`, `general`, …")
    severity_label: str | None = Field(default=None, description="Adverse: 轻微, 一般, 严重.")
    severity_inferred: bool | None = Field(default=None, description="Adverse: inferred.")
    severity_note: str | None = Field(default=None, description="Adverse: 推定 or 报送单位认定.")
    publication_end: Day | None = Field(default=None, description="Adverse: end (exclusive).")
    publication_last_day: Day | None = Field(default=None, description="Adverse: 公示截止.")
    repair_from: Day | None = Field(default=None, description="Adverse: repair from.")
    openness: str | None = Field(default=None, description="Catalog openness of the record.")
    published: bool | None = Field(default=None, description="Published online.")
    repaired: bool | None = Field(default=None, description="Repaired (own view still shows it).")
    unpublished_reason: str | None = Field(default=None, description="Why not published.")
    unpublished_label: str | None = Field(default=None, description="不予公示：… in words.")
    publication_ended: bool | None = Field(default=None, description="Past its period.")
    department_id: int | None = Field(default=None, description="Submitting department.")
    objection_mark: ObjectionMark | None = Field(default=None, description="Disputed: its mark.")
    repair: RepairHint | None = Field(
        default=None, description="Own view, adverse and not repaired: repair eligibility."
    )
    public: bool | None = Field(
        default=None,
        description="An institution's read: shown exactly as the public view shows it today "
        "(公开); false: shown under the authorisation.",
    )


class ArchiveGroup(Answer):
    """The records of one catalog item."""

    item: str = Field(description="Catalog item code.")
    item_name: str = Field(description="Its name.")
    category: str = Field(description="Its category.")
    count: int = Field(description="Number of records.")
    records: list[ArchiveEntry] = Field(description="Newest decision first.")
    authorised: bool | None = Field(
        default=None,
        description="An institution's read: the authorisation covers the item (false: only its "
        "public records, as the public sees them).",
    )


SUBJECT_EXAMPLE: JsonDict = {
    "subject_id": SUBJECT_ID,
    "name": "榆林A商贸有限公司",
    "subject_type": "enterprise",
    "subject_type_label": "企业",
    "uscc": "91610802MA6RM0016X",
    "division_code": "610802",
    "division_name": "榆阳区",
    "registered_on": "2019-03-18",
    "status": "active",
    "legal_rep": "王建国",
    "industry": "批发和零售业",
    "id_number_masked": None,
}
ENTRY_EXAMPLE: JsonDict = {
    "record_id": RECORD_ID,
    "version": 1,
    "decision_date": "2026-07-01",
    "fields": [
        {"code": "CF_WSH", "label": "行政处罚决定书文号", "value": "榆市监罚〔2026〕20号"},
        {"code": "CF_FK", "label": "罚款金额", "value": "5000.00", "unit": "元"},
    ],
    "adverse": True,
    "legal_basis": ["《中华人民共和国行政处罚法》"],
    "severity": "general",
    "severity_label": "一般",
    "severity_inferred": True,
    "severity_note": "推定",
    "publication_end": "2027-07-02",
    "publication_last_day": "2027-07-01",
    "repair_from": "2026-10-02",
    "openness": "public",
    "published": True,
    "repaired": False,
    "unpublished_reason": None,
    "unpublished_label": None,
    "publication_ended": False,
    "department_id": 1,
}
# The public view writes none of the publication state (a report's records, 双公示's entries).
_NOT_PUBLIC_KEYS = (
    "openness",
    "published",
    "repaired",
    "unpublished_reason",
    "unpublished_label",
    "publication_ended",
    "department_id",
)
PUBLIC_ENTRY_EXAMPLE: JsonDict = {
    k: v for k, v in ENTRY_EXAMPLE.items() if k not in _NOT_PUBLIC_KEYS
}
GROUP_EXAMPLE: JsonDict = {
    "item": "penalty",
    "item_name": "行政处罚",
    "category": "行政管理",
    "count": 1,
    "records": [ENTRY_EXAMPLE],
}
GRADE_EXAMPLE: JsonDict = {"shown": False, "note": "尚无评价结果"}


# -- the portal's public reads ----------------------------------------------------------------


class SubjectSearch(Answer):
    """Subjects whose name contains the query or whose USCC it is (organisations only for the
    public; natural persons are not searchable publicly)."""

    q: str = Field(description="The query as given.")
    results: list[ArchiveSubject] = Field(description="Shortest name first, at most `limit`.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"q": "榆林A商贸", "results": [SUBJECT_EXAMPLE]}]}
    )


class SubjectSummary(ArchiveSubject):
    """The public summary of one subject."""

    model_config = ConfigDict(json_schema_extra={"examples": [SUBJECT_EXAMPLE]})


class RegistrationProfile(Answer):
    """The fields a subject declared in its 自愿注册 (rights/registration.py `PROFILE_FIELDS`:
    no other key is kept; an empty field is not stored, so its key is absent)."""

    introduction: str | None = Field(
        default=None,
        description="主体简介 (ID, phone and bank numbers scrubbed; other persons' names masked).",
    )
    business_scope: str | None = Field(
        default=None, description="主营业务 (scrubbed and masked like the introduction)."
    )
    website: str | None = Field(default=None, description="网站 (http:// or https://).")
    service_phone: str | None = Field(default=None, description="服务电话 (organisations only).")
    service_address: str | None = Field(default=None, description="服务地址 (organisations only).")


class PublicRegistration(Answer):
    """自愿注册 as the public archive shows it (organisations), marked as self-declared."""

    registered_at: Day = Field(description="Day registered.")
    note: str = Field(description="自愿注册信息由主体自行填报 …")
    profile: RegistrationProfile = Field(description="The declared fields (free text scrubbed).")


REGISTRATION_EXAMPLE: JsonDict = {
    "registered_at": "2026-11-20",
    "note": "以下信息由主体自愿注册时自行填报，平台未作核实",
    "profile": {"introduction": "榆林本地商贸企业", "website": "https://example.com"},
}


_ARCHIVE: JsonDict = {
    "subject": SUBJECT_EXAMPLE,
    "as_of": "2026-11-25",
    "view": "public",
    "evaluation": GRADE_EXAMPLE,
    "voluntary_registration": None,
    "groups": [GROUP_EXAMPLE],
    "total": 1,
}


class Archive(Answer):
    """信用档案: the public view (公开 items inside their publication period), or with
    `view=authorised` the staff's view (their role's items, personal fields masked, the stated
    purpose logged in the disclosure log)."""

    subject: ArchiveSubject = Field(description="The subject.")
    as_of: Day = Field(description="Today (Beijing time).")
    view: Literal["public", "authorised"] = Field(description="Which view.")
    purpose: str | None = Field(default=None, description="Authorised view: the stated purpose.")
    evaluation: ArchiveGrade = Field(description="The grade block (public: organisations only).")
    voluntary_registration: PublicRegistration | None = Field(
        default=None, description="Public view: 自愿注册 of an organisation, if any."
    )
    groups: list[ArchiveGroup] = Field(description="Records by catalog item, catalog order.")
    total: int = Field(description="Records in all groups.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _ARCHIVE,
                {
                    **{k: v for k, v in _ARCHIVE.items() if k != "voluntary_registration"},
                    "view": "authorised",
                    "purpose": "行政许可审查",
                },
            ]
        }
    )


class PublicitySubject(Answer):
    """Whose record a 双公示 entry is."""

    subject_id: str | None = Field(description="Organisations: the archive's id (persons: null).")
    name: str = Field(description="Name (a natural person's masked).")
    uscc: str | None = Field(description="统一社会信用代码 (persons: null).")
    subject_type_label: str = Field(description="企业, 个体工商户, 自然人 …")


class PublicityEntry(Answer):
    """One licence or penalty of the city's 双公示 list."""

    subject: PublicitySubject = Field(description="Whose it is.")
    decision_no: str | None = Field(description="决定书文号 / 许可证书编号.")
    record: ArchiveEntry = Field(description="The record as its subject's public archive shows it.")


class PublicityPage(Answer):
    """双公示 in the portal: the newest public licences or penalties of the whole city."""

    item: Literal["licence", "penalty"] = Field(description="`licence` or `penalty`.")
    item_name: str = Field(description="行政许可 or 行政处罚.")
    as_of: Day = Field(description="Today (Beijing time).")
    offset: int = Field(description="Entries skipped (at most 2,000).")
    entries: list[PublicityEntry] = Field(description="Newest decision first.")
    has_more: bool = Field(description="Another page follows.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item": "penalty",
                    "item_name": "行政处罚",
                    "as_of": "2026-11-25",
                    "offset": 0,
                    "entries": [
                        {
                            "subject": {
                                "subject_id": SUBJECT_ID,
                                "name": "榆林A商贸有限公司",
                                "uscc": "91610802MA6RM0016X",
                                "subject_type_label": "企业",
                            },
                            "decision_no": "榆市监罚〔2026〕20号",
                            "record": PUBLIC_ENTRY_EXAMPLE,
                        }
                    ],
                    "has_more": False,
                }
            ]
        }
    )
