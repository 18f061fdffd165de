"""Accounts: departments, staff users and bearer tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from citycredit.accounts.audit import RequestInfo, add_event
from citycredit.accounts.db import ApiTokenRow, DepartmentRow, UserRow
from citycredit.accounts.model import ANONYMOUS, Permission, Principal, Role, require
from citycredit.accounts.passwords import check_password, hash_password
from citycredit.accounts.principals import principal_for_user
from citycredit.bootstrap import Container
from citycredit.catalog.model import department_kind
from citycredit.db.uow import UnitOfWork
from citycredit.kernel import outbox
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.shared.ids import parse_uscc

TOKEN_PREFIX = "cc_"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: shown once, stored only as a keyed hash."""

    token: str
    label: str
    role: Role
    department: str | None


def _hash_token(c: Container, token: str) -> str:
    return c.digester.digest("api-token", token)


def _issue_token(
    c: Container,
    uow: UnitOfWork,
    *,
    role: Role,
    label: str,
    department: DepartmentRow | None,
    user_id: int | None = None,
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    uow.session.add(
        ApiTokenRow(
            token_hash=_hash_token(c, token),
            prefix=token[:10],
            role=role.value,
            department_id=department.id if department else None,
            user_id=user_id,
            label=label,
            created_at=c.clock.now(),
        )
    )
    return IssuedToken(token, label, role, department.name if department else None)


def add_department(
    c: Container, actor: Principal, *, name: str, code: str, kind: str = "government"
) -> IssuedToken:
    """Register a source department (信源单位) and issue its submission token."""
    require(actor, Permission.manage_accounts)
    name = name.strip()
    if not name:
        raise FieldError("name", name, "required", "部门名称不能为空")
    uscc = parse_uscc(code, field="code").value
    kind = department_kind(kind)
    with c.uow() as uow:
        s = uow.session
        if s.scalar(select(DepartmentRow).where(DepartmentRow.name == name)):
            raise Conflict(f"部门「{name}」已存在", code="department_exists")
        if s.scalar(select(DepartmentRow).where(DepartmentRow.code == uscc)):
            raise Conflict(
                f"统一社会信用代码 {uscc} 已被其他部门使用", code="department_code_exists"
            )
        dept = DepartmentRow(name=name, code=uscc, kind=kind, created_at=c.clock.now())
        s.add(dept)
        s.flush()
        issued = _issue_token(
            c, uow, role=Role.department_staff, label=f"{name} 报送令牌", department=dept
        )
        add_event(
            s,
            at=c.clock.now(),
            action="account.department_add",
            result="success",
            actor=actor,
            object_id=str(dept.id),
            detail={"name": name, "code": uscc},
        )
        outbox.emit(
            s,
            event_type="department.added",
            aggregate_type="department",
            aggregate_id=str(dept.id),
            at=c.clock.now(),
            payload={"name": name, "code": uscc},
        )
        uow.commit()
        return issued


@dataclass(frozen=True)
class NewAccount:
    """An account just created, without a token (the security administrator's path)."""

    username: str
    role: Role
    department: str | None


def add_user(
    c: Container,
    actor: Principal,
    *,
    username: str,
    display_name: str,
    role: Role,
    department: str | None = None,
    password: str | None = None,
) -> IssuedToken:
    """Create an account (staff, credit office, subject side) and issue its personal token.

    The console's path (``citycredit users add``). A password given here is an initial password:
    the user must change it at the first login, within ``initial_password_hours``
    (docs/accounts-security.md), and until then the token is refused (`authenticate`), so it
    never outlives an unchanged one-time password. Administrators of the three separated roles
    are created by `accounts.manage.add_admin` (TOTP enrolment, no token).
    """
    _, issued = _create_user(
        c,
        actor,
        username=username,
        display_name=display_name,
        role=role,
        department=department,
        password=password,
        issue_token=True,
    )
    assert issued is not None
    return issued


def create_user(
    c: Container,
    actor: Principal,
    *,
    username: str,
    display_name: str,
    role: Role,
    department: str | None = None,
    password: str | None = None,
) -> NewAccount:
    """Create an account and issue no token (`accounts.manage.create_account`).

    Whoever creates the account learns its initial password only; a bearer token handed to the
    creator would give the security administrator the new account's (business) access.
    """
    account, _ = _create_user(
        c,
        actor,
        username=username,
        display_name=display_name,
        role=role,
        department=department,
        password=password,
        issue_token=False,
    )
    return account


def _create_user(
    c: Container,
    actor: Principal,
    *,
    username: str,
    display_name: str,
    role: Role,
    department: str | None,
    password: str | None,
    issue_token: bool,
) -> tuple[NewAccount, IssuedToken | None]:
    require(actor, Permission.manage_accounts)
    if role is Role.public:
        raise FieldError("role", role.value, "not_allowed", "不能创建公众角色账号")
    if role.is_admin:
        raise FieldError(
            "role",
            role.value,
            "not_allowed",
            "管理员账号须用 citycredit accounts add-admin 创建（登记动态口令，不发令牌）",
        )
    username = _valid_username(username)
    if role is Role.department_staff and not department:
        raise FieldError("department", "", "required", "部门用户必须绑定一个部门（--department）")
    if role.is_subject_side and department:
        raise FieldError(
            "department", department, "not_allowed", "主体侧账号不属于部门，须通过绑定代表主体"
        )
    with c.uow() as uow:
        s = uow.session
        if s.scalar(select(UserRow).where(UserRow.username == username)):
            raise Conflict(f"用户名 {username} 已存在", code="user_exists")
        dept = None
        if department:
            dept = s.scalar(select(DepartmentRow).where(DepartmentRow.name == department))
            if dept is None:
                raise NotFound(f"部门「{department}」不存在", code="department_not_found")
        now = c.clock.now()
        user = UserRow(
            username=username,
            display_name=display_name,
            role=role.value,
            department_id=dept.id if dept else None,
            password_hash=hash_password(password, c.settings.security) if password else None,
            password_changed_at=now if password else None,
            must_change_password=bool(password),
            created_at=now,
        )
        s.add(user)
        s.flush()
        add_event(
            s,
            at=now,
            action="account.create",
            result="success",
            actor=actor,
            object_id=username,
            detail={
                "role": role.value,
                "department": dept.name if dept else None,
                "initial_password": bool(password),
                "token_issued": issue_token,
            },
        )
        issued = None
        if issue_token:
            issued = _issue_token(
                c,
                uow,
                role=role,
                label=f"{display_name}（{username}）",
                department=dept,
                user_id=user.id,
            )
        outbox.emit(
            s,
            event_type="user.added",
            aggregate_type="user",
            aggregate_id=str(user.id),
            at=c.clock.now(),
            payload={"username": username, "role": role.value},
        )
        uow.commit()
        return NewAccount(username, role, dept.name if dept else None), issued


def _valid_username(username: str | None) -> str:
    username = (username or "").strip()
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise FieldError("username", username, "invalid", "用户名为 1–64 个可打印字符，不含空格")
    return username


# Roles anyone may open for themselves (自愿注册): they act for nobody until a verified binding.
SIGN_UP_ROLES = (Role.enterprise_agent, Role.natural_person)


def sign_up(
    c: Container,
    *,
    username: str,
    password: str,
    display_name: str,
    role: Role,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Open a subject-side account with a password of one's own choosing (no token issued).

    Allowed while ``security.self_signup`` is on, for the roles in ``SIGN_UP_ROLES``; the account
    then binds a subject through an identity provider or an authorisation letter. Institutions
    (banks, credit agencies) are opened by the security administrator after an agreement.
    """
    policy = c.settings.security
    if not policy.self_signup:
        raise PermissionDenied("本平台未开放自助注册，请到政务服务大厅办理", code="signup_closed")
    if role not in SIGN_UP_ROLES:
        allowed = "、".join(r.value for r in SIGN_UP_ROLES)
        raise FieldError("role", role.value, "not_allowed", f"自助注册只能开设：{allowed}")
    username = _valid_username(username)
    display_name = (display_name or "").strip()[:100] or username
    check_password(password, policy=policy, username=username)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        if s.scalar(select(UserRow).where(UserRow.username == username)):
            raise Conflict(f"用户名 {username} 已存在", code="user_exists")
        user = UserRow(
            username=username,
            display_name=display_name,
            role=role.value,
            department_id=None,
            password_hash=hash_password(password, policy),
            password_changed_at=now,
            must_change_password=False,
            created_at=now,
        )
        s.add(user)
        s.flush()
        add_event(
            s,
            at=now,
            action="account.sign_up",
            result="success",
            actor_label=f"{display_name}（{username}）",
            actor_user_id=user.id,
            actor_role=role.value,
            request=request,
            object_id=username,
            detail={"role": role.value},
        )
        outbox.emit(
            s,
            event_type="user.added",
            aggregate_type="user",
            aggregate_id=str(user.id),
            at=now,
            payload={"username": username, "role": role.value, "self_signup": True},
        )
        uow.commit()
    return {"username": username, "role": role.value, "display_name": display_name}


# The token and its department in one statement of plain columns (no ORM identity): every API
# request runs it.
_TOKEN_LOOKUP = (
    select(
        ApiTokenRow.id,
        ApiTokenRow.role,
        ApiTokenRow.label,
        ApiTokenRow.department_id,
        ApiTokenRow.user_id,
        ApiTokenRow.revoked_at,
        DepartmentRow.name,
    )
    .outerjoin(DepartmentRow, DepartmentRow.id == ApiTokenRow.department_id)
    .where(ApiTokenRow.token_hash == bindparam("token_hash"))
)


def authenticate(c: Container, token: str | None) -> Principal:
    """Turn a bearer token into a principal; no token means the anonymous public."""
    if not token:
        return ANONYMOUS
    # Every API request passes here: one Core statement on a plain connection (no ORM session)
    # in autocommit mode — one round trip, no BEGIN / COMMIT around it, and no ROLLBACK that
    # would discard the connection's prepared statements (see UnitOfWork.finish_read). A
    # user's token also needs the account, through the ORM below.
    with c.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(_TOKEN_LOOKUP, {"token_hash": _hash_token(c, token)}).first()
    if row is None or row.revoked_at is not None:
        raise PermissionDenied("令牌无效或已吊销", code="invalid_token")
    if Role(row.role).is_admin:  # administrators log in with password + TOTP only
        raise PermissionDenied("管理员不能使用令牌，请用口令和动态口令登录", code="invalid_token")
    if row.user_id is None:
        return Principal(
            role=Role(row.role),
            label=row.label,
            department_id=row.department_id,
            department_name=row.name,
            user_id=None,
            token_id=row.id,
        )
    with c.uow() as uow:
        s = uow.session
        user = s.get(UserRow, row.user_id)
        if user is None or user.disabled:
            raise PermissionDenied("账号已停用", code="user_disabled")
        if user.role != row.role:  # the account's role changed since the token was issued
            raise PermissionDenied("令牌与账号角色不符，请重新申请令牌", code="invalid_token")
        if user.must_change_password:  # initial or reset password not yet changed (G5)
            raise PermissionDenied(
                "账号的初始口令尚未修改，令牌暂不可用：请先登录并修改口令",
                code="password_change_required",
            )
        principal = principal_for_user(s, user, label=row.label, token_id=row.id)
        uow.finish_read()
        return principal


def department_principal(c: Container, name: str) -> Principal:
    """The principal for a department by name (CLI ingestion on the department's behalf)."""
    with c.uow() as uow:
        dept = uow.session.scalar(select(DepartmentRow).where(DepartmentRow.name == name))
        if dept is None:
            dept = uow.session.scalar(
                select(DepartmentRow).where(DepartmentRow.code == name.upper())
            )
        if dept is None:
            raise NotFound(
                f"部门「{name}」不存在；先用 citycredit departments add 登记",
                code="department_not_found",
            )
        return Principal(
            role=Role.department_staff,
            label=f"{dept.name}（命令行）",
            department_id=dept.id,
            department_name=dept.name,
        )


def list_departments(c: Container) -> list[DepartmentRow]:
    """All departments, by name."""
    with c.uow() as uow:
        return list(uow.session.scalars(select(DepartmentRow).order_by(DepartmentRow.id)))


def acting_department(s: Session, actor: Principal, department: str | None) -> DepartmentRow:
    """The department an action is taken for: staff act for their own; the office names one.

    Used by every area where a department acts (intake, lists, checks, commitments, sharing).
    Any other role (subject side, administrators) is refused: it never acts for a department.
    """
    department = (department or "").strip() or None
    if actor.role is Role.department_staff:
        dept = s.get(DepartmentRow, actor.department_id)
        if dept is None:
            raise NotFound("令牌绑定的部门不存在", code="department_not_found")
        if department and department not in (dept.name, dept.code):
            raise PermissionDenied("部门用户只能以本部门名义操作", code="other_department")
        return dept
    if not (actor.role is Role.credit_office_admin or actor.console):
        raise PermissionDenied(
            f"角色「{actor.role.label}」不能以部门名义操作（只有部门用户和信用办可以）",
            code="forbidden",
        )
    if not department:
        raise FieldError("department", "", "required", "信用办代为操作时必须指定部门（department）")
    found = s.scalar(
        select(DepartmentRow).where(
            (DepartmentRow.name == department) | (DepartmentRow.code == department.upper())
        )
    )
    if found is None:
        raise NotFound(f"部门「{department}」不存在", code="department_not_found")
    return found
