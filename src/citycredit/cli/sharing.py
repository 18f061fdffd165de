"""`citycredit sharing …`: 共享调度 subscriptions, feeds and the file channel (main.py registers).

The credit office runs these commands: `subscribe` sets up a subscription for a department,
`feeds` pulls a feed as that department would (recorded as a delivery like an API pull),
`write-files` writes the file channel, `sync` runs the fan-out, `consumers` says who received
a record.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import build_container
from citycredit.cli.common import console
from citycredit.cli.common import run as _run

app = typer.Typer(help="共享调度：部门订阅、增量数据流、文件交换", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _fields(specs: list[str]) -> dict[str, list[str]]:
    from citycredit.shared.errors import FieldError

    out: dict[str, list[str]] = {}
    for spec in specs:
        item, sep, code = spec.partition(":")
        if not sep or not item or not code:
            raise FieldError("--field", spec, "invalid", "--field 的格式为 信息项:字段代码")
        out.setdefault(item, []).append(code)
    return out


@app.command("subscribe")
def subscribe(
    department: Annotated[str, typer.Option("--department", help="订阅部门（名称或代码）")],
    name: Annotated[str, typer.Option("--name", help="订阅名称")],
    item: Annotated[list[str] | None, typer.Option("--item", help="信息项代码，可重复")] = None,
    subject: Annotated[list[str] | None, typer.Option("--subject", help="主体编号，可重复")] = None,
    field: Annotated[
        list[str] | None, typer.Option("--field", help="信息项:字段代码，可重复；缺省为全部")
    ] = None,
    channel: Annotated[str, typer.Option("--channel", help="pull 或 file")] = "pull",
    file_format: Annotated[str, typer.Option("--format", help="jsonl 或 csv")] = "jsonl",
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="共享用途（非公开信息必填）")
    ] = None,
    legal_basis: Annotated[str | None, typer.Option("--legal-basis", help="共享依据")] = None,
    personal: Annotated[str, typer.Option("--personal", help="none / masked / clear")] = "none",
    initial_load: Annotated[
        bool, typer.Option("--initial-load/--no-initial-load", help="先送现有记录")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Set up a subscription for a department (as the credit office)."""
    from citycredit.sharing.service import NewSubscription
    from citycredit.sharing.service import subscribe as do_subscribe

    c = build_container()
    fields = _run(_fields, field or [])
    cmd = NewSubscription(
        name=name,
        items=item or [],
        subjects=subject or [],
        fields=fields,
        channel=channel,
        file_format=file_format,
        purpose=purpose,
        legal_basis=legal_basis,
        personal=personal,
        initial_load=initial_load,
        department=department,
    )
    sub = _run(do_subscribe, c, SYSTEM, cmd)
    if as_json:
        _print_json(sub)
        return
    console.print(
        f"已为「{sub['department']}」建立订阅 {sub['id']}（{sub['access']}，{sub['channel']}），"
        f"当前 {sub['last_seq']} 条"
    )


@app.command("list")
def list_subscriptions(
    department: Annotated[str | None, typer.Option("--department")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List subscriptions (all, or one department's)."""
    from citycredit.sharing.service import list_subscriptions as do_list

    subs = _run(do_list, build_container(), SYSTEM, department=department)
    if as_json:
        _print_json(subs)
        return
    table = Table("订阅", "部门", "名称", "信息项", "访问", "方式", "状态", "序号", "已写文件")
    for s in subs:
        table.add_row(
            s["id"],
            s["department"] or "",
            s["name"],
            "、".join(s["items"]) or "（全部）",
            s["access"],
            s["channel"],
            s["status"],
            str(s["last_seq"]),
            str(s["file_after"]),
        )
    console.print(table)


@app.command("feeds")
def feeds(
    subscription: str,
    department: Annotated[str, typer.Option("--department", help="以订阅部门身份拉取")],
    after: Annotated[int, typer.Option("--after")] = 0,
    limit: Annotated[int, typer.Option("--limit")] = 100,
) -> None:
    """Pull a feed as the subscribing department (recorded as a delivery); prints JSON."""
    from citycredit.accounts.service import department_principal
    from citycredit.sharing.service import pull_feed

    c = build_container()
    actor = _run(department_principal, c, department)
    _print_json(_run(pull_feed, c, actor, subscription, after=after, limit=limit))


@app.command("write-files")
def write_files(
    subscription: Annotated[str | None, typer.Option("--subscription")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the pending entries of file subscriptions to data_dir/feeds/<subscription>/."""
    from citycredit.sharing.files import feeds_dir
    from citycredit.sharing.files import write_files as do_write

    c = build_container()
    written = _run(do_write, c, SYSTEM, subscription_id=subscription)
    if as_json:
        _print_json(written)
        return
    if not written:
        console.print("没有待写出的数据")
    for m in written:
        path = feeds_dir(c, m["subscription"]) / m["file"]
        console.print(f"{path}：序号 {m['first_seq']}–{m['last_seq']}，{m['count']} 条")


@app.command("sync")
def sync() -> None:
    """Run the fan-out now (record changes into every subscription's feed)."""
    from citycredit.sharing.fanout import fan_out, open_gaps

    c = build_container()
    n = _run(fan_out, c)
    console.print(f"处理事件 {n} 个；仍在等待的事件编号区间 {len(open_gaps(c))} 个")


@app.command("status")
def status(
    subscription: str,
    to: Annotated[str, typer.Option("--set", help="active / suspended / cancelled")],
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Suspend, resume or cancel a subscription (as the credit office)."""
    from citycredit.sharing.service import change_status

    sub = _run(change_status, build_container(), SYSTEM, subscription, to, reason)
    console.print(f"订阅 {sub['id']} 现为 {sub['status']}")


@app.command("consumers")
def consumers(record_id: str, as_json: JsonOpt = False) -> None:
    """Who received which version of a record, when and through which channel."""
    from citycredit.sharing.service import record_consumers

    data = _run(record_consumers, build_container(), SYSTEM, record_id)
    if as_json:
        _print_json(data)
        return
    table = Table("部门", "订阅", "版本", "类型", "序号", "方式", "游标/文件", "时间")
    for x in data["consumers"]:
        table.add_row(
            x["department"] or "",
            x["subscription_id"],
            str(x["version"]),
            x["kind"],
            str(x["seq"]),
            x["channel"],
            x["cursor"],
            x["delivered_at"],
        )
    console.print(table)
