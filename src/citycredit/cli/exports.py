"""`citycredit export …`: outbound exports (双公示 for the provincial platform).

Registered in cli/main.py with one add_typer line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from citycredit.accounts.model import SYSTEM
from citycredit.shared.errors import CityCreditError

app = typer.Typer(help="数据导出（双公示报送省级平台）", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

SINCE_HELP = (
    "起始时间（不含）：YYYY-MM-DD 或 YYYY-MM-DDTHH:MM[:SS]（北京时间）；默认接上次日常导出；"
    "指定时为补发该时段（不影响日常导出的起点）"
)
UNTIL_HELP = (
    "截止时间（含）：日期表示当日结束（次日 00:00），故不能是今天；不能晚于当前时间；默认当前时间"
)


def _fail(exc: Exception) -> None:
    message = getattr(exc, "message", str(exc))
    field = getattr(exc, "field", None)
    value = getattr(exc, "value", None)
    detail = f"（字段 {field}，值 {value!r}）" if field else ""
    err.print(f"[red]错误：{message}{detail}[/red]")
    raise typer.Exit(2)


def _print(done: dict[str, Any]) -> None:
    console.print(
        f"导出批次 {done['id']}（{done['mode']}）：{done['since'] or '最早'} 之后至 "
        f"{done['until']}，共 {done['counts']['total']} 条；目录 {done['directory']}"
    )
    table = Table("信息项", "新增", "更新", "删除", "合计")
    for item in ("licence", "penalty"):
        n = done["counts"][item]
        table.add_row(item, str(n["新增"]), str(n["更新"]), str(n["删除"]), str(n["total"]))
    console.print(table)
    for f in done["files"]:
        console.print(f"· {f['name']}  {f['bytes']} 字节  sha256 {f['sha256']}")


@app.command("dual-publicity")
def dual_publicity(
    since: Annotated[str | None, typer.Option("--since", help=SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option("--until", help=UNTIL_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="输出目录；默认 数据目录/exports/dual_publicity/…")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv、json 或 csv,json")] = "csv,json",
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出导出记录")] = False,
) -> None:
    """Export licence and penalty changes in the national CF_*/XK_* layout, with a manifest."""
    from citycredit.bootstrap import build_container
    from citycredit.exports.service import export_dual_publicity

    c = build_container()
    try:
        done = export_dual_publicity(
            c,
            SYSTEM,
            since=since or None,  # parsed by the service, which quotes the text in its errors
            until=until or None,
            out_dir=out,
            formats=fmt.split(","),
            trigger="cli",
        )
    except CityCreditError as exc:
        _fail(exc)
        return
    finally:
        c.dispose()
    if as_json:
        print(json.dumps(done, ensure_ascii=False, indent=2))
    else:
        _print(done)


@app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent exports with their period, status and row counts."""
    from citycredit.bootstrap import build_container
    from citycredit.exports.service import list_exports

    c = build_container()
    try:
        rows = list_exports(c, SYSTEM, limit=limit)
    finally:
        c.dispose()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    heads = ("起始（不含）", "截止（含）", "状态", "条数", "触发")
    table = Table(
        Column("批次", no_wrap=True, min_width=21),  # the full id, never "…"
        *(Column(h, overflow="fold") for h in heads),
    )
    for r in rows:
        total = (r["counts"] or {}).get("total", "-")
        table.add_row(
            r["id"], r["since"] or "最早", r["until"], r["status"], str(total), r["trigger"]
        )
    console.print(table)
