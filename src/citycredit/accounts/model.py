"""Roles, permissions and the acting principal — pure rules, checked in services.

Three kinds of account (docs/accounts-security.md):

* business accounts of the platform's users: source-department staff and the credit office;
* subject-side accounts that act for a subject (an enterprise, a person, an institution) —
  only for the subjects of their approved bindings (`require_subject_access`);
* the three separated administrators of 等保 2.0 (三权分立): the system administrator
  configures and runs the platform, the security administrator manages accounts and roles, the
  audit administrator reads the operator audit trail. None holds another's permission and none
  holds a business permission; no account ever holds two of these roles (one role per account).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from citycredit.shared.errors import HiddenDenial, NotFound, PermissionDenied


class Role(StrEnum):
    """Who is acting."""

    public = "public"  # anonymous visitor of the portal
    department_staff = "department_staff"  # 信源单位 staff, bound to one department
    credit_office_admin = "credit_office_admin"  # 市信用办 (business administrator)
    # subject-side accounts: act for a subject only through an approved binding
    enterprise_agent = "enterprise_agent"  # 企业经办人 (authorised by letter or 电子营业执照)
    natural_person = "natural_person"  # 自然人本人
    financial_institution = "financial_institution"  # 金融机构
    credit_service_agency = "credit_service_agency"  # 信用服务机构
    # 三权分立 administrators (password + TOTP, no API tokens)
    system_admin = "system_admin"  # 系统管理员
    security_admin = "security_admin"  # 安全管理员
    audit_admin = "audit_admin"  # 审计管理员

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_admin(self) -> bool:
        """One of the three separated administrators (TOTP required, no bearer tokens)."""
        return self in ADMIN_ROLES

    @property
    def is_subject_side(self) -> bool:
        """An account that acts for subjects through bindings."""
        return self in SUBJECT_SIDE_ROLES


ROLE_LABELS: dict[Role, str] = {
    Role.public: "公众",
    Role.department_staff: "部门用户",
    Role.credit_office_admin: "信用办管理员",
    Role.enterprise_agent: "企业经办人",
    Role.natural_person: "自然人",
    Role.financial_institution: "金融机构",
    Role.credit_service_agency: "信用服务机构",
    Role.system_admin: "系统管理员",
    Role.security_admin: "安全管理员",
    Role.audit_admin: "审计管理员",
}

ADMIN_ROLES: frozenset[Role] = frozenset({Role.system_admin, Role.security_admin, Role.audit_admin})
SUBJECT_SIDE_ROLES: frozenset[Role] = frozenset(
    {
        Role.enterprise_agent,
        Role.natural_person,
        Role.financial_institution,
        Role.credit_service_agency,
    }
)


class Permission(StrEnum):
    """What an action needs."""

    read_public = "read_public"
    submit_records = "submit_records"  # 报送 for one's own department
    withdraw_records = "withdraw_records"
    read_own_submissions = "read_own_submissions"
    read_all_submissions = "read_all_submissions"
    read_authorised = "read_authorised"  # non-public archive view with a stated purpose
    resolve_unresolved = "resolve_unresolved"  # clerk's queue of codeless rows
    read_quality = "read_quality"
    manage_accounts = "manage_accounts"  # security administrator: accounts, roles, unlocks
    run_jobs = "run_jobs"
    # subjects' rights
    request_binding = "request_binding"  # ask to act for a subject (letter or identity provider)
    act_for_subject = "act_for_subject"  # act for a bound subject (see require_subject_access)
    decide_bindings = "decide_bindings"  # credit office: approve or reject authorisation letters
    # 三权分立
    configure_system = "configure_system"  # system administrator
    read_audit = "read_audit"  # audit administrator


_BASE = frozenset({Permission.read_public, Permission.read_quality})
_SUBJECT_SIDE = _BASE | {Permission.request_binding, Permission.act_for_subject}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.public: _BASE,
    Role.department_staff: _BASE
    | {
        Permission.submit_records,
        Permission.withdraw_records,
        Permission.read_own_submissions,
        Permission.read_authorised,
    },
    # The credit office runs the business; account management, configuration and the audit
    # trail belong to the three administrators (separation of duties).
    Role.credit_office_admin: _BASE
    | {
        Permission.submit_records,
        Permission.withdraw_records,
        Permission.read_own_submissions,
        Permission.read_all_submissions,
        Permission.read_authorised,
        Permission.resolve_unresolved,
        Permission.run_jobs,
        Permission.decide_bindings,
    },
    Role.enterprise_agent: _SUBJECT_SIDE,
    Role.natural_person: _SUBJECT_SIDE,
    Role.financial_institution: _SUBJECT_SIDE,
    Role.credit_service_agency: _SUBJECT_SIDE,
    Role.system_admin: _BASE | {Permission.configure_system},
    Role.security_admin: _BASE | {Permission.manage_accounts},
    Role.audit_admin: _BASE | {Permission.read_audit},
}

# Permissions that belong to exactly one administrator role (checked by the unit tests).
SEPARATED: dict[Permission, Role] = {
    Permission.configure_system: Role.system_admin,
    Permission.manage_accounts: Role.security_admin,
    Permission.read_audit: Role.audit_admin,
}


@dataclass(frozen=True)
class Principal:
    """The authenticated actor of a request, CLI call or job.

    ``subject_ids`` are the subjects of the account's approved bindings, loaded on every request
    (a revoked binding takes effect at once). ``console`` marks the server's own command line and
    jobs: whoever has a shell on the server is trusted (OPS controls that), and acts as "system".
    """

    role: Role
    label: str
    department_id: int | None = None
    department_name: str | None = None
    user_id: int | None = None
    token_id: int | None = None
    session_id: str | None = None
    subject_ids: frozenset[str] = field(default_factory=frozenset)
    console: bool = False

    def can(self, permission: Permission) -> bool:
        if self.console:
            return True
        return permission in ROLE_PERMISSIONS[self.role]

    def acts_for(self, subject_id: str) -> bool:
        """True when an approved binding lets this account act for the subject."""
        return self.role.is_subject_side and subject_id in self.subject_ids


ANONYMOUS = Principal(role=Role.public, label="anonymous")
SYSTEM = Principal(role=Role.credit_office_admin, label="system", console=True)


def require(actor: Principal, permission: Permission, *, department_id: int | None = None) -> None:
    """Raise PermissionDenied unless the actor holds the permission (for that department)."""
    if not actor.can(permission):
        raise PermissionDenied(
            f"角色「{actor.role.label}」无权执行此操作（{permission.value}）", code="forbidden"
        )
    if (
        department_id is not None
        and actor.role is Role.department_staff
        and actor.department_id != department_id
    ):
        raise PermissionDenied("部门用户只能操作本部门的数据", code="other_department")


def require_identified(actor: Principal, message: str = "此操作需要登录或令牌") -> None:
    """Raise unless the actor is someone (an account, a token, the console): for a route no
    anonymous caller may use, checked before anything is loaded so that the answer (HTTP 401)
    does not depend on whether the object exists."""
    if actor.role is Role.public and not actor.console:
        raise PermissionDenied(message, code="authentication_required")


@contextmanager
def hidden_as(missing: NotFound) -> Iterator[None]:
    """Access checks on an object already loaded: a refusal answers as ``missing`` (G8).

        with hidden_as(NotFound(f"记录 {record_id} 不存在", code="record_not_found")):
            require(actor, Permission.read_own_submissions, department_id=row.department_id)

    Use it for ownership (another department's, another subject's object), and check a role
    that may never use the route before loading anything, so that no answer depends on
    whether the id exists. The audit trail still records the refusal as denied.
    """
    try:
        yield
    except PermissionDenied as refused:
        raise HiddenDenial(missing, refused) from None


def require_subject_access(actor: Principal, subject_id: str, *, office: bool = False) -> None:
    """Raise PermissionDenied unless the actor may act for this subject.

    Subject-side accounts pass only for the subjects of their approved bindings. With
    ``office=True`` the credit office passes too (the service-hall window acting on a subject's
    request). The answer is the same whether the subject exists or not, so it cannot be used to
    probe for other subjects (IDOR, docs/accounts-security.md).
    """
    if office and (actor.role is Role.credit_office_admin or actor.console):
        return
    if actor.can(Permission.act_for_subject) and actor.acts_for(subject_id):
        return
    raise PermissionDenied(
        "当前账号未获授权代表该主体（需经审核的授权委托书或身份认证绑定）",
        code="subject_not_bound",
    )
