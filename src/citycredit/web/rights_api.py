"""HTTP API v1 for subjects' rights: objections (异议), credit repair (信用修复), the inbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from citycredit.rights import account, authorisations, objections, repairs
from citycredit.rights.notices import (
    INBOX_PAGE,
    SUBJECT,
)
from citycredit.web.deps import AuthenticatedDep, ContainerDep
from citycredit.web.params import BIGINT_MAX, SHA256_HEX, IsoDate, RowId, limit_of
from citycredit.web.schemas import account as own
from citycredit.web.schemas import rights as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1")


class Evidence(BaseModel):
    name: str
    sha256: str = Field(pattern=SHA256_HEX, description="文件的 SHA-256 摘要（64 位十六进制）")
    size: int | None = Field(default=None, ge=0, le=BIGINT_MAX, description="字节数")


class ObjectionBody(BaseModel):
    target_type: str = Field(description="record | evaluation | membership")
    target_id: str
    ground: str = Field(description="wrong | missing | expired | infringes | automated_decision")
    reasons: str
    evidence: list[Evidence] = []
    channel: str = "online"
    new_facts: str | None = Field(
        default=None,
        description="新的事实或理由: required when the same objection (same information, "
        "version and ground) was already 不予受理 or decided",
    )


class NoteBody(BaseModel):
    note: str = ""


class ReasonBody(BaseModel):
    reason: str


class ObjectionDecisionBody(BaseModel):
    outcome: str = Field(description="corrected | withdrawn | kept | unresolved")
    reason: str


class StatementBody(BaseModel):
    text: str


@router.post(
    "/objections",
    status_code=201,
    response_model=out.Objection,
    responses=errors(401, 403, 404, 409, 422),
)
def post_objection(body: ObjectionBody, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """提出异议: the target shows "异议处理中" on every surface until it is decided."""
    return objections.file_objection(
        c,
        actor,
        target_type=body.target_type,
        target_id=body.target_id,
        ground=body.ground,
        reasons=body.reasons,
        evidence=[e.model_dump() for e in body.evidence],
        channel=body.channel,
        new_facts=body.new_facts,
    )


@router.get(
    "/objections",
    response_model=out.ObjectionList,
    responses=errors(401, 403, 422),
)
def get_objections(
    c: ContainerDep, actor: AuthenticatedDep, status: str | None = None, overdue: bool = False
) -> dict[str, Any]:
    """The credit office's (or a department's) objections; `overdue=true` lists late ones."""
    items = objections.list_objections(c, actor, status=status, overdue=overdue)
    return {"count": len(items), "items": items}


@router.get(
    "/objections/{objection_id}",
    response_model=out.Objection,
    responses=errors(401, 403, 404, 422),
)
def get_objection(objection_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One objection and its steps (its subject's side, its department, the credit office)."""
    return objections.get_objection(c, actor, objection_id)


@router.post(
    "/objections/{objection_id}/accept",
    response_model=out.Objection,
    responses=errors(401, 403, 404, 409, 422),
)
def post_accept(
    objection_id: str, body: NoteBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """受理 an objection (credit office): the verification clock starts; the source is told."""
    return objections.accept(c, actor, objection_id, body.note)


@router.post(
    "/objections/{objection_id}/reject",
    response_model=out.Objection,
    responses=errors(401, 403, 404, 409, 422),
)
def post_reject(
    objection_id: str, body: ReasonBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """不予受理 an objection (credit office), with its reasons."""
    return objections.reject(c, actor, objection_id, body.reason)


@router.post(
    "/objections/{objection_id}/decide",
    response_model=out.Objection,
    responses=errors(401, 403, 404, 409, 422),
)
def post_decide(
    objection_id: str, body: ObjectionDecisionBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """核查处理: the deciding department records the outcome (kept, corrected, withdrawn …)."""
    return objections.decide(c, actor, objection_id, outcome=body.outcome, reason=body.reason)


@router.post(
    "/objections/{objection_id}/route",
    response_model=out.Objection,
    responses=errors(401, 403, 404, 409, 422),
)
def post_route(
    objection_id: str, body: NoteBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """督办/转办 (credit office): send an open objection (again) to the deciding department,
    with a note; the department gets a notice, the status does not change."""
    return objections.route(c, actor, objection_id, body.note)


@router.post(
    "/objections/{objection_id}/statement",
    response_model=out.Objection,
    responses=errors(401, 403, 404, 409, 422),
)
def post_statement(
    objection_id: str, body: StatementBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """本人声明 attached to a kept or unresolved objection."""
    return objections.add_statement(c, actor, objection_id, body.text)


InboxBefore = Annotated[
    int | None,
    Query(
        ge=1, le=BIGINT_MAX, description="只返回编号小于此值的通知（翻页：上一页的 next_before）"
    ),
]
InboxUnread = Annotated[bool, Query(description="只返回未读通知")]
InboxLimit = Annotated[int, limit_of(INBOX_PAGE)]


class InboxReadBody(BaseModel):
    up_to: int = Field(
        ge=1, le=BIGINT_MAX, description="把编号不大于此值的通知标为已读（通常为所看到的最新一条）"
    )


@router.get(
    "/inbox",
    response_model=out.Inbox,
    responses=errors(401, 403, 422),
)
def get_inbox(
    c: ContainerDep,
    actor: AuthenticatedDep,
    before: InboxBefore = None,
    unread: InboxUnread = False,
    limit: InboxLimit = INBOX_PAGE,
) -> dict[str, Any]:
    """站内通知 of the caller's department, or of the credit office, newest first, a page at a
    time, with the inbox's total and unread counts."""
    owner = account.staff_inbox(actor)
    return account.read_inbox(c, owner, limit=limit, before=before, unread_only=unread)


@router.post(
    "/inbox/read",
    response_model=out.InboxRead,
    responses=errors(401, 403, 422),
)
def post_inbox_read(
    body: InboxReadBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Mark the caller's (department's or credit office's) notices up to `up_to` read."""
    return account.mark_inbox_read(c, account.staff_inbox(actor), body.up_to)


class Material(BaseModel):
    code: str = Field(description="performance_proof | commitment | other")
    name: str
    sha256: str = Field(pattern=SHA256_HEX, description="文件的 SHA-256 摘要（64 位十六进制）")
    size: int | None = Field(default=None, ge=0, le=BIGINT_MAX, description="字节数")


class RepairBody(BaseModel):
    target_type: str = "record"
    target_id: str
    reasons: str
    commitment_text: str
    materials: list[Material]
    channel: str = "online"
    external_ref: str | None = None


class RepairDecisionBody(BaseModel):
    approve: bool
    reason: str


@router.get(
    "/records/{record_id}/repair-eligibility",
    response_model=out.RepairEligibility,
    responses=errors(401, 403, 404, 422),
)
def get_repair_eligibility(
    record_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """可申请修复：自 … 起 — the conditions and the first day an application is accepted (the
    subject's account, the window, the departments concerned; to others: 404 like a missing one)."""
    return repairs.record_eligibility(c, actor, record_id)


@router.post(
    "/repairs",
    status_code=201,
    response_model=out.Repair,
    responses=errors(401, 403, 404, 409, 422),
)
def post_repair(body: RepairBody, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """申请信用修复 (the subject's account, a service-hall clerk, or forwarded by the province)."""
    return repairs.file_repair(
        c,
        actor,
        target_type=body.target_type,
        target_id=body.target_id,
        reasons=body.reasons,
        commitment_text=body.commitment_text,
        materials=[m.model_dump() for m in body.materials],
        channel=body.channel,
        external_ref=body.external_ref,
    )


@router.get(
    "/repairs",
    response_model=out.RepairList,
    responses=errors(401, 403, 422),
)
def get_repairs(c: ContainerDep, actor: AuthenticatedDep, overdue: bool = False) -> dict[str, Any]:
    """Repair applications (the credit office: all; a department: its own); `overdue=true`
    lists late ones."""
    items = repairs.list_repairs(c, actor, overdue=overdue)
    return {"count": len(items), "items": items}


@router.get(
    "/repairs/{repair_id}",
    response_model=out.Repair,
    responses=errors(401, 403, 404, 422),
)
def get_repair(repair_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One repair application and its steps (its subject's side, its department, the office)."""
    return repairs.get_repair(c, actor, repair_id)


@router.post(
    "/repairs/{repair_id}/accept",
    response_model=out.Repair,
    responses=errors(401, 403, 404, 409, 422),
)
def post_repair_accept(
    repair_id: str, body: NoteBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """受理 a repair application (materials complete): sent to the deciding department."""
    return repairs.accept(c, actor, repair_id, body.note)


@router.post(
    "/repairs/{repair_id}/reject",
    response_model=out.Repair,
    responses=errors(401, 403, 404, 409, 422),
)
def post_repair_reject(
    repair_id: str, body: ReasonBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """不予受理 a repair application, with its reasons (e.g. materials incomplete)."""
    return repairs.reject(c, actor, repair_id, body.reason)


@router.post(
    "/repairs/{repair_id}/decide",
    response_model=out.RepairDecision,
    response_model_exclude_unset=True,  # keys written only in some cases stay absent
    responses=errors(401, 403, 404, 409, 422),
)
def post_repair_decide(
    repair_id: str, body: RepairDecisionBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """认定单位决定: approval stops publication and sharing and lifts list entries."""
    return repairs.decide(c, actor, repair_id, approve=body.approve, reason=body.reason)


@router.post(
    "/repairs/{repair_id}/revoke",
    response_model=out.Repair,
    responses=errors(401, 403, 404, 409, 422),
)
def post_repair_revoke(
    repair_id: str, body: ReasonBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """虚假材料: revoke an approved repair (the record is published again)."""
    return repairs.revoke_for_fraud(c, actor, repair_id, body.reason)


@router.post(
    "/repair-receipts/{receipt_id}/acknowledge",
    response_model=out.RepairReceipt,
    responses=errors(401, 403, 404, 422),
)
def post_receipt_ack(receipt_id: RowId, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """A consumer confirms it stopped using a repaired record."""
    return repairs.acknowledge_receipt(c, actor, receipt_id)


class AuthorisationBody(BaseModel):
    subject_id: str
    grantee: str = Field(description="the institution's USCC (or subject id)")
    purpose: str
    valid_until: IsoDate = Field(
        description="有效期至: the last valid day (inclusive, Beijing date; today at the earliest, "
        "at most 12 months counting today)"
    )
    items: list[str] = []


@router.post(
    "/authorisations",
    status_code=201,
    response_model=out.Authorisation,
    responses=errors(401, 403, 404, 422),
)
def post_authorisation(
    body: AuthorisationBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """查询授权: the subject lets one institution read its non-public items until a date."""
    return authorisations.grant(
        c,
        actor,
        subject_id=body.subject_id,
        grantee=body.grantee,
        purpose=body.purpose,
        valid_until=body.valid_until,
        items=body.items,
    )


@router.get(
    "/authorisations",
    response_model=out.AuthorisationList,
    responses=errors(401, 403, 422),
)
def get_authorisations(
    c: ContainerDep, actor: AuthenticatedDep, subject_id: str | None = None
) -> dict[str, Any]:
    """查询授权 a subject gave (subject side) or an institution holds (institution)."""
    items = authorisations.list_authorisations(c, actor, subject_id)
    return {"count": len(items), "items": items}


@router.post(
    "/authorisations/{authorisation_id}/revoke",
    response_model=out.Authorisation,
    responses=errors(401, 403, 404, 409, 422),
)
def post_revoke(authorisation_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """撤回授权: effective for the next read."""
    return authorisations.revoke(c, actor, authorisation_id)


@router.get(
    "/institution/subjects/{subject_id}/archive",
    response_model=own.AuthorisedArchive,
    response_model_exclude_unset=True,  # keys written only in some cases stay absent
    responses=errors(401, 403, 404, 422),
)
def get_institution_archive(
    subject_id: str, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """A bank's or credit agency's query under a valid authorisation (refused with the reason)."""
    return authorisations.institution_query(c, actor, subject_id)


@router.get(
    "/me/archive",
    response_model=own.MyArchive,
    response_model_exclude_unset=True,  # keys written only in some cases stay absent
    responses=errors(401, 403, 422),
)
def get_my_archive(
    c: ContainerDep, actor: AuthenticatedDep, subject_id: str | None = None
) -> dict[str, Any]:
    """信用账户: the bound subject's full archive, lists, evaluation, objections and repairs."""
    return account.my_archive(c, actor, subject_id)


@router.get(
    "/me/queries",
    response_model=own.MyQueries,
    responses=errors(401, 403, 422),
)
def get_my_queries(
    c: ContainerDep, actor: AuthenticatedDep, subject_id: str | None = None
) -> dict[str, Any]:
    """查询记录: who read the subject's non-public information, why and when."""
    return account.my_queries(c, actor, subject_id)


@router.get(
    "/me/inbox",
    response_model=out.SubjectInbox,
    responses=errors(401, 403, 422),
)
def get_my_inbox(
    c: ContainerDep,
    actor: AuthenticatedDep,
    subject_id: str | None = None,
    before: InboxBefore = None,
    unread: InboxUnread = False,
    limit: InboxLimit = INBOX_PAGE,
) -> dict[str, Any]:
    """站内通知 of the bound subject (objections, repairs), newest first, a page at a time."""
    sid = account.my_subject(actor, subject_id)
    page = account.read_inbox(c, (SUBJECT, sid), limit=limit, before=before, unread_only=unread)
    return {"subject_id": sid, **page}


class SubjectInboxReadBody(InboxReadBody):
    subject_id: str | None = Field(default=None, description="绑定多个主体时必填")


@router.post(
    "/me/inbox/read",
    response_model=out.InboxRead,
    responses=errors(401, 403, 422),
)
def post_my_inbox_read(
    body: SubjectInboxReadBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Mark the bound subject's notices up to `up_to` read."""
    sid = account.my_subject(actor, body.subject_id)
    return account.mark_inbox_read(c, (SUBJECT, sid), body.up_to)
