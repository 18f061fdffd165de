"""`citycredit accounts security-policy show|set`: the security policy on the server console (G3).

``show`` prints the effective policy, the environment's values, the stored overrides and the
newest changes (the console may read them). ``set FIELD=VALUE … --reason … --user NAME`` changes
it as a person: the security administrator logs in with password and TOTP code (asked on the
terminal, never on the command line), the change is made and audited under that account's name,
and the session is ended. The console alone (``system``) may not change the policy: the trail
must name the administrator. ``FIELD=`` (empty) returns a field to the environment's value.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from citycredit.accounts import auth, policy_store
from citycredit.accounts.audit import RequestInfo
from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import build_container
from citycredit.cli.common import console, err
from citycredit.cli.common import run as _run

app = typer.Typer(help="安全策略：登录失败锁定、会话超时、口令（安全管理员）", no_args_is_help=True)
_CONSOLE = RequestInfo(method="CLI", path="citycredit accounts security-policy set")


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """The effective policy, the environment's values, overrides and the newest changes."""
    view = _run(policy_store.policy_view, build_container(), SYSTEM)
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    table = Table("设置", "生效值", "环境配置值", "取值范围")
    for name, value in view["policy"].items():
        bounds = view["adjustable"][name]
        shown = (
            f"{bounds['min']}–{bounds['max']}" if bounds["max"] is not None else f"≥{bounds['min']}"
        )
        mark = "（已修改）" if name in view["overrides"] else ""
        table.add_row(name, f"{value}{mark}", str(view["environment"][name]), shown)
    console.print(table)
    for ch in view["changes"]:
        what = "，".join(f"{k} {v['old']}→{v['new']}" for k, v in ch["changes"].items())
        console.print(f"#{ch['id']} {ch['at']} {ch['actor_label']}：{what}（理由：{ch['reason']}）")


def _assignments(items: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            err.print(f"[red]错误：设置应写成 字段=值（收到 {item!r}）[/red]")
            raise typer.Exit(2)
        changes[name.strip()] = value.strip() or None
    return changes


def _sign_in(c: Any, username: str) -> auth.SessionIssued:
    """Log the security administrator in (password, then TOTP code); the active session."""
    password = typer.prompt("口令", hide_input=True)
    step = _run(auth.login, c, username=username, password=password, request=_CONSOLE)
    if step.status == "second_factor_required":
        code = typer.prompt("动态口令")
        step = _run(auth.verify_second_factor, c, cookie=step.cookie, code=code, request=_CONSOLE)
    if step.status != "active":
        auth.logout(c, cookie=step.cookie, csrf=step.csrf_token, request=_CONSOLE)
        err.print("[red]错误：该账号须先在网页上修改口令，才能修改安全策略[/red]")
        raise typer.Exit(2)
    return step


@app.command("set")
def set_(
    assignments: Annotated[list[str], typer.Argument(help="字段=值，例如 lockout_threshold=3")],
    reason: Annotated[str, typer.Option("--reason", help="修改理由（必填，记入审计）")],
    user: Annotated[str, typer.Option("--user", help="安全管理员的用户名")],
) -> None:
    """Change lockout, session or password settings as the security administrator."""
    changes = _assignments(assignments)
    _run(policy_store.parse_changes, changes)  # bad fields and values: before the password
    _run(policy_store.check_reason, reason)
    c = build_container()
    session = _sign_in(c, user)
    try:
        actor = _run(auth.authenticate_session, c, session.cookie, request=_CONSOLE)
        done = _run(policy_store.change_policy, c, actor, changes, reason=reason, request=_CONSOLE)
    finally:
        auth.logout(c, cookie=session.cookie, csrf=session.csrf_token, request=_CONSOLE)
    what = "，".join(f"{k} {v['old']}→{v['new']}" for k, v in done["changes"].items())
    console.print(
        f"安全策略已修改（第 {done['change_id']} 次）：{what}；"
        f"其他服务进程在 {policy_store.REFRESH_SECONDS} 秒内生效"
    )
