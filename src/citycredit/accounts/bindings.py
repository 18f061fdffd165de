"""Subject bindings: an account acts for a subject only after a verified binding.

Two ways to verify (docs/accounts-security.md):

* ``letter`` — the account uploads a signed and stamped 授权委托书 (PDF, JPEG or PNG) for an
  organisation; the file is kept under ``data_dir/evidence`` by its SHA-256, and the credit office
  approves or rejects the request (pending → approved | rejected);
* ``idp`` — an identity provider (陕西政务服务网 for persons, 电子营业执照 for legal
  representatives) vouches for the holder with an assertion carrying the nonce the platform
  issued to this account; at or above ``idp_min_assurance`` the binding is approved at once.

Natural persons bind only through an identity provider: a letter request naming an ID number
would tell anyone whether that person has a credit archive. Approved and pending bindings can be
revoked by their account or by the credit office; the change takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import RequestInfo, add_event
from citycredit.accounts.db import SubjectBindingRow, UserRow
from citycredit.accounts.idp import VerifiedIdentity
from citycredit.accounts.model import Permission, Principal, Role, hidden_as, require
from citycredit.bootstrap import Container
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.shared.idgen import new_id
from citycredit.shared.text import normalise_code
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType

STATUSES = ("pending", "approved", "rejected", "revoked")
NONCE_MINUTES = 10

# Magic numbers of the accepted letter formats.
_FORMATS = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def evidence_dir(c: Container) -> Path:
    """Where authorisation letters are kept (content-addressed by SHA-256)."""
    return c.settings.data_dir / "evidence"


def _evidence_path(c: Container, sha256: str) -> Path:
    return evidence_dir(c) / sha256[:2] / sha256


def _view(
    row: SubjectBindingRow, subject: SubjectRow | None, username: str | None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "username": username,
        "subject_id": row.subject_id,
        "subject_name": subject.name if subject and not _is_person(subject) else None,
        "role": row.role,
        "method": row.method,
        "status": row.status,
        "evidence_sha256": row.evidence_sha256,
        "evidence_name": row.evidence_name,
        "idp": row.idp,
        "assurance": row.assurance,
        "requested_at": row.requested_at.isoformat(),
        "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "note": row.note,
    }


def _is_person(subject: SubjectRow) -> bool:
    return SubjectType(subject.subject_type).is_person


def account_of(s: Session, actor: Principal) -> UserRow:
    require(actor, Permission.request_binding)
    user = s.get(UserRow, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise FieldError("user", actor.label, "no_account", "只有个人账号可以申请代表主体")
    return user


def _check_role_fits(role: Role, subject: SubjectRow) -> None:
    person = _is_person(subject)
    if role is Role.natural_person and not person:
        raise FieldError("subject", subject.subject_id, "role_mismatch", "自然人账号只能绑定本人")
    if role is not Role.natural_person and person:
        raise FieldError(
            "subject", subject.subject_id, "role_mismatch", "机构账号不能绑定自然人主体"
        )


def _no_open_binding(s: Session, user_id: int, subject_id: str) -> None:
    existing = s.scalar(
        select(SubjectBindingRow).where(
            SubjectBindingRow.user_id == user_id,
            SubjectBindingRow.subject_id == subject_id,
            SubjectBindingRow.status.in_(("pending", "approved")),
        )
    )
    if existing is not None:
        raise Conflict(
            f"已有{'待审核' if existing.status == 'pending' else '生效'}的绑定 {existing.id}",
            code="binding_exists",
        )


def _organisation(s: Session, subject: str) -> SubjectRow:
    """An organisation by subject id or USCC (a person's ID number is never accepted here)."""
    key = (subject or "").strip()
    if not key:
        raise FieldError("subject", key, "required", "请指定主体（subject_id 或统一社会信用代码）")
    row = s.get(SubjectRow, key)
    if row is None:
        row = s.scalar(select(SubjectRow).where(SubjectRow.uscc == normalise_code(key)))
    if row is None or _is_person(row):
        raise NotFound(f"未找到机构主体「{key}」", code="subject_not_found")
    return row


def _sniff(content: bytes, filename: str) -> tuple[str, str]:
    for magic, mime, ext in _FORMATS:
        if content.startswith(magic):
            return mime, ext
    raise FieldError(
        "file", filename, "unsupported_type", "授权委托书须为 PDF、JPEG 或 PNG 文件（扫描件）"
    )


def request_letter_binding(
    c: Container,
    actor: Principal,
    *,
    subject: str,
    content: bytes,
    filename: str,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Ask to act for an organisation, with its 授权委托书; the credit office decides."""
    limit = c.settings.security.letter_max_mb * 1024 * 1024
    name = Path(filename or "letter").name[:200]
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = account_of(s, actor)
        if not content:
            raise FieldError("file", name, "required", "请上传授权委托书（file）")
        if len(content) > limit:
            raise FieldError(
                "file", name, "too_large", f"文件超过 {c.settings.security.letter_max_mb} MB"
            )
        mime, _ext = _sniff(content, name)
        role = Role(user.role)
        subj = _organisation(s, subject)
        _check_role_fits(role, subj)
        _no_open_binding(s, user.id, subj.subject_id)
        sha = hashlib.sha256(content).hexdigest()
        path = _evidence_path(c, sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(content)
            tmp.replace(path)
        row = SubjectBindingRow(
            id=new_id("bd"),
            user_id=user.id,
            subject_id=subj.subject_id,
            role=role.value,
            method="letter",
            status="pending",
            evidence_sha256=sha,
            evidence_name=name,
            evidence_type=mime,
            requested_at=now,
        )
        s.add(row)
        add_event(
            s,
            at=now,
            action="binding.request",
            result="success",
            actor=actor,
            request=request,
            object_id=row.id,
            detail={"subject_id": subj.subject_id, "method": "letter", "sha256": sha},
        )
        uow.commit()
        return _view(row, subj, user.username)


def _nonce_mac(c: Container, user_id: int, ts: int) -> str:
    return c.digester.digest("idp-nonce", f"{user_id}.{ts}")[:32]


def idp_nonce(c: Container, actor: Principal) -> dict[str, Any]:
    """A nonce for the identity provider's sign-in, bound to this account (10 minutes)."""
    require(actor, Permission.request_binding)
    if actor.user_id is None:
        raise FieldError("user", actor.label, "no_account", "只有个人账号可以申请代表主体")
    now = c.clock.now()
    ts = int(now.timestamp())
    return {
        "nonce": f"{ts}.{_nonce_mac(c, actor.user_id, ts)}",
        "expires_at": (now + timedelta(minutes=NONCE_MINUTES)).isoformat(),
        "providers": sorted(c.identity_providers),
    }


def _check_nonce(c: Container, user_id: int, nonce: str) -> None:
    ts_text, _, mac = (nonce or "").partition(".")
    now = int(c.clock.now().timestamp())
    ok = ts_text.isdigit() and hmac.compare_digest(mac, _nonce_mac(c, user_id, int(ts_text)))
    if not ok or not 0 <= now - int(ts_text) <= NONCE_MINUTES * 60:
        raise FieldError(
            "id_token", "nonce", "nonce_mismatch", "身份断言不是为本账号本次申请签发的，或已过期"
        )


def subject_for(s: Session, who: VerifiedIdentity) -> SubjectRow | None:
    """The subject an identity provider vouched for, if the platform holds it."""
    if who.kind == "organisation" and who.uscc:
        return s.scalar(select(SubjectRow).where(SubjectRow.uscc == who.uscc))
    if who.kind == "natural_person" and who.id_digest:
        return s.scalar(select(SubjectRow).where(SubjectRow.id_digest == who.id_digest))
    return None


def verify_assertion(
    c: Container, user: UserRow, *, provider: str, id_token: str
) -> tuple[str, VerifiedIdentity]:
    """Check an identity provider's assertion for this account: (provider name, identity)."""
    idp = c.identity_providers.get((provider or "").strip())
    if idp is None:
        known = "、".join(sorted(c.identity_providers)) or "无"
        raise FieldError("provider", provider, "unknown_provider", f"可用的身份提供方：{known}")
    who = idp.verify(
        id_token, now=c.clock.now(), digest=lambda n: c.digester.digest("id-number", n)
    )
    _check_nonce(c, user.id, who.nonce)
    minimum = c.settings.security.idp_min_assurance
    if who.assurance < minimum:
        raise FieldError(
            "id_token",
            f"acr={who.assurance}",
            "assurance_too_low",
            f"身份认证等级 {who.assurance} 低于要求的 {minimum}",
        )
    return idp.name, who


def approve_idp_binding(
    s: Session,
    user: UserRow,
    subj: SubjectRow,
    *,
    idp: str,
    who: VerifiedIdentity,
    actor: Principal,
    now: datetime,
    request: RequestInfo | None = None,
) -> SubjectBindingRow:
    """Add the approved binding an identity provider vouched for (the caller commits)."""
    role = Role(user.role)
    _check_role_fits(role, subj)
    _no_open_binding(s, user.id, subj.subject_id)
    if role is Role.natural_person:
        other = s.scalar(
            select(SubjectBindingRow).where(
                SubjectBindingRow.user_id == user.id, SubjectBindingRow.status == "approved"
            )
        )
        if other is not None:
            raise Conflict("自然人账号只能绑定本人一个主体", code="binding_exists")
    row = SubjectBindingRow(
        id=new_id("bd"),
        user_id=user.id,
        subject_id=subj.subject_id,
        role=role.value,
        method="idp",
        status="approved",
        idp=idp,
        assurance=who.assurance,
        requested_at=now,
        decided_by=f"idp:{idp}",
        decided_at=now,
    )
    s.add(row)
    add_event(
        s,
        at=now,
        action="binding.idp",
        result="success",
        actor=actor,
        request=request,
        object_id=row.id,
        detail={"subject_id": subj.subject_id, "idp": idp, "assurance": who.assurance},
    )
    return row


def bind_by_identity_provider(
    c: Container,
    actor: Principal,
    *,
    provider: str,
    id_token: str,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Bind through an identity provider's assertion (approved at once when assured enough)."""
    with c.uow() as uow:
        s = uow.session
        user = account_of(s, actor)
        idp, who = verify_assertion(c, user, provider=provider, id_token=id_token)
        subj = subject_for(s, who)
        if subj is None:
            raise NotFound("平台尚无与该身份对应的信用主体档案", code="subject_not_found")
        row = approve_idp_binding(
            s, user, subj, idp=idp, who=who, actor=actor, now=c.clock.now(), request=request
        )
        uow.commit()
        return _view(row, subj, user.username)


def _load(s: Session, binding_id: str) -> SubjectBindingRow:
    row = s.get(SubjectBindingRow, binding_id, with_for_update=True)
    if row is None:
        raise NotFound(f"绑定 {binding_id} 不存在", code="binding_not_found")
    return row


def _load_for_reader(s: Session, actor: Principal, binding_id: str) -> SubjectBindingRow:
    """The binding, for its account or the credit office. A role that never reads bindings is
    refused before the lookup; another account's binding answers exactly like a missing one
    (security goal G8)."""
    if not actor.can(Permission.decide_bindings):
        require(actor, Permission.request_binding)
    missing = NotFound(f"绑定 {binding_id} 不存在", code="binding_not_found")
    row = s.get(SubjectBindingRow, binding_id, with_for_update=True)
    if row is None:
        raise missing
    with hidden_as(missing):
        if not actor.can(Permission.decide_bindings) and actor.user_id != row.user_id:
            raise PermissionDenied("只能查看本账号的绑定", code="not_owner")
    return row


def decide_binding(
    c: Container,
    actor: Principal,
    binding_id: str,
    *,
    approve: bool,
    note: str | None = None,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """The credit office approves or rejects a pending letter (a rejection needs a reason)."""
    require(actor, Permission.decide_bindings)
    note = (note or "").strip() or None
    if not approve and not note:
        raise FieldError("note", "", "required", "驳回须说明理由（note）")
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load(s, binding_id)
        if row.status != "pending":
            raise InvalidTransition(
                f"绑定 {binding_id} 当前为 {row.status}，只能审核待审核的申请",
                code="binding_not_pending",
            )
        row.status = "approved" if approve else "rejected"
        row.decided_by, row.decided_by_user_id, row.decided_at = actor.label, actor.user_id, now
        row.note = note
        add_event(
            s,
            at=now,
            action="binding.approve" if approve else "binding.reject",
            result="success",
            actor=actor,
            request=request,
            object_id=row.id,
            detail={"subject_id": row.subject_id, "user_id": row.user_id, "note": note},
        )
        uow.commit()
        user = s.get(UserRow, row.user_id)
        return _view(row, s.get(SubjectRow, row.subject_id), user.username if user else None)


def revoke_binding(
    c: Container,
    actor: Principal,
    binding_id: str,
    *,
    note: str | None = None,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """End a pending or approved binding (its account, or the credit office)."""
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = _load_for_reader(s, actor, binding_id)
        if row.status not in ("pending", "approved"):
            raise InvalidTransition(
                f"绑定 {binding_id} 当前为 {row.status}，不能撤销", code="binding_closed"
            )
        row.status = "revoked"
        row.decided_by, row.decided_by_user_id, row.decided_at = actor.label, actor.user_id, now
        row.note = (note or "").strip() or None
        add_event(
            s,
            at=now,
            action="binding.revoke",
            result="success",
            actor=actor,
            request=request,
            object_id=row.id,
            detail={"subject_id": row.subject_id, "user_id": row.user_id},
        )
        uow.commit()
        user = s.get(UserRow, row.user_id)
        return _view(row, s.get(SubjectRow, row.subject_id), user.username if user else None)


def get_binding(c: Container, actor: Principal, binding_id: str) -> dict[str, Any]:
    """One binding (its account or the credit office)."""
    with c.uow() as uow:
        s = uow.session
        row = _load_for_reader(s, actor, binding_id)
        user = s.get(UserRow, row.user_id)
        return _view(row, s.get(SubjectRow, row.subject_id), user.username if user else None)


def list_bindings(
    c: Container, actor: Principal, *, status: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The credit office's review queue (any status), or an account's own bindings."""
    if status is not None and status not in STATUSES:
        raise FieldError("status", status, "invalid", f"status 只能是 {'、'.join(STATUSES)}")
    stmt = select(SubjectBindingRow, SubjectRow, UserRow).join(
        SubjectRow, SubjectRow.subject_id == SubjectBindingRow.subject_id
    )
    stmt = stmt.join(UserRow, UserRow.id == SubjectBindingRow.user_id)
    if not actor.can(Permission.decide_bindings):
        require(actor, Permission.request_binding)
        stmt = stmt.where(SubjectBindingRow.user_id == actor.user_id)
    if status:
        stmt = stmt.where(SubjectBindingRow.status == status)
    stmt = stmt.order_by(SubjectBindingRow.requested_at.desc()).limit(max(1, min(limit, 1000)))
    with c.uow() as uow:
        return [_view(b, subj, u.username) for b, subj, u in uow.session.execute(stmt)]


def evidence(c: Container, actor: Principal, binding_id: str) -> tuple[bytes, str, str]:
    """The letter of a binding (bytes, media type, file name), checked against its SHA-256."""
    with c.uow() as uow:
        row = _load_for_reader(uow.session, actor, binding_id)
    if not row.evidence_sha256:
        raise NotFound(f"绑定 {binding_id} 没有上传文件", code="no_evidence")
    path = _evidence_path(c, row.evidence_sha256)
    if not path.exists():
        raise NotFound("授权委托书文件缺失", code="evidence_missing")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != row.evidence_sha256:
        raise Conflict("授权委托书文件与登记的摘要不符（可能被篡改）", code="evidence_tampered")
    return data, row.evidence_type or "application/octet-stream", row.evidence_name or "letter"
