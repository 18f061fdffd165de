"""权益保护 answers (web/rights_api.py): objections, repairs and their receipts, authorisations,
and the inbox; an institution's authorised read and the subject's own account (/me) are in
schemas/account.py.

Built from rights/objections.py (`objection_view`, `marks_for`), rights/cases.py (`case_steps`,
`clock_view`), rights/model.py (`RightsDeadlines.as_json`), rights/repairs.py (`repair_view`,
`_receipt_view`, `record_eligibility`, `decide`), rights/repair_rules.py (`Eligibility.as_json`),
rights/authorisations.py (`_view`, `institution_query`), rights/notices.py (`inbox`),
rights/account.py (`my_archive`, `my_queries`, `_memberships`), rights/disclosures.py (`view`),
subjects/archive.py (`_authorised_view`, `_subject_summary`, `public_entry`) and
evaluation/views.py (`archive_grade`, `current_evaluation`). Keys a service writes only in some
cases are optional here and their routes answer ``exclude_unset``: absent stays absent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.web.schemas.common import Answer, Day, Instant

SUBJECT_ID = "sbtmq3yvdxk2rhy7uv4nc"
RECORD_ID = "rq7c2hpkkq3ldrfmd5bsm"
OBJ_ID = "OBJmz4lk2v7q3pwhtd6yxa"
REPAIR_ID = "RPx3m7dq2kzl5vw4hnb6f"
AUTH_ID = "AUk2v7q3pwhtd6yxamz4l"
BANK_ID = "s5hb2kq7vmx3dt4lwnyrc"
AT = "2026-11-25T02:00:00+00:00"
DIGEST = "3f7a1c9e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"


# -- the cases' shared parts ----------------------------------------------------------------


class ObjectionTarget(Answer):
    """What an objection disputes."""

    type: Literal["record", "evaluation", "membership"] = Field(
        description="`record` (信用记录), `evaluation` (评价结果: the subject id), `membership` "
        "(名单列入)."
    )
    id: str = Field(description="The record's, subject's or list entry's id.")
    version: str | None = Field(
        description="The record's version (or the list entry's status) when filed; null for a "
        "grade."
    )


class RepairTarget(Answer):
    """What a repair application is about."""

    type: Literal["record", "membership"] = Field(description="`record` or `membership`.")
    id: str = Field(description="The record's or list entry's id.")


class CaseCode(Answer):
    """A code and its Chinese label."""

    code: str = Field(description="Machine-readable code.")
    label: str = Field(description="What it means, in Chinese.")


class CaseStep(Answer):
    """One step of a case (case_steps), oldest first."""

    action: str = Field(description="`file`, `accept`, `reject`, `decide_kept`, `approve`, …")
    from_: str | None = Field(alias="from", description="Status before (null when filed).")
    to: str = Field(description="Status after (unchanged for a route, statement, escalation).")
    actor: str = Field(description="Who took the step (account or token label; `system`).")
    note: str | None = Field(description="The step's reasons or note.")
    at: Instant = Field(description="When.")


class CaseClock(Answer):
    """One legal clock of a case, live: due day, working days left, whether it was met."""

    code: str = Field(description="`accept_within`, `verify_within`, `decide_within`, …")
    label: str = Field(description="The step the clock times (受理, 核查 …).")
    due: Day = Field(description="The last working day allowed.")
    working_days: int | None = Field(description="The limit in working days.")
    remaining_working_days: int | None = Field(
        description="Working days left after today (0 on the due day); null once done."
    )
    state: Literal["running", "overdue", "done"] = Field(description="The clock's state.")
    met: bool | None = Field(description="Done: whether on time; null while running.")
    basis: str = Field(description="The limit's legal basis.")
    uncertain: bool = Field(description="True: a default the official text did not confirm.")
    calendar_confirmed: bool = Field(
        description="False while the due day's year has no State Council holiday notice."
    )


class CaseDeadline(Answer):
    """One configured limit of the area (rights/data/deadlines.yaml)."""

    code: str = Field(description="The limit's code.")
    label: str = Field(description="What it limits.")
    working_days: int | None = Field(description="A clock: working days.")
    value: int | None = Field(description="A plain limit (e.g. characters).")
    basis: str = Field(description="Legal basis.")
    uncertain: bool = Field(description="True: not confirmed against the official text.")


class EvidenceFile(Answer):
    """A piece of an objection's evidence: its name and digest (the file stays with the
    subject or the window)."""

    name: str = Field(description="File name.")
    sha256: str = Field(description="SHA-256 of the file (hex).")
    size: int | None = Field(description="Bytes, if given.")


class MaterialFile(EvidenceFile):
    """A repair material, named by digest."""

    code: str = Field(description="`performance_proof`, `commitment` or `other`.")


class ObjectionMark(Answer):
    """The mark every surface shows on disputed information."""

    mark: str = Field(
        description="`异议处理中` while open; `存在异议（核查情况已记载）` or `本人声明` after."
    )
    objection_id: str = Field(description="The objection.")
    since: Day | None = Field(default=None, description="Open: the day it was filed.")
    statement: str | None = Field(default=None, description="The subject's 本人声明, if any.")


# -- objections -----------------------------------------------------------------------------

_CLOCK: JsonDict = {
    "code": "accept_within",
    "label": "受理（或不予受理）",
    "due": "2026-11-27",
    "working_days": 2,
    "remaining_working_days": None,
    "state": "done",
    "met": True,
    "basis": "《陕西省社会信用条例》第五章 信用主体权益保护",
    "uncertain": True,
    "calendar_confirmed": True,
}
_STEP: JsonDict = {
    "action": "file",
    "from": None,
    "to": "submitted",
    "actor": "榆林A商贸有限公司 经办人",
    "note": "处罚金额与决定书不一致",
    "at": AT,
}
OBJECTION_EXAMPLE: JsonDict = {
    "id": OBJ_ID,
    "subject_id": SUBJECT_ID,
    "target": {"type": "record", "id": RECORD_ID, "version": "1"},
    "ground": {"code": "wrong", "label": "信息错误"},
    "reasons": "处罚金额与决定书不一致",
    "evidence": [{"name": "决定书.pdf", "sha256": DIGEST, "size": 20480}],
    "channel": "online",
    "status": {"code": "decided", "label": "已处理"},
    "mark": None,
    "outcome": {"code": "kept", "label": "异议不成立，维持原信息", "reason": "经核实信息无误"},
    "rejection_reason": None,
    "statement": "本单位已缴清罚款",
    "clocks": [_CLOCK],
    "overdue": None,
    "escalated_at": None,
    "deadlines": [
        {
            "code": "accept_within",
            "label": "受理（或不予受理）",
            "working_days": 2,
            "value": None,
            "basis": "《陕西省社会信用条例》第五章 信用主体权益保护",
            "uncertain": True,
        }
    ],
    "steps": [_STEP],
}


class ObjectionOutcome(Answer):
    """What the verification found."""

    code: Literal["corrected", "withdrawn", "kept", "unresolved"] = Field(description="Outcome.")
    label: str = Field(description="The outcome in words (异议成立，信息已更正 …).")
    reason: str | None = Field(description="The decider's explanation.")


class Objection(Answer):
    """An objection (异议) with its live clocks and steps."""

    id: str = Field(description="Objection id (`OBJ…`).")
    subject_id: str = Field(description="The subject the disputed information is about.")
    target: ObjectionTarget = Field(description="What is disputed.")
    ground: CaseCode = Field(
        description="`wrong`, `missing`, `expired`, `infringes`, `automated_decision`."
    )
    reasons: str = Field(description="The subject's reasons (and new facts when filed again).")
    evidence: list[EvidenceFile] = Field(description="Evidence named by digest.")
    channel: str = Field(description="`online`, `window` or `province`.")
    status: CaseCode = Field(description="`submitted`, `accepted`, `rejected`, `decided`.")
    mark: str | None = Field(description="`异议处理中` while open, else null.")
    outcome: ObjectionOutcome | None = Field(description="Once decided.")
    rejection_reason: str | None = Field(description="不予受理: its reasons.")
    statement: str | None = Field(description="本人声明 after a kept or unresolved outcome.")
    clocks: list[CaseClock] = Field(description="受理 and, once accepted, 核查.")
    overdue: str | None = Field(description="A sentence naming the late clock, or null.")
    escalated_at: Instant | None = Field(description="When it was last escalated as late.")
    deadlines: list[CaseDeadline] = Field(description="The area's configured limits.")
    steps: list[CaseStep] = Field(description="Every step, oldest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [OBJECTION_EXAMPLE]})


class ObjectionList(Answer):
    """Objections the caller handles (the office: all; a department: its own)."""

    count: int = Field(description="Number of items.")
    items: list[Objection] = Field(description="By filing day.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1, "items": [OBJECTION_EXAMPLE]}]}
    )


# -- repairs --------------------------------------------------------------------------------


class RepairCondition(Answer):
    """One eligibility condition of a record's repair."""

    code: str = Field(description="`repairable_item`, `adverse`, `minimum_period`, …")
    label: str = Field(description="The condition as met.")
    met: bool = Field(description="Whether it is met today.")
    detail: str = Field(description="What was found (dates, the rule applied).")
    refusal: str | None = Field(description="Not met: why an application is refused.")


class RepairRecordEligibility(Answer):
    """A record's eligibility (repair_rules.Eligibility)."""

    eligible: bool = Field(description="An application is accepted today.")
    repairable: bool = Field(description="It may ever be repaired here (dates aside).")
    available_from: Day | None = Field(description="The first day an application is accepted.")
    message: str = Field(description="`可申请修复：自 2026-12-01 起` or why not.")
    conditions: list[RepairCondition] = Field(description="Every condition checked.")


class RepairMembershipEligibility(Answer):
    """A list entry's eligibility: the list type's repair exit rule."""

    eligible: bool = Field(description="The entry may leave its list by repair today.")
    message: str = Field(description="`可申请修复（移出名单）` or why not.")
    basis: str = Field(description="The rule's reason.")


_CONDITION: JsonDict = {
    "code": "minimum_period",
    "label": "已满最短公示期",
    "met": True,
    "detail": "一般失信信息，最短公示期3个月（至 2026-10-01）",
    "refusal": None,
}
_ELIGIBILITY: JsonDict = {
    "eligible": True,
    "repairable": True,
    "available_from": "2026-10-02",
    "message": "可申请修复：自 2026-10-02 起",
    "conditions": [_CONDITION],
}


class RepairEligibility(RepairRecordEligibility):
    """可申请修复：自 … 起 — a record's conditions before anyone applies."""

    record_id: str = Field(description="The record.")
    item: str = Field(description="Its catalog item code.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"record_id": RECORD_ID, "item": "penalty", **_ELIGIBILITY}]
        }
    )


class ReceiptConsumer(Answer):
    """Who received or read a repaired record."""

    kind: str = Field(description="`department`.")
    id: str = Field(description="The department's id.")
    label: str = Field(description="Its name.")


class RepairReceipt(Answer):
    """A stop-use receipt (回执) of a repaired record."""

    id: int = Field(description="RepairReceipt id (POST /api/v1/repair-receipts/{id}/acknowledge).")
    consumer: ReceiptConsumer = Field(description="Who must stop using the record.")
    via: Literal["delivery", "disclosure"] = Field(
        description="`delivery`: a feed or file; `disclosure`: an authorised read."
    )
    last_seen_at: Instant | None = Field(description="Its last delivery or read.")
    notified_at: Instant = Field(description="When it was told.")
    acknowledged_at: Instant | None = Field(description="When it confirmed, or null.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "consumer": {"kind": "department", "id": "2", "label": "榆林市税务局"},
                    "via": "disclosure",
                    "last_seen_at": AT,
                    "notified_at": "2026-11-25T03:00:00+00:00",
                    "acknowledged_at": None,
                }
            ]
        }
    )


REPAIR_EXAMPLE: JsonDict = {
    "id": REPAIR_ID,
    "subject_id": SUBJECT_ID,
    "target": {"type": "record", "id": RECORD_ID},
    "channel": "online",
    "external_ref": None,
    "status": {"code": "approved", "label": "修复成功"},
    "reasons": "已缴纳罚款并完成整改",
    "commitment_text": "本单位承诺今后依法经营，如有违反愿承担责任",
    "commitment_id": "cmx4k2v7q3pwhtd6yxam",
    "materials": [
        {"code": "performance_proof", "name": "缴款凭证.pdf", "sha256": DIGEST, "size": None}
    ],
    "eligibility": _ELIGIBILITY,
    "decision_reason": "已履行法定义务",
    "decided_on": "2026-11-25",
    "revoked_on": None,
    "clocks": [{**_CLOCK, "due": "2026-11-30", "working_days": 3}],
    "overdue": None,
    "synced_at": None,
    "receipts": [],
    "basis": "《信用修复管理办法》（国家发展改革委令2025年第36号）；国办发〔2025〕22号",
    "steps": [{**_STEP, "actor": "信用办", "note": "已缴纳罚款并完成整改"}],
}


class Repair(Answer):
    """A repair application (信用修复) with its clocks, receipts and steps."""

    id: str = Field(description="Repair id (`RP…`).")
    subject_id: str = Field(description="The applicant subject.")
    target: RepairTarget = Field(description="The record or list entry to repair.")
    channel: str = Field(description="`online`, `window` or `province`.")
    external_ref: str | None = Field(description="The provincial platform's application number.")
    status: CaseCode = Field(
        description="`submitted`, `accepted`, `rejected`, `approved`, `denied`, `revoked`."
    )
    reasons: str = Field(description="How the conduct was corrected.")
    commitment_text: str = Field(description="The repair commitment (信用修复承诺).")
    commitment_id: str | None = Field(description="Approved: the 信用修复型 commitment made.")
    materials: list[MaterialFile] = Field(description="Materials named by digest.")
    eligibility: RepairRecordEligibility | RepairMembershipEligibility = Field(
        description="Eligibility when filed (a record's conditions, or a list entry's rule)."
    )
    decision_reason: str | None = Field(description="Reasons of the decision or revocation.")
    decided_on: Day | None = Field(description="Day of the decision (kept after a revocation).")
    revoked_on: Day | None = Field(description="Day the approval was revoked (虚假材料).")
    clocks: list[CaseClock] = Field(description="受理, 审核 and 修复结果共享.")
    overdue: str | None = Field(description="A sentence naming the late clock, or null.")
    synced_at: Instant | None = Field(description="When the decision went to the province.")
    receipts: list[RepairReceipt] = Field(
        description="Approved: every consumer told to stop using."
    )
    basis: str = Field(description="The repair rules' legal basis.")
    steps: list[CaseStep] = Field(description="Every step, oldest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [REPAIR_EXAMPLE]})


class RepairListExit(Answer):
    """A list entry hanging on the repaired record, and whether it left its list."""

    membership_id: str = Field(description="The list entry.")
    exited: bool = Field(description="Whether it left its list.")
    reason: str | None = Field(default=None, description="Not exited: why.")


class RepairDecision(Repair):
    """The decision's answer; an approval adds what happened to the list entries."""

    list_exits: list[RepairListExit] | None = Field(
        default=None, description="Approval only: each list entry's exit (absent on denial)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **REPAIR_EXAMPLE,
                    "list_exits": [{"membership_id": "m4k2v7q3pwhtd6yxamz4l", "exited": True}],
                }
            ]
        }
    )


class RepairList(Answer):
    """Repair applications (the office: all; a department: its own)."""

    count: int = Field(description="Number of items.")
    items: list[Repair] = Field(description="By filing day.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1, "items": [REPAIR_EXAMPLE]}]}
    )


# -- the inbox ------------------------------------------------------------------------------

_NOTICE: JsonDict = {
    "id": 12,
    "topic": "objection.filed",
    "title": f"新异议待受理：榆林A商贸有限公司 行政处罚 榆市监罚〔2026〕12号（{OBJ_ID}）",
    "body": f"信用记录 {RECORD_ID}，理由：处罚金额与决定书不一致；受理期限 2026-11-27",
    "ref": {"type": "objection", "id": OBJ_ID},
    "created_at": AT,
    "read": False,
}


class InboxNoticeRef(Answer):
    """The case a notice is about."""

    type: str = Field(description="`objection` or `repair`.")
    id: str | None = Field(description="Its id.")


class InboxNotice(Answer):
    """A 站内通知, newest first."""

    id: int = Field(description="InboxNotice id.")
    topic: str = Field(description="`objection.filed`, `repair.stop_use`, `objection` …")
    title: str = Field(description="Title.")
    body: str = Field(description="Text.")
    ref: InboxNoticeRef | None = Field(description="The case, if any.")
    created_at: Instant = Field(description="When.")
    read: bool = Field(description="Whether it was read.")


class Inbox(Answer):
    """One page of the notices of the caller's department or of the credit office."""

    count: int = Field(description="Number of items on this page.")
    total: int = Field(description="Notices in the inbox.")
    unread: int = Field(description="Notices not yet marked read.")
    next_before: int | None = Field(
        description="`before` for the next (older) page; null on the last page."
    )
    items: list[InboxNotice] = Field(description="Newest first.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"count": 1, "total": 1, "unread": 1, "next_before": None, "items": [_NOTICE]}
            ]
        }
    )


class InboxRead(Answer):
    """Notices marked read."""

    marked: int = Field(description="Notices this call marked read.")
    unread: int = Field(description="Notices still unread.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"marked": 3, "unread": 0}]})


class SubjectInbox(Inbox):
    """One page of the notices of the bound subject."""

    subject_id: str = Field(description="The subject.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject_id": SUBJECT_ID,
                    "count": 1,
                    "total": 1,
                    "unread": 1,
                    "next_before": None,
                    "items": [
                        {
                            **_NOTICE,
                            "topic": "objection",
                            "title": f"已受理您的异议（{OBJ_ID}）",
                            "body": "核查期限 2026-12-09",
                        }
                    ],
                }
            ]
        }
    )


# -- authorisations -------------------------------------------------------------------------

AUTHORISATION_EXAMPLE: JsonDict = {
    "id": AUTH_ID,
    "subject_id": SUBJECT_ID,
    "grantee": {"subject_id": BANK_ID, "name": "榆林农村商业银行股份有限公司"},
    "items": [],
    "all_non_public_items": True,
    "evaluation": True,
    "purpose": "贷款审批",
    "valid_from": "2026-11-25",
    "valid_until": "2027-05-01",
    "state": "active",
    "state_label": "有效",
    "revoked_at": None,
    "granted_by": "榆林A商贸有限公司 经办人",
}


class AuthorisationGrantee(Answer):
    """The institution an authorisation lets read."""

    subject_id: str = Field(description="The institution's subject id.")
    name: str = Field(description="Its name.")


class Authorisation(Answer):
    """查询授权: one institution may read the subject's non-public items until a day."""

    id: str = Field(description="Authorisation id (`AU…`).")
    subject_id: str = Field(description="The subject that granted it.")
    grantee: AuthorisationGrantee = Field(description="The institution.")
    items: list[str] = Field(
        description="The scopes the grant names: catalog item codes, and `evaluation` for the "
        "公共信用综合评价 result (empty: none named, see `all_non_public_items`)."
    )
    all_non_public_items: bool = Field(
        description="True when the grant named nothing: it covers the whole archive, every "
        "non-public item and the evaluation (全部信用信息)."
    )
    evaluation: bool = Field(description="The grant covers the 公共信用综合评价 result.")
    purpose: str = Field(description="授权用途 (贷款审批 …).")
    valid_from: Day = Field(description="First day.")
    valid_until: Day = Field(
        description="有效期至: the last valid day (inclusive, Beijing date); expired from the "
        "day after."
    )
    state: Literal["active", "expired", "revoked"] = Field(description="Today's state.")
    state_label: str = Field(description="有效, 已到期, 已撤回.")
    revoked_at: Instant | None = Field(description="When it was revoked.")
    granted_by: str = Field(description="Who granted it (account or window).")

    model_config = ConfigDict(json_schema_extra={"examples": [AUTHORISATION_EXAMPLE]})


class AuthorisationList(Answer):
    """Grants a subject gave, or grants an institution holds; newest first."""

    count: int = Field(description="Number of items.")
    items: list[Authorisation] = Field(description="Newest first.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1, "items": [AUTHORISATION_EXAMPLE]}]}
    )
