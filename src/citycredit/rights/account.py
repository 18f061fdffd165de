"""信用账户: what a subject sees of itself through a bound account — its full archive (non-public
items, ID shown masked), evaluation with reasons, list entries with their exit conditions,
objections and repairs with live legal clocks and marks, the authorisations it granted, and
every disclosure of its non-public information (the inquiry list: who, why, when)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Principal, Role, require_subject_access
from citycredit.bootstrap import Container
from citycredit.kernel.disclosure import channel_label, disclosures_for
from citycredit.lists.db import MembershipRow
from citycredit.lists.service import lists_catalog
from citycredit.rights import authorisations, disclosures, objections, repairs
from citycredit.rights.db import VoluntaryRegistrationRow
from citycredit.rights.notices import (
    CREDIT_OFFICE,
    DEPARTMENT,
    INBOX_PAGE,
    inbox_page,
    mark_read,
)
from citycredit.rights.repairs import repair_view
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import FieldError, NotFound, PermissionDenied


def my_subject(actor: Principal, subject_id: str | None) -> str:
    """The subject this request is about: the one given (checked), else the only bound one."""
    if subject_id:
        require_subject_access(actor, subject_id)
        return subject_id
    bound = sorted(actor.subject_ids)
    if not bound:
        raise PermissionDenied(
            "当前账号尚未绑定信用主体（请先提交授权委托书或通过身份认证绑定）",
            code="subject_not_bound",
        )
    if len(bound) > 1:
        raise FieldError(
            "subject_id",
            "",
            "required",
            f"账号绑定了多个主体，请指定 subject_id：{', '.join(bound)}",
        )
    return bound[0]


def my_archive(c: Container, actor: Principal, subject_id: str | None = None) -> dict[str, Any]:
    """The subject's own archive with everything that concerns its rights."""
    from citycredit.evaluation.views import current_evaluation
    from citycredit.subjects.archive import own_archive

    sid = my_subject(actor, subject_id)
    view = own_archive(c, actor, sid)
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        marks = objections.marks_for(s, sid)
        for group in view["groups"]:
            for entry in group["records"]:
                if entry.get("adverse") and not entry.get("repaired"):
                    record = s.get(repairs.RecordRow, entry["record_id"])
                    if record is not None:
                        e = repairs.record_eligibility_in(s, record, today)
                        entry["repair"] = {"eligible": e.eligible, "message": e.message}
        view["lists"] = _memberships(s, sid, marks)
        view["objections"] = [
            objections.objection_view(c, s, row, today=today)
            for row in objections.subject_objections(s, sid)
        ]
        view["repairs"] = [
            repair_view(c, s, row)
            for row in s.scalars(
                select(repairs.RepairRow)
                .where(repairs.RepairRow.subject_id == sid)
                .order_by(repairs.RepairRow.filed_on, repairs.RepairRow.id)
            )
        ]
        reg = s.scalar(
            select(VoluntaryRegistrationRow).where(VoluntaryRegistrationRow.subject_id == sid)
        )
        view["voluntary_registration"] = (
            {
                "status": reg.status,
                "registered_at": reg.registered_at.isoformat(),
                "profile": dict(reg.profile or {}),
            }
            if reg is not None
            else None
        )
    view["evaluation_detail"] = current_evaluation(c, actor, sid, view="own")
    view["authorisations"] = authorisations.list_authorisations(c, actor, sid)
    view["self_disclosures"] = disclosures.list_disclosures(c, actor, subject_id=sid)
    return view


def require_account_holder(actor: Principal) -> None:
    """The 信用账户 is for accounts that act for subjects (enterprise agents, persons,
    institutions): the public is asked to log in, staff are refused."""
    if actor.role is Role.public:
        raise PermissionDenied("请先登录信用账户", code="authentication_required")
    if not actor.role.is_subject_side:
        raise PermissionDenied(
            "信用账户页面供企业经办人、自然人和授权机构使用；工作人员请使用工作台接口",
            code="forbidden",
        )


def staff_inbox(actor: Principal) -> tuple[str, str]:
    """Whose 站内通知 a staff member reads: the credit office's or their department's."""
    if actor.role is Role.credit_office_admin:
        return CREDIT_OFFICE, "-"
    if actor.role is Role.department_staff and actor.department_id is not None:
        return DEPARTMENT, str(actor.department_id)
    raise PermissionDenied("无权查看通知", code="forbidden")


def read_inbox(
    c: Container,
    owner: tuple[str, str],
    *,
    limit: int = INBOX_PAGE,
    before: int | None = None,
    unread_only: bool = False,
) -> dict[str, Any]:
    """One page of an inbox (`notices.inbox_page`)."""
    with c.uow() as uow:
        return inbox_page(uow.session, *owner, limit=limit, before=before, unread_only=unread_only)


def mark_inbox_read(c: Container, owner: tuple[str, str], up_to: int) -> dict[str, Any]:
    """Mark an inbox's notices up to `up_to` read; how many, and how many stay unread."""
    with c.uow() as uow:
        marked = mark_read(uow.session, *owner, up_to=up_to, at=c.clock.now())
        uow.commit()
        unread = inbox_page(uow.session, *owner, limit=1)["unread"]
    return {"marked": marked, "unread": unread}


def _role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role


def _item_label(c: Container, code: str) -> str:
    """A disclosed part by name: a catalog item's, or the evaluation's."""
    if code == "evaluation":
        return "公共信用综合评价"
    try:
        return c.catalog.item(code).name
    except NotFound:
        return code


def my_queries(c: Container, actor: Principal, subject_id: str | None = None) -> dict[str, Any]:
    """查询记录: every disclosure of the subject's non-public information, newest first."""
    sid = my_subject(actor, subject_id)
    with c.uow() as uow:
        s = uow.session
        rows = disclosures_for(s, sid)
        depts = {d.id: d.name for d in s.scalars(select(DepartmentRow))}
        items = [
            {
                "at": r.at.isoformat(),
                "who": depts.get(r.department_id, r.actor_label)
                if r.department_id
                else r.actor_label,
                "role": r.actor_role,
                "role_label": _role_label(r.actor_role),
                "purpose": r.purpose,
                "items": r.items,
                "item_labels": [_item_label(c, code) for code in r.items],
                "channel": r.channel,
                "channel_label": channel_label(r.channel),
                "authorisation": (r.detail or {}).get("authorisation"),
            }
            for r in sorted(rows, key=lambda r: (r.at, r.id), reverse=True)
        ]
    return {"subject_id": sid, "count": len(items), "items": items}


def _memberships(
    s: Any, sid: str, marks: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The subject's list entries (every status but withdrawn) with how each can end."""
    catalog = lists_catalog()
    out = []
    for m in s.scalars(
        select(MembershipRow)
        .where(MembershipRow.subject_id == sid, MembershipRow.status != "withdrawn")
        .order_by(MembershipRow.created_at)
    ):
        lt = catalog.list_type(m.list_type)
        out.append(
            {
                "id": m.id,
                "list_type": m.list_type,
                "list_name": lt.name,
                "status": m.status,
                "published_on": m.published_on.isoformat() if m.published_on else None,
                "expires_on": m.expires_on.isoformat() if m.expires_on else None,
                "exit_conditions": [
                    {"exit": r.code.value, "min_months": r.min_months, "basis": r.basis}
                    for r in lt.exits
                ],
                "objection_mark": marks.get(("membership", m.id)),
            }
        )
    return out
