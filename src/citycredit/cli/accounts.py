"""`citycredit accounts …`: the console's account commands (registered in main.py).

Run on the server itself, these act as the console ("system" in the audit trail): create the
three separated administrators with TOTP enrolment (a fresh installation has none and no default
password), re-enrol a lost authenticator, unlock, disable or enable an account, list accounts,
and run the audit-trail retention purge. Everything they change is recorded in the audit trail.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from citycredit.accounts.model import ADMIN_ROLES, SYSTEM, Role
from citycredit.bootstrap import build_container
from citycredit.cli.common import console, err
from citycredit.cli.common import run as _run
from citycredit.cli.security_policy import app as security_policy_app

app = typer.Typer(help="账号与三员管理（服务器控制台）", no_args_is_help=True)
app.add_typer(security_policy_app, name="security-policy")  # G3 (cli/security_policy.py)
ADMIN_CHOICES = ", ".join(sorted(r.value for r in ADMIN_ROLES))


def _role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or not role.is_admin:
        err.print(f"[red]错误：--role 只能是 {ADMIN_CHOICES}（收到 {value!r}）[/red]")
        raise typer.Exit(2)
    return role


def _print_enrolment(enrol: Any, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "username": enrol.username,
                    "role": enrol.role.value,
                    "initial_password": enrol.initial_password,
                    "totp_secret": enrol.totp_secret,
                    "provisioning_uri": enrol.provisioning_uri,
                },
                ensure_ascii=False,
            )
        )
        return
    console.print(
        f"已为 {enrol.username}（{enrol.role.label}）登记动态口令。以下内容只显示这一次："
    )
    console.print(f"初始口令（24 小时内首次登录时必须修改）：{enrol.initial_password}")
    console.print(f"动态口令密钥：{enrol.totp_secret}")
    console.print("在身份验证器应用中扫描或输入以下链接：")
    print(enrol.provisioning_uri)


@app.command("add-admin")
def add_admin(
    username: str,
    role: Annotated[str, typer.Option("--role", help=ADMIN_CHOICES)],
    name: Annotated[str, typer.Option("--name", help="显示名")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """Create a system, security or audit administrator (password + TOTP, no token)."""
    from citycredit.accounts.manage import add_admin as add

    enrol = _run(
        add,
        build_container(),
        SYSTEM,
        username=username,
        display_name=name or username,
        role=_role(role),
    )
    _print_enrolment(enrol, as_json)


@app.command("reset-totp")
def reset_totp(
    username: str,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """New TOTP secret and initial password for an account (lost authenticator)."""
    from citycredit.accounts.manage import reenrol_totp

    _print_enrolment(_run(reenrol_totp, build_container(), SYSTEM, username), as_json)


@app.command("unlock")
def unlock(username: str) -> None:
    """Lift a lockout now."""
    from citycredit.accounts.manage import unlock as lift

    _run(lift, build_container(), SYSTEM, username)
    console.print(f"已解锁 {username}")


@app.command("disable")
def disable(username: str) -> None:
    """Disable an account: its sessions end and its tokens stop working."""
    from citycredit.accounts.manage import set_disabled

    _run(set_disabled, build_container(), SYSTEM, username, True)
    console.print(f"已停用 {username}")


@app.command("enable")
def enable(username: str) -> None:
    """Enable a disabled account."""
    from citycredit.accounts.manage import set_disabled

    _run(set_disabled, build_container(), SYSTEM, username, False)
    console.print(f"已启用 {username}")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """Every account, its role and authentication state (no secrets)."""
    from citycredit.accounts.manage import list_accounts

    rows = _run(list_accounts, build_container(), SYSTEM)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("用户名", "显示名", "角色", "部门", "状态", "动态口令")
    for a in rows:
        state = "停用" if a["disabled"] else "锁定" if a["locked"] else "正常"
        if a["must_change_password"]:
            state += "（待改口令）"
        table.add_row(
            a["username"],
            a["display_name"],
            Role(a["role"]).label,
            a["department"] or "",
            state,
            "已登记" if a["totp_enrolled"] else "",
        )
    console.print(table)


@app.command("audit-purge")
def audit_purge() -> None:
    """Delete audit events past retention now (never younger than 180 days; audited)."""
    from citycredit.accounts.audit import purge_expired

    detail = _run(purge_expired, build_container(), SYSTEM)
    console.print(
        f"已清理 {detail['deleted']} 条审计记录（早于 {detail['cutoff']}，"
        f"保留期 {detail['retention_days']} 天）"
    )
