"""名单 answers (web/lists_api.py): list types, public lists, a subject's lists with the measures
they trigger, and a membership with its steps (the local listing workflow).

Built from lists/service.py (`public_list_types`, `_basis_view`, `_public_rows`, `public_list`,
`public_subject_lists`, `membership_view`, `notify`) and lists/matching.py (`public_entry`,
`measure_view`, `basis_view`).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict, JsonValue

from citycredit.catalog.model import DisplayNameRule
from citycredit.lists.model import (
    BasisKind,
    ExitCode,
    ListKind,
    MatterScope,
    MeasureGroup,
    MeasureKind,
    MembershipStatus,
    Origin,
)
from citycredit.web.schemas.common import Answer, Day, Instant

LIST_TYPE = "market_supervision_serious"
LIST_NAME = "市场监管领域严重违法失信名单"
SUBJECT = "S7d2kq4xw5m3n6p8r1t9v"
USCC = "91610802MA6L00017W"
MEMBERSHIP = "mqvh3yg6l2k5r7t9w4x8z"
AT = "2026-11-25T02:00:00+00:00"
SAMR_LABEL = "榆林市市场监督管理局 报送令牌"

_BASIS: list[JsonValue] = [
    "《市场监督管理严重违法失信名单管理办法》（市场监管总局令第44号）",
    "《企业信息公示暂行条例》第十八条（信用约束）",
]
_PERIOD: JsonDict = {
    "default_months": 36,
    "max_months": 36,
    "min_months": None,
    "basis": "列入之日起满三年移出",
}


class ListPeriod(Answer):
    """How long a listing lasts, in months from the decision."""

    default_months: int = Field(description="Period when the decision names none.")
    max_months: int = Field(description="The longest period a decision may set.")
    min_months: int | None = Field(
        description="Minimum time on the list before a 信用修复 exit (null: none)."
    )
    basis: str = Field(description="Where the period is set down.")


class ListTypeOut(Answer):
    """A list type (名单类型) with its legal basis and period."""

    code: str = Field(description="List type code (the path parameter of its public list).")
    name: str = Field(description="Its name.")
    kind: ListKind = Field(
        description="`serious_dishonesty` (严重失信主体名单), `red_list` (守信激励) or `other`."
    )
    origin: Origin = Field(
        description="`external` (decided elsewhere, arrives through intake), `local` (decided "
        "here) or `both`."
    )
    authority: str = Field(description="The deciding authority.")
    display_name_rule: DisplayNameRule = Field(
        description="How natural persons' names are shown on the public list."
    )
    legal_basis: list[str] = Field(description="Laws and rules the list rests on.")
    period: ListPeriod | None = Field(description="Listing period (null: none set).")


_LIST_TYPE: JsonDict = {
    "code": LIST_TYPE,
    "name": LIST_NAME,
    "kind": "serious_dishonesty",
    "origin": "both",
    "authority": "县级以上市场监督管理部门",
    "display_name_rule": "surname_masked",
    "legal_basis": _BASIS,
    "period": _PERIOD,
}


class ListTypes(Answer):
    """Every list type."""

    list_types: list[ListTypeOut] = Field(description="In the lists catalog's order.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"list_types": [_LIST_TYPE]}]})


_ENTRY: JsonDict = {
    "list_type": LIST_TYPE,
    "list_name": LIST_NAME,
    "name": "榆阳区诚信商贸有限公司",
    "decision_no": "榆市监严列〔2026〕1号",
    "decided_on": "2026-11-20",
    "published_on": "2026-11-21",
    "expires_on": "2029-11-21",
    "last_day": "2029-11-20",
    "reasons": "销售不合格食品，情节严重",
    "subject_id": SUBJECT,
    "uscc": USCC,
    "origin": "local",
    "record_id": None,
    "objection_mark": None,
    "legal_basis": _BASIS,
    "period": _PERIOD,
}


class PublicListEntry(Answer):
    """One entry of a public list, masked (rules.md §13.4): natural persons are named by the
    list's display rule and carry no ids; their reasons are a neutral sentence."""

    list_type: str = Field(description="List type code.")
    list_name: str = Field(description="List type name.")
    name: str = Field(description="The subject's name (a person's masked by the list's rule).")
    decision_no: str | None = Field(description="列入决定书文号.")
    decided_on: Day | None = Field(description="Decision day.")
    published_on: Day | None = Field(description="Publication day.")
    expires_on: Day | None = Field(description="First day off the list (null: no end set).")
    last_day: Day | None = Field(
        default=None,
        description="公示截止: the last day on the list, the day before `expires_on` (null: no "
        "end set — listed until the deciding authority removes it, by the list's `period`; "
        "reports issued before 2026-11-28 lack the key).",
    )
    reasons: str | None = Field(
        description="Reasons, ID and phone numbers scrubbed and other persons' names masked; "
        "for a natural person a neutral sentence."
    )
    subject_id: str | None = Field(description="Organisations: the subject (null for persons).")
    uscc: str | None = Field(description="Organisations: 统一社会信用代码 (null for persons).")
    origin: str = Field(description="`local` or `external`.")
    record_id: str | None = Field(
        default=None,
        description="External memberships: the public record they mirror (reports issued "
        "before 2026-11-27 lack the key).",
    )
    objection_mark: str | None = Field(
        default=None, description="`异议处理中` while an objection is open."
    )
    legal_basis: list[str] = Field(description="The list's legal basis.")
    period: ListPeriod | None = Field(description="The list's period.")


class PublicList(Answer):
    """A page of a public list: published, unexpired entries, newest first."""

    list_type: str = Field(description="List type code.")
    name: str = Field(description="List type name.")
    authority: str = Field(description="The deciding authority.")
    legal_basis: list[str] = Field(description="The list's legal basis.")
    period: ListPeriod | None = Field(description="The list's period.")
    as_of: Day = Field(description="The day (Asia/Shanghai) the list is shown for.")
    count: int | None = Field(description="Every entry the list shows (same as `total`).")
    total: int | None = Field(description="Every entry the list shows, not only this page's.")
    limit: int = Field(description="Page size.")
    offset: int = Field(description="Entries skipped (offset paging).")
    after: str | None = Field(description="The cursor this page was asked after, as sent.")
    more: bool = Field(description="Whether another page follows.")
    next_after: str | None = Field(
        description="The cursor of the next page (pass as `after`); null on the last page."
    )
    entries: list[PublicListEntry] = Field(description="This page's entries.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "list_type": LIST_TYPE,
                    "name": LIST_NAME,
                    "authority": "县级以上市场监督管理部门",
                    "legal_basis": _BASIS,
                    "period": _PERIOD,
                    "as_of": "2026-11-25",
                    "count": 1,
                    "total": 1,
                    "limit": 100,
                    "offset": 0,
                    "after": None,
                    "more": False,
                    "next_after": None,
                    "entries": [_ENTRY],
                }
            ]
        }
    )


class BasisView(Answer):
    """A legal basis of a measure."""

    title: str = Field(description="The document's title.")
    kind: BasisKind = Field(description="Its rank (law, regulation, department rule …).")
    article: str | None = Field(description="The article, if one is named.")
    text: str = Field(description="Title and article, as printed.")


class ListBasisView(BasisView):
    """The basis on which a list type triggers the measure."""

    list_type: str = Field(description="The list type it concerns.")


class MeasureOut(Answer):
    """A joint measure (联合奖惩措施) a subject's lists in force trigger."""

    code: str = Field(description="Measure code.")
    name: str = Field(description="What it is.")
    kind: MeasureKind = Field(description="`incentive` or `punishment`.")
    group: MeasureGroup = Field(
        description="`rights_restriction`, `management` or `market_reference`."
    )
    department: str = Field(description="The department that implements it.")
    implementer: str = Field(description="Who applies it in practice.")
    legal_basis: list[BasisView] = Field(description="Its legal basis.")
    list_basis: list[ListBasisView] = Field(
        description="The basis tying each triggering list type to it."
    )
    triggered_by: list[str] = Field(
        description="The active list types (or `grade:X`) that trigger it."
    )
    matter_scope: MatterScope = Field(
        description="Approval matters it applies to: `all`, `listed` or `none` (not tied to "
        "approvals, e.g. 限制高消费)."
    )
    matters: list[str] = Field(description="`listed`: the matter codes.")
    uncertain: bool = Field(description="The measure's basis is still being confirmed.")


_MEASURE: JsonDict = {
    "code": "restrict_government_procurement",
    "name": "限制参加政府采购活动",
    "kind": "punishment",
    "group": "rights_restriction",
    "department": "榆林市财政局",
    "implementer": "政府采购代理机构",
    "legal_basis": [
        {
            "title": "《中华人民共和国政府采购法》",
            "kind": "law",
            "article": "第二十二条",
            "text": "《中华人民共和国政府采购法》第二十二条",
        }
    ],
    "list_basis": [
        {
            "list_type": LIST_TYPE,
            "title": "《市场监督管理严重违法失信名单管理办法》",
            "kind": "department_rule",
            "article": "第十四条",
            "text": "《市场监督管理严重违法失信名单管理办法》第十四条",
        }
    ],
    "triggered_by": [LIST_TYPE],
    "matter_scope": "listed",
    "matters": ["government_procurement"],
    "uncertain": False,
}


class SubjectLists(Answer):
    """A subject's public memberships in force today and the measures they trigger."""

    subject_id: str = Field(description="The subject.")
    as_of: Day = Field(description="Today (Asia/Shanghai).")
    lists: list[PublicListEntry] = Field(description="Oldest publication first.")
    measures: list[MeasureOut] = Field(description="Joint measures in force, whatever the matter.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject_id": SUBJECT,
                    "as_of": "2026-11-25",
                    "lists": [_ENTRY],
                    "measures": [_MEASURE],
                }
            ]
        }
    )


class MembershipCreated(Answer):
    """拟列入 recorded."""

    id: str = Field(description="The membership (`m…`).")
    status: MembershipStatus = Field(description="Always `proposed`.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": MEMBERSHIP, "status": "proposed"}]}
    )


class MembershipNotice(Answer):
    """告知: what the subject was told (empty before notice, and for external memberships)."""

    reasons: str | None = Field(default=None, description="The facts and reasons.")
    basis: str | None = Field(default=None, description="The legal basis stated.")
    document_no: str | None = Field(default=None, description="The document it rests on.")
    rights: str | None = Field(default=None, description="The subject's rights, in Chinese.")
    objection_working_days: int | None = Field(
        default=None, description="The objection window, in working days."
    )
    objection_due: Day | None = Field(default=None, description="Last day of the window.")
    deadline_confirmed: bool | None = Field(
        default=None,
        description="False when the legal calendar of that year is not confirmed yet.",
    )


class MembershipEvent(Answer):
    """One time-stamped step, committed to the 信用数据链."""

    from_: MembershipStatus | None = Field(alias="from", description="Status before the step.")
    to: MembershipStatus = Field(description="Status after it.")
    action: str = Field(
        description="`propose`, `notify`, `objection`, `objection_answered`, `decide`, "
        "`publish`, `withdraw`, `exit_<code>`, `expire` …"
    )
    at: Instant = Field(description="When.")
    actor: str = Field(description="Who (account, department token or `system:…`).")
    note: str | None = Field(description="Reasons, objection text or answer.")
    ledger_ref: str | None = Field(description="The step's leaf `ref` in the 信用数据链.")


_EVENTS: list[JsonValue] = [
    {
        "from": None,
        "to": "proposed",
        "action": "propose",
        "at": "2026-11-10T02:00:00+00:00",
        "actor": SAMR_LABEL,
        "note": "销售不合格食品，情节严重",
        "ledger_ref": f"{MEMBERSHIP}/1/propose",
    },
    {
        "from": "proposed",
        "to": "noticed",
        "action": "notify",
        "at": "2026-11-10T02:05:00+00:00",
        "actor": SAMR_LABEL,
        "note": "",
        "ledger_ref": f"{MEMBERSHIP}/2/notify",
    },
]


class Membership(Answer):
    """A membership (名单记录) and its steps, as its department and the credit office see it."""

    id: str = Field(description="The membership (`m…`).")
    list_type: str = Field(description="List type code.")
    subject_id: str = Field(description="The listed subject.")
    origin: str = Field(description="`local` (this workflow) or `external` (from intake).")
    status: MembershipStatus = Field(
        description="`proposed`, `noticed`, `decided`, `published`, `expired`, `exited`, "
        "`withdrawn`."
    )
    department_id: int | None = Field(description="The proposing (or sending) department.")
    record_id: str | None = Field(description="External: the record it mirrors.")
    reasons: str | None = Field(description="Facts and reasons, as proposed.")
    document_no: str | None = Field(description="The document the listing rests on.")
    decision_no: str | None = Field(description="列入决定书文号 (once decided).")
    proposed_on: Day | None = Field(description="拟列入 day.")
    noticed_on: Day | None = Field(description="告知 day.")
    objection_due: Day | None = Field(description="Last day of the objection window.")
    objection_pending: bool = Field(description="An objection waits for an answer.")
    notice: MembershipNotice = Field(description="The notice given (empty before it).")
    decided_on: Day | None = Field(description="Decision day.")
    published_on: Day | None = Field(description="Publication day.")
    expires_on: Day | None = Field(description="First day off the list.")
    ended_on: Day | None = Field(description="The day it ended (exit, expiry, withdrawal).")
    period_months: int | None = Field(description="Listing period decided, months.")
    exit_code: ExitCode | None = Field(description="How it ended early or at term.")
    exit_reason: str | None = Field(description="Why (exit or withdrawal).")
    events: list[MembershipEvent] = Field(description="Every step, oldest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": MEMBERSHIP,
                    "list_type": LIST_TYPE,
                    "subject_id": SUBJECT,
                    "origin": "local",
                    "status": "noticed",
                    "department_id": 1,
                    "record_id": None,
                    "reasons": "销售不合格食品，情节严重",
                    "document_no": "榆市监罚〔2026〕1号",
                    "decision_no": None,
                    "proposed_on": "2026-11-10",
                    "noticed_on": "2026-11-10",
                    "objection_due": "2026-11-17",
                    "objection_pending": False,
                    "notice": {
                        "reasons": "销售不合格食品，情节严重",
                        "basis": _BASIS[0],
                        "document_no": "榆市监罚〔2026〕1号",
                        "rights": "当事人可在告知期内向认定部门提出陈述、申辩或异议；"
                        "认定部门应予核实并答复。",
                        "objection_working_days": 5,
                        "objection_due": "2026-11-17",
                        "deadline_confirmed": True,
                    },
                    "decided_on": None,
                    "published_on": None,
                    "expires_on": None,
                    "ended_on": None,
                    "period_months": None,
                    "exit_code": None,
                    "exit_reason": None,
                    "events": _EVENTS,
                }
            ]
        }
    )
