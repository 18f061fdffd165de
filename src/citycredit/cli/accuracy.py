"""`citycredit accuracy …`: the published-accuracy check (G40; ingest/accuracy.py).

Registered in cli/main.py with one add_typer line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from citycredit.accounts.model import SYSTEM
from citycredit.cli.common import console
from citycredit.cli.common import fail as _fail
from citycredit.shared.errors import CityCreditError

app = typer.Typer(help="已公示信息准确性核对（与源系统快照比对）", no_args_is_help=True)

RULE_LABELS = {
    "argument": "指定数量",
    "formula": "按公式（±5%，95% 置信度，有限总体修正）",
    "none": "-",
}
TRIGGER_LABELS = {"cli": "命令行", "job": "定时任务", "api": "接口"}
STATUS_LABELS = {"completed": "已完成", "failed": "失败"}
ITEM_STATUS_LABELS = {"ok": "无需处理", "open": "待处理", "closed": "已处理"}


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from citycredit.bootstrap import build_container
    from citycredit.ingest.readers import ReadError

    c = build_container()
    try:
        return fn(c, *args, **kwargs)
    except (CityCreditError, ReadError) as exc:
        _fail(exc)
    finally:
        c.dispose()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _fields(item: dict[str, Any]) -> str:
    if item["reasons"]:
        return "；".join(f"{r['field']}：{r['label']}" for r in item["reasons"])
    parts = []
    for f in item["fields"]:
        if f.get("values_withheld"):
            parts.append(f"{f['field']}（个人信息，不显示取值）")
        else:
            parts.append(f"{f['field']}：公示「{f['published']}」，源系统「{f['source']}」")
    return "；".join(parts)


def _print_report(r: dict[str, Any]) -> None:
    counts = r["counts"]
    console.print(
        f"核对批次 {r['id']}（{STATUS_LABELS.get(r['status'], r['status'])}）："
        f"{r['department']}，信息项 {r['item_name']}（{r['item']}）"
    )
    console.print(f"快照文件 {r['filename']}，{r['snapshot_rows']} 行，sha256 {r['sha256'] or '-'}")
    if r["status"] == "failed":
        error = r.get("error") or {}
        console.print(f"[red]快照无法读取：{error.get('message', '')}[/red]")
        return
    console.print(
        f"公示中记录 {r['population']} 条，抽样 {r['sampled']} 条"
        f"（{RULE_LABELS.get(r['sample_rule'], r['sample_rule'])}，随机种子 {r['seed']}）"
    )
    console.print(
        f"一致 {counts['match']}，不一致 {counts['mismatch']}，"
        f"源系统已无此记录 {counts['missing_at_source']}，"
        f"源数据无法解析 {counts['unparseable_at_source']}"
    )
    console.print(
        f"差错率 {_percent(r['error_rate'])}"
        f"（95% 置信区间 {_percent(r['ci_low'])} – {_percent(r['ci_high'])}）"
    )
    if r.get("uncompared_fields"):
        console.print("未比对字段（快照无此列）：" + "、".join(r["uncompared_fields"]))
    for note in r.get("notes") or []:
        console.print(f"· {note}")
    work = [i for i in r["items"] if i["outcome"] != "match"]
    if not work:
        console.print("抽样记录与源系统一致，无待处理事项")
        return
    console.print(f"待处理 {r['open']} 条（不会自动修改记录；由报送部门更正后重新报送）：")
    for i in work:  # one line each: a record id and the fields are never folded
        status = ITEM_STATUS_LABELS.get(i["status"], i["status"])
        line = f"· 条目 {i['id']}  记录 {i['record_id']} 第 {i['version']} 版  {i['outcome_label']}"
        line += f"（{status}）"
        detail = _fields(i)
        if detail:
            line += f"：{detail}"
        if i.get("note"):
            line += f"；处理说明：{i['note']}"
        console.print(line, markup=False)


@app.command("check")
def check_cmd(
    snapshot: Annotated[Path, typer.Argument(help="源系统快照文件（CSV、XLSX 或 JSON）")],
    department: Annotated[
        str, typer.Option("--department", help="部门统一社会信用代码（或部门名称）")
    ],
    item: Annotated[str, typer.Option("--item", help="信息项代码，如 penalty")],
    sample: Annotated[
        int | None, typer.Option("--sample", help="抽样数量；默认按公式（±5%，95% 置信度）")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="随机种子；相同种子抽到相同记录")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出报告")] = False,
) -> None:
    """Check a sample of the department's published records against its snapshot."""
    from citycredit.ingest.accuracy import run_accuracy_check

    report = _call(
        run_accuracy_check,
        department,
        snapshot,
        item_code=item,
        sample_size=sample,
        seed=seed,
        actor=SYSTEM,
        trigger="cli",
    )
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_report(report)


@app.command("show")
def show_cmd(
    check_id: Annotated[str, typer.Argument(help="核对批次编号")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One check with its work list (the records to follow up)."""
    from citycredit.ingest.accuracy import get_check

    report = _call(get_check, SYSTEM, check_id)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_report(report)


@app.command("list")
def list_cmd(
    department: Annotated[str | None, typer.Option("--department")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent checks, newest first."""
    from citycredit.ingest.accuracy import list_checks

    rows = _call(list_checks, SYSTEM, department=department, limit=limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print("还没有准确性核对")
        return
    for r in rows:  # one line each (a table folds the ids on a narrow terminal)
        console.print(
            f"{r['id']}  {r['created_at'][:19]}  {r['department']}  {r['item']}  "
            f"{STATUS_LABELS.get(r['status'], r['status'])}  "
            f"抽样 {r['sampled']}/{r['population']}  差错率 {_percent(r['error_rate'])}  "
            f"待处理 {r['open']}  {TRIGGER_LABELS.get(r['trigger'], r['trigger'])}",
            markup=False,
        )


@app.command("close")
def close_cmd(
    item_id: Annotated[int, typer.Argument(help="核对条目编号（show 输出的“条目”列）")],
    note: Annotated[str, typer.Option("--note", help="处理说明")],
) -> None:
    """Record what was done about one discrepancy (the record itself is not changed)."""
    from citycredit.ingest.accuracy import close_item

    row = _call(close_item, SYSTEM, item_id, note)
    console.print(f"核对条目 {row['id']}（记录 {row['record_id']}）已处理：{row['note']}")
