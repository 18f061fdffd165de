"""`citycredit alarms …`: the system alarms (G25; db/alarms.py) on the server's console.

`list` shows the unacknowledged alarms (``--all``: every one), `ack ID` acknowledges one (the
acknowledgement is recorded in the audit trail as the console's). Registered in cli/main.py.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import build_container
from citycredit.cli.common import console
from citycredit.cli.common import run as _run

app = typer.Typer(help="系统告警（存储空间不足等）：查看与确认", no_args_is_help=True)


@app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="包括已确认的告警")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Unacknowledged system alarms, newest first (all with --all)."""
    from citycredit.db.alarms import list_alarms

    c = build_container()
    try:
        rows = _run(list_alarms, c, SYSTEM, open_only=not all_)
    finally:
        c.dispose()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print("没有未确认的系统告警" if not all_ else "没有系统告警")
        return
    table = Table("编号", "类型", "发生", "结束", "确认", "位置", "次数")
    for r in rows:
        d = r["detail"] or {}
        table.add_row(
            str(r["id"]),
            r["kind"],
            r["raised_at"],
            r["resolved_at"] or "未结束",
            r["acknowledged_at"] or "未确认",
            str(d.get("where", "")),
            str(d.get("failures", "")),
        )
    console.print(table)


@app.command("ack")
def ack(alarm_id: Annotated[int, typer.Argument(help="告警编号")]) -> None:
    """Acknowledge one system alarm (it stays in the history)."""
    from citycredit.db.alarms import acknowledge

    c = build_container()
    try:
        row = _run(acknowledge, c, SYSTEM, alarm_id)
    finally:
        c.dispose()
    console.print(f"告警 {row['id']}（{row['kind']}）已确认：{row['acknowledged_at']}")
