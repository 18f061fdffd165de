"""Roles, permissions and the acting principal — pure rules, checked in services."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from citycredit.shared.errors import PermissionDenied


class Role(StrEnum):
    """Who is acting. Later issues add subject-side roles (agents, banks)."""

    public = "public"  # anonymous visitor of the portal
    department_staff = "department_staff"  # 信源单位 staff, bound to one department
    credit_office_admin = "credit_office_admin"  # 市信用办 administrator

    @property
    def label(self) -> str:
        return {
            "public": "公众",
            "department_staff": "部门用户",
            "credit_office_admin": "信用办管理员",
        }[self.value]


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
    manage_accounts = "manage_accounts"
    run_jobs = "run_jobs"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.public: frozenset({Permission.read_public, Permission.read_quality}),
    Role.department_staff: frozenset(
        {
            Permission.read_public,
            Permission.read_quality,
            Permission.submit_records,
            Permission.withdraw_records,
            Permission.read_own_submissions,
            Permission.read_authorised,
        }
    ),
    Role.credit_office_admin: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated actor of a request, CLI call or job."""

    role: Role
    label: str
    department_id: int | None = None
    department_name: str | None = None
    user_id: int | None = None
    token_id: int | None = None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


ANONYMOUS = Principal(role=Role.public, label="anonymous")
SYSTEM = Principal(role=Role.credit_office_admin, label="system")


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
