"""查询授权: a subject grants an institution access to its non-public information for a
purpose and a period. Checked at every read, so revocation and expiry take effect at once; a
financial institution's query without a valid authorisation is refused with the reason; every
allowed query goes through the disclosure log (the subject's "who looked at my file").

``valid_until`` is the last valid day (有效期至, inclusive, Asia/Shanghai date) wherever it is
read or written: in the API, the views and the messages. The column keeps the exclusive end (the
day after, like ``records.publication_end``; `_last_day` converts), so grants stored before this
rule keep exactly the period they were enforced with.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Principal, Role, hidden_as, require_subject_access
from citycredit.bootstrap import Container
from citycredit.rights.db import AuthorisationRow
from citycredit.rights.objections import require_subject_side
from citycredit.shared.calendar import add_months, last_day, local_date
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.shared.idgen import new_id
from citycredit.shared.text import normalise_code
from citycredit.subjects.db import SubjectRow

EVALUATION_SCOPE = "evaluation"  # the 公共信用综合评价 result, a scope a grant may name
INSTITUTION_ROLES = frozenset({Role.financial_institution, Role.credit_service_agency})
MAX_MONTHS = 12  # an authorisation lasts at most a year (renewed by the subject)


def _grantee(s: Session, ref: str) -> SubjectRow:
    ref = (ref or "").strip()
    row = s.get(SubjectRow, ref) or s.scalar(
        select(SubjectRow).where(SubjectRow.uscc == normalise_code(ref))
    )
    if row is None or row.uscc is None:
        raise FieldError(
            "grantee", ref, "unknown_institution", "被授权机构须为已登记的机构（统一社会信用代码）"
        )
    return row


def grant(
    c: Container,
    actor: Principal,
    *,
    subject_id: str,
    grantee: str,
    purpose: str,
    valid_until: date,
    items: Sequence[str] = (),
) -> dict[str, Any]:
    """授权: the subject (or the window on its written request) lets one institution read."""
    require_subject_access(actor, subject_id, office=True)
    purpose = (purpose or "").strip()
    if len(purpose) < 2:
        raise FieldError("purpose", purpose, "required", "须写明授权用途（purpose），如“贷款审批”")
    unknown = sorted(set(items) - set(c.catalog.items) - {EVALUATION_SCOPE})
    if unknown:
        raise FieldError(
            "items",
            ",".join(unknown),
            "unknown_item",
            "授权范围须为目录中的信息项，或 evaluation（公共信用综合评价结果）",
        )
    now = c.clock.now()
    today = local_date(now)
    if valid_until < today:
        raise FieldError(
            "valid_until",
            valid_until.isoformat(),
            "past",
            f"授权有效期至（最后有效日）不能早于今天（{today}）",
        )
    latest = last_day(add_months(today, MAX_MONTHS))  # 12 months counting today
    if valid_until > latest:
        raise FieldError(
            "valid_until",
            valid_until.isoformat(),
            "too_long",
            f"授权期限最长 {MAX_MONTHS} 个月（有效期至多到 {latest}）",
        )
    with c.uow() as uow:
        s = uow.session
        if s.get(SubjectRow, subject_id) is None:
            raise NotFound(f"主体 {subject_id} 不存在", code="subject_not_found")
        institution = _grantee(s, grantee)
        if institution.subject_id == subject_id:
            raise FieldError("grantee", grantee, "self", "不能授权给自己")
        row = AuthorisationRow(
            id=new_id("AU"),
            subject_id=subject_id,
            grantee_subject_id=institution.subject_id,
            items=sorted(set(items)),
            purpose=purpose,
            valid_from=today,
            valid_until=valid_until + timedelta(days=1),  # stored exclusive (module docstring)
            status="active",
            granted_by=actor.label,
            granted_by_user_id=actor.user_id,
            created_at=now,
        )
        s.add(row)
        uow.commit()
        return _view(row, institution.name, today)


def revoke(c: Container, actor: Principal, authorisation_id: str) -> dict[str, Any]:
    """撤回授权: effective for the next read (another subject's grant answers like a missing one:
    security goal G8)."""
    require_subject_side(actor, "只能撤回本主体的授权")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        missing = NotFound(f"授权 {authorisation_id} 不存在", code="authorisation_not_found")
        row = s.get(AuthorisationRow, authorisation_id)
        if row is None:
            raise missing
        with hidden_as(missing):
            require_subject_access(actor, row.subject_id, office=True)
        if row.status == "revoked":
            raise Conflict(f"授权 {authorisation_id} 已撤回", code="already_revoked")
        row.status, row.revoked_at, row.revoked_by = "revoked", now, actor.label
        uow.commit()
        return _view(row, _name(s, row.grantee_subject_id), local_date(now))


def list_authorisations(
    c: Container, actor: Principal, subject_id: str | None = None
) -> list[dict[str, Any]]:
    """A subject's grants (subject side), or the grants an institution holds (institution)."""
    today = local_date(c.clock.now())
    with c.uow() as uow:
        s = uow.session
        q = select(AuthorisationRow).order_by(AuthorisationRow.created_at.desc())
        if subject_id is not None:
            require_subject_access(actor, subject_id, office=True)
            q = q.where(AuthorisationRow.subject_id == subject_id)
        elif actor.role in INSTITUTION_ROLES:
            q = q.where(AuthorisationRow.grantee_subject_id.in_(actor.subject_ids or {"-"}))
        elif actor.subject_ids:
            q = q.where(AuthorisationRow.subject_id.in_(actor.subject_ids))
        else:
            raise PermissionDenied("请指定主体（subject_id）", code="forbidden")
        return [_view(r, _name(s, r.grantee_subject_id), today) for r in s.scalars(q)]


def valid_authorisation(
    s: Session, actor: Principal, subject_id: str, today: date
) -> AuthorisationRow:
    """The authorisation this institution holds for the subject today (valid_from ≤ today ≤ its
    last valid day), or PermissionDenied with the reason (none, revoked on …, expired on …)."""
    if actor.role not in INSTITUTION_ROLES:
        raise PermissionDenied("只有金融机构和信用服务机构凭授权查询", code="forbidden")
    if not actor.subject_ids:
        raise PermissionDenied(
            "机构账号尚未绑定本机构主体，无法使用授权", code="institution_not_bound"
        )
    rows = list(
        s.scalars(
            select(AuthorisationRow)
            .where(
                AuthorisationRow.subject_id == subject_id,
                AuthorisationRow.grantee_subject_id.in_(actor.subject_ids),
            )
            .order_by(AuthorisationRow.created_at.desc())
        )
    )
    for r in rows:
        if r.status == "active" and r.valid_from <= today <= _last_day(r):
            return r
    if not rows:
        raise PermissionDenied("该主体未授权贵机构查询其非公开信用信息", code="no_authorisation")
    r = rows[0]
    if r.status == "revoked" and r.revoked_at is not None:
        reason = f"授权 {r.id} 已于 {local_date(r.revoked_at)} 撤回"
    elif today > _last_day(r):
        reason = f"授权 {r.id} 已于 {_last_day(r)} 到期"  # = 有效期至 (its last valid day)
    else:
        reason = f"授权 {r.id} 自 {r.valid_from} 起生效"
    raise PermissionDenied(reason, code="authorisation_invalid")


def covers(r: AuthorisationRow) -> tuple[frozenset[str] | None, bool]:
    """What a grant covers: its catalog items (None: every item) and whether the grade.

    A grant that names nothing covers the whole archive, the evaluation included; one that
    names a scope covers exactly what it names (catalog items, and ``evaluation`` for the
    公共信用综合评价 result)."""
    if not r.items:
        return None, True
    return frozenset(r.items) - {EVALUATION_SCOPE}, EVALUATION_SCOPE in r.items


def institution_query(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """授权查询: what the subject authorised, plus what is public anyway (records, lists, an
    organisation's grade) marked as public; logged with the purpose and exactly what went
    beyond the public view."""
    from citycredit.lists.service import public_subject_lists
    from citycredit.subjects.archive import consented_archive

    today = local_date(c.clock.now())
    with c.uow() as uow:
        auth = valid_authorisation(uow.session, actor, subject_id, today)
        auth_id, purpose = auth.id, auth.purpose
        items, evaluation = covers(auth)
        used = {
            "id": auth_id,
            "purpose": purpose,
            "items": list(auth.items or []),
            "all_non_public_items": not auth.items,
            "evaluation": evaluation,
            "valid_until": _last_day(auth).isoformat(),
        }
    view = consented_archive(
        c,
        actor,
        subject_id,
        purpose=purpose,
        items=items,
        evaluation=evaluation,
        authorisation_id=auth_id,
    )
    listed = public_subject_lists(c, actor, subject_id)
    view["public_lists"] = {"lists": listed["lists"], "measures": listed["measures"]}
    view["authorisation"] = used
    view["scope_note"] = _scope_note(c, items, evaluation)
    return view


def _scope_note(c: Container, items: frozenset[str] | None, evaluation: bool) -> str:
    """What the reader sees and why, in words (shown with every institution's read)."""
    if items is None:
        granted = "全部信用信息"
    else:
        names = [c.catalog.items[code].name for code in c.catalog.items if code in items]
        if evaluation:
            names.append("公共信用综合评价结果")
        granted = "、".join(names) or "（无）"
    note = f"本次查询的授权范围：{granted}。"
    if not evaluation:
        note += "授权未包括公共信用综合评价结果，仅在其依规向社会公开时显示。"
    return note + "授权范围以外显示的记录、名单和评价结果均为向社会公开的信息（标注“公开”）。"


def _name(s: Session, subject_id: str) -> str:
    row = s.get(SubjectRow, subject_id)
    return row.name if row else subject_id


def _last_day(r: AuthorisationRow) -> date:
    """有效期至: the last day the authorisation is valid (the column holds the day after)."""
    return last_day(r.valid_until)


def _view(r: AuthorisationRow, grantee_name: str, today: date) -> dict[str, Any]:
    if r.status == "revoked":
        state = "revoked"
    elif today > _last_day(r):
        state = "expired"
    else:
        state = "active"
    return {
        "id": r.id,
        "subject_id": r.subject_id,
        "grantee": {"subject_id": r.grantee_subject_id, "name": grantee_name},
        "items": list(r.items or []),
        "all_non_public_items": not r.items,  # none named: the whole archive
        "evaluation": covers(r)[1],
        "purpose": r.purpose,
        "valid_from": r.valid_from.isoformat(),
        "valid_until": _last_day(r).isoformat(),  # 有效期至 (inclusive)
        "state": state,
        "state_label": {"active": "有效", "expired": "已到期", "revoked": "已撤回"}[state],
        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        "granted_by": r.granted_by,
    }


__all__ = [
    "EVALUATION_SCOPE",
    "covers",
    "grant",
    "institution_query",
    "list_authorisations",
    "revoke",
    "valid_authorisation",
]
