"""`citycredit rights …`: objections and credit repair from the command line (registered in
main.py): overdue cases, repair applications forwarded by the provincial platform, and the
decisions sent back to it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import build_container
from citycredit.shared.errors import CityCreditError

app = typer.Typer(help="权益保护：异议、信用修复", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except CityCreditError as exc:
        err.print(f"[red]错误：{exc.message}[/red]")
        raise typer.Exit(2) from None


def _print(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


@app.command("overdue")
def overdue() -> None:
    """逾期未办的异议和修复申请（信用办督办清单）。"""
    from citycredit.rights import objections, repairs

    c = build_container()
    late = {
        "objections": [
            {"id": o["id"], "overdue": o["overdue"]}
            for o in _run(objections.list_objections, c, SYSTEM, overdue=True)
        ],
        "repairs": [
            {"id": r["id"], "overdue": r["overdue"]}
            for r in _run(repairs.list_repairs, c, SYSTEM, overdue=True)
        ],
    }
    _print(late)


@app.command("import-repairs")
def import_repairs(
    path: Annotated[Path, typer.Argument(help="省平台转办的修复申请（JSON 数组）")],
) -> None:
    """导入省平台转办的信用修复申请：逐条登记或说明不予登记的理由。"""
    from citycredit.rights.repairs import import_forwarded

    result = _run(import_forwarded, build_container(), SYSTEM, path)
    _print(result)
    if result["refused"]:
        err.print(f"[yellow]{len(result['refused'])} 条未登记，理由见上[/yellow]")


@app.command("export-repair-decisions")
def export_repair_decisions(
    out: Annotated[Path, typer.Option("--out", help="输出目录")],
    since: Annotated[
        datetime | None, typer.Option("--since", help="重新导出此时间之后的决定（默认：未同步的）")
    ] = None,
) -> None:
    """导出修复决定，回传省平台（JSON、CSV 和清单）。"""
    from citycredit.rights.repairs import export_decisions

    _print(_run(export_decisions, build_container(), SYSTEM, out, since=since))
