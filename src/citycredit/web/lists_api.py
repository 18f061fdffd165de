"""HTTP API of 名单: public lists and the local listing workflow (parse → one service → render)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from citycredit.lists import service as lists
from citycredit.lists.model import ExitCode
from citycredit.lists.paging import MAX_CURSOR_LENGTH
from citycredit.shared.errors import FieldError
from citycredit.web.deps import AuthenticatedDep, ContainerDep, PrincipalDep
from citycredit.web.params import IsoDate, Offset, limit_of
from citycredit.web.schemas import lists as out
from citycredit.web.schemas.common import errors

router = APIRouter(prefix="/api/v1")

# A step's answer: the membership (its notice is empty before 告知: the keys stay absent).
MEMBERSHIP: dict[str, Any] = {
    "response_model": out.Membership,
    "response_model_exclude_unset": True,
    "responses": errors(401, 403, 404, 409, 422),
}


class ProposeBody(BaseModel):
    list_type: str
    subject_id: str
    document_no: str
    reasons: str
    department: str | None = None


class NotifyBody(BaseModel):
    basis: str | None = None


class ObjectionNoteBody(BaseModel):
    note: str


class DecideBody(BaseModel):
    decision_no: str
    period_months: int | None = None


class ReasonBody(BaseModel):
    reason: str


class ExitBody(BaseModel):
    # repair | objection_upheld | court_release | decision_revoked | performance_completed
    exit_code: str
    ref: str  # repair case, objection case, court or revoking document number
    reason: str | None = None  # decision_revoked / performance_completed: why (required)
    on: IsoDate | None = None  # decision_revoked / performance_completed: effective day


# The public lists are hot public reads (the portal, G28's latency targets): their answers are
# documented (`responses=`), not validated per request (no `response_model`).
@router.get(
    "/lists",
    response_model=None,
    responses={200: {"model": out.ListTypes, "description": "Every list type."}},
)
def get_list_types(c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """Every list type with its legal basis and period."""
    return {"list_types": lists.public_list_types(c, actor)}


@router.get(
    "/lists/{list_type}",
    response_model=None,
    responses={
        200: {"model": out.PublicList, "description": "A page of the public list."},
        **errors(404, 422),
    },
)
def get_public_list(
    list_type: str,
    c: ContainerDep,
    actor: PrincipalDep,
    limit: Annotated[int, limit_of(500)] = 100,
    offset: Offset = 0,
    after: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="上一页返回的 next_after（按游标翻页）"),
    ] = None,
) -> dict[str, Any]:
    """A public list: published, unexpired entries, masked (rules.md §13.4); pages by
    ``offset`` or by the previous page's ``next_after`` (lists.paging)."""
    return lists.public_list(c, actor, list_type, limit=limit, offset=offset, after=after)


@router.get(
    "/subjects/{subject_id}/lists",
    response_model=None,
    responses={
        200: {"model": out.SubjectLists, "description": "The subject's public lists."},
        **errors(404, 422),
    },
)
def get_subject_lists(subject_id: str, c: ContainerDep, actor: PrincipalDep) -> dict[str, Any]:
    """A subject's public memberships in force today."""
    return lists.public_subject_lists(c, actor, subject_id)


@router.post(
    "/memberships",
    status_code=201,
    response_model=out.MembershipCreated,
    responses=errors(401, 403, 404, 409, 422),
)
def post_membership(body: ProposeBody, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """拟列入 (department staff of a department the list names, or the credit office)."""
    membership_id = lists.propose(
        c,
        actor,
        list_type=body.list_type,
        subject_id=body.subject_id,
        document_no=body.document_no,
        reasons=body.reasons,
        department=body.department,
    )
    return {"id": membership_id, "status": "proposed"}


@router.get(
    "/memberships/{membership_id}",
    response_model=out.Membership,
    response_model_exclude_unset=True,
    responses=errors(401, 403, 404, 422),
)
def get_membership(membership_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """A membership and its time-stamped steps."""
    return lists.get_membership(c, actor, membership_id)


@router.post("/memberships/{membership_id}/notify", **MEMBERSHIP)
def post_notify(
    membership_id: str, c: ContainerDep, actor: AuthenticatedDep, body: NotifyBody | None = None
) -> dict[str, Any]:
    """告知: reasons, basis, rights and the objection window."""
    return lists.notify(c, actor, membership_id, basis=body.basis if body else None)


@router.post("/memberships/{membership_id}/objections", **MEMBERSHIP)
def post_objection(
    membership_id: str, body: ObjectionNoteBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Register a 陈述申辩/异议 received in the notice window."""
    lists.register_objection(c, actor, membership_id, body.note)
    return lists.get_membership(c, actor, membership_id)


@router.post("/memberships/{membership_id}/objections/answer", **MEMBERSHIP)
def post_objection_answer(
    membership_id: str, body: ObjectionNoteBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """The objection was answered (not upheld)."""
    lists.answer_objection(c, actor, membership_id, body.note)
    return lists.get_membership(c, actor, membership_id)


@router.post("/memberships/{membership_id}/decide", **MEMBERSHIP)
def post_decide(
    membership_id: str, body: DecideBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """列入决定 (after the objection window, no pending objection)."""
    return lists.decide(
        c, actor, membership_id, decision_no=body.decision_no, period_months=body.period_months
    )


@router.post(
    "/memberships/{membership_id}/publish",
    response_model=out.Membership,
    response_model_exclude_unset=True,
    responses=errors(401, 403, 404, 409, 422),
)
def post_publish(membership_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """公示 (never without prior notice)."""
    return lists.publish(c, actor, membership_id)


@router.post("/memberships/{membership_id}/withdraw", **MEMBERSHIP)
def post_withdraw(
    membership_id: str, body: ReasonBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """撤回 before publication."""
    lists.withdraw(c, actor, membership_id, body.reason)
    return lists.get_membership(c, actor, membership_id)


_EXITS = {
    "repair": lists.exit_on_repair,
    "objection_upheld": lists.exit_on_objection_upheld,
    "court_release": lists.exit_on_court_release,
}
# Exits the deciding department (or the credit office) records with a reason and a date.
_DATED_EXITS = {
    "decision_revoked": ExitCode.decision_revoked,
    "performance_completed": ExitCode.performance_completed,
}


@router.post("/memberships/{membership_id}/exit", **MEMBERSHIP)
def post_exit(
    membership_id: str, body: ExitBody, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """提前移出: repair, objection upheld, court release, decision revoked or performance
    completed (each checks exit_allowed; the last two need a reason and take a date)."""
    code = _DATED_EXITS.get(body.exit_code)
    if code is not None:
        return lists.exit_documented(
            c, actor, membership_id, code, ref=body.ref, reason=body.reason or "", on=body.on
        )
    hook = _EXITS.get(body.exit_code)
    if hook is None:
        allowed = "、".join([*_EXITS, *_DATED_EXITS])
        raise FieldError("exit_code", body.exit_code, "invalid", f"可用：{allowed}")
    return hook(c, actor, membership_id, body.ref)
