"""自愿注册: a subject registers itself on the platform through its own account.

The plan (专栏3.5 信用账户, 四(一)4) has subjects manage their own credit: register of their own
accord, publish positive information (`rights.disclosures`), make public commitments. Steps:

1. anyone opens an enterprise-agent or natural-person account (`accounts.service.sign_up`,
   ``POST /api/v1/accounts/sign-up``); it acts for nobody yet;
2. ``POST /api/v1/me/registration`` with an identity provider's assertion (电子营业执照 for a
   legal representative, 陕西政务服务网 for a person) and the profile the subject wants shown.
   The assertion is checked exactly as for a binding (issuer, audience, expiry, signature, the
   account's nonce, the assurance floor). The account is bound to the subject at once, and:

   * an organisation the platform does not hold yet is created from the vouched USCC and name
     (origin ``voluntary``; its type follows the USCC's registration-authority and type codes);
     departments' records about it will then resolve to it by USCC;
   * a natural person is registered only if the platform already holds his or her archive
     (created from departments' records): the platform never receives the ID number from the
     identity provider, only its keyed digest, so it cannot create a person's archive by itself.

The profile of an organisation (introduction, business scope, website, service hotline, service
address) is public on its archive, marked as self-declared; that of a 个体工商户, 农户 or person is
shown only to the subject itself (the same rule as grades: PIPL art. 24). A registration can be
withdrawn: the profile leaves the archive; the binding stays until revoked (a separate act).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import RequestInfo, add_event
from citycredit.accounts.bindings import (
    account_of,
    approve_idp_binding,
    subject_for,
    verify_assertion,
)
from citycredit.accounts.db import SubjectBindingRow
from citycredit.accounts.model import Principal, require_subject_access
from citycredit.bootstrap import Container
from citycredit.evaluation.views import grade_is_public
from citycredit.kernel import outbox
from citycredit.rights.db import VoluntaryRegistrationRow
from citycredit.shared.errors import Conflict, FieldError, NotFound
from citycredit.shared.idgen import new_id
from citycredit.shared.masking import scrub_value
from citycredit.shared.person_names import mask_person_names
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.service import SubjectFacts, SubjectRegistry

ORIGIN = "voluntary"
SELF_DECLARED_NOTE = "以下信息由主体自愿注册时自行填报，平台未作核实"

# Profile fields: (max length, label). Unknown keys are refused, so nothing unexpected is kept.
PROFILE_FIELDS: dict[str, tuple[int, str]] = {
    "introduction": (500, "主体简介"),
    "business_scope": (500, "主营业务"),
    "website": (200, "网站"),
    "service_phone": (30, "服务电话"),
    "service_address": (200, "服务地址"),
}
_PHONE = re.compile(r"^[0-9+\-() ]{5,30}$")


# A person's (or 个体工商户's, 农户's) phone and address are personal data: they are kept sealed
# where departments supply them, so a self-declared profile does not keep them in clear.
CONTACT_FIELDS = frozenset({"service_phone", "service_address"})


def clean_profile(profile: dict[str, Any] | None, *, organisation: bool = True) -> dict[str, str]:
    """The profile as stored: known fields only, trimmed, within their limits; contact fields
    only for organisations whose profile is public."""
    out: dict[str, str] = {}
    for key, value in (profile or {}).items():
        if key not in PROFILE_FIELDS:
            known = "、".join(PROFILE_FIELDS)
            raise FieldError(f"profile.{key}", str(value)[:40], "unknown_field", f"可填：{known}")
        if key in CONTACT_FIELDS and not organisation and str(value or "").strip():
            raise FieldError(
                f"profile.{key}",
                "***",
                "personal_contact",
                "自然人、农户和个体工商户的联系电话和地址属于个人信息，自愿注册信息中不保存",
            )
        limit, label = PROFILE_FIELDS[key]
        text = str(value or "").strip()
        if not text:
            continue
        if len(text) > limit:
            raise FieldError(f"profile.{key}", text[:40], "too_long", f"{label}最多 {limit} 个字符")
        if key == "website" and not text.startswith(("http://", "https://")):
            raise FieldError(f"profile.{key}", text, "invalid", "网站须以 http:// 或 https:// 开头")
        if key == "service_phone" and not _PHONE.match(text):
            raise FieldError(
                f"profile.{key}", text, "invalid", "服务电话只能含数字、+、-、括号和空格"
            )
        out[key] = text
    return out


def _view(row: VoluntaryRegistrationRow, subject: SubjectRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject_id": row.subject_id,
        "subject_name": subject.name,
        "status": row.status,
        "created_subject": row.created_subject,
        "idp": row.idp,
        "binding_id": row.binding_id,
        "profile": dict(row.profile or {}),
        "profile_public": grade_is_public(subject.subject_type),
        "registered_at": row.registered_at.isoformat(),
        "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
    }


def _event(s: Session, row: VoluntaryRegistrationRow, event_type: str, at: Any) -> None:
    outbox.emit(
        s,
        event_type=event_type,
        aggregate_type="voluntary_registration",
        aggregate_id=row.id,
        subject_id=row.subject_id,
        at=at,
        payload={"status": row.status, "created_subject": row.created_subject},
    )


def register(
    c: Container,
    actor: Principal,
    *,
    provider: str,
    id_token: str,
    profile: dict[str, Any] | None = None,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """自愿注册 with an identity provider's assertion; binds the account to the subject."""
    clean_profile(profile)  # field names and limits, before anything is verified
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = account_of(s, actor)
        idp, who = verify_assertion(c, user, provider=provider, id_token=id_token)
        subject = subject_for(s, who)
        created = False
        if subject is None:
            if who.kind != "organisation" or not who.uscc:
                raise NotFound(
                    "平台尚无您的信用档案：自然人档案只由部门报送的信息建立，"
                    "身份认证不向本平台提供身份证号，无法据此新建档案",
                    code="subject_not_found",
                )
            if not (who.name or "").strip():
                raise FieldError("id_token", "name", "required", "身份断言未包含主体名称")
            registry = SubjectRegistry(s, c.digester, now=now, actor_label=actor.label)
            subject = registry.create(SubjectFacts(name=who.name, uscc=who.uscc), origin=ORIGIN)
            created = True
        cleaned = clean_profile(profile, organisation=grade_is_public(subject.subject_type))
        row = s.scalar(
            select(VoluntaryRegistrationRow).where(
                VoluntaryRegistrationRow.subject_id == subject.subject_id
            )
        )
        if row is not None and row.status == "active":
            raise Conflict(
                f"主体「{subject.name}」已于 {row.registered_at.date()} 自愿注册",
                code="already_registered",
            )
        binding = s.scalar(
            select(SubjectBindingRow).where(
                SubjectBindingRow.user_id == user.id,
                SubjectBindingRow.subject_id == subject.subject_id,
                SubjectBindingRow.status == "approved",
            )
        )
        if binding is None:
            binding = approve_idp_binding(
                s, user, subject, idp=idp, who=who, actor=actor, now=now, request=request
            )
        if row is None:
            row = VoluntaryRegistrationRow(id=new_id("vr"), subject_id=subject.subject_id)
            s.add(row)
        row.user_id, row.binding_id, row.idp = user.id, binding.id, idp
        row.created_subject = created or bool(row.created_subject)
        row.profile, row.status = cleaned, "active"
        row.registered_at = row.updated_at = now
        row.withdrawn_at = None
        s.flush()
        add_event(
            s,
            at=now,
            action="registration.voluntary",
            result="success",
            actor=actor,
            request=request,
            object_id=row.id,
            detail={"subject_id": subject.subject_id, "idp": idp, "created_subject": created},
        )
        _event(s, row, "subject.registered_voluntarily", now)
        uow.commit()
        return _view(row, subject)


def _load(
    s: Session, actor: Principal, subject_id: str
) -> tuple[VoluntaryRegistrationRow, SubjectRow]:
    require_subject_access(actor, subject_id, office=True)
    row = s.scalar(
        select(VoluntaryRegistrationRow).where(VoluntaryRegistrationRow.subject_id == subject_id)
    )
    subject = s.get(SubjectRow, subject_id)
    if row is None or subject is None:
        raise NotFound("该主体没有自愿注册", code="registration_not_found")
    return row, subject


def get_registration(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """The subject's registration and profile, as the subject (or the window) sees it."""
    with c.uow() as uow:
        row, subject = _load(uow.session, actor, subject_id)
        return _view(row, subject)


def update_profile(
    c: Container, actor: Principal, subject_id: str, profile: dict[str, Any]
) -> dict[str, Any]:
    """Replace the self-declared profile of an active registration."""
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row, subject = _load(s, actor, subject_id)
        cleaned = clean_profile(profile, organisation=grade_is_public(subject.subject_type))
        if row.status != "active":
            raise Conflict("自愿注册已撤回，请重新注册", code="registration_withdrawn")
        row.profile, row.updated_at = cleaned, now
        _event(s, row, "subject.registration_updated", now)
        uow.commit()
        return _view(row, subject)


def withdraw(c: Container, actor: Principal, subject_id: str) -> dict[str, Any]:
    """撤回自愿注册: the profile leaves the archive (the binding is revoked separately)."""
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row, subject = _load(s, actor, subject_id)
        if row.status != "active":
            raise Conflict("自愿注册已撤回", code="registration_withdrawn")
        row.status, row.withdrawn_at, row.updated_at = "withdrawn", now, now
        _event(s, row, "subject.registration_withdrawn", now)
        uow.commit()
        return _view(row, subject)


def public_profile(
    s: Session, subject: SubjectRow, *, keep_names: tuple[str, ...] | None = ()
) -> dict[str, Any] | None:
    """What the public archive shows of a voluntary registration (organisations only). In its
    free text, ID, phone and account numbers are scrubbed and other persons' names masked
    (G30) except ``keep_names`` (the organisation's own name and 法定代表人); None: the names
    are shown (setting ``mask_names_in_public_text`` off)."""
    if not grade_is_public(subject.subject_type):
        return None
    row = s.scalar(
        select(VoluntaryRegistrationRow).where(
            VoluntaryRegistrationRow.subject_id == subject.subject_id,
            VoluntaryRegistrationRow.status == "active",
        )
    )
    if row is None:
        return None
    return {
        "registered_at": row.registered_at.date().isoformat(),
        "note": SELF_DECLARED_NOTE,
        "profile": {
            key: _public_text(value, keep_names) if key in FREE_TEXT_FIELDS else value
            for key, value in (row.profile or {}).items()
        },
    }


FREE_TEXT_FIELDS = frozenset({"introduction", "business_scope"})


def _public_text(value: Any, keep_names: tuple[str, ...] | None) -> Any:
    value = scrub_value(value)
    return value if keep_names is None else mask_person_names(value, keep=keep_names)
