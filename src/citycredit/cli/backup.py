"""`citycredit db backup` and `citycredit db restore` (registered on `db` in main.py).

The work is in `citycredit.db.backup`; these print the manifest and the restore report
(docs/operations.md). Exit codes: 0 ok; 1 restored but a check failed (counts, revision,
ledger, personal data); 2 refused or failed (bad input, damaged backup, non-empty target,
missing pg_dump / pg_restore).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from citycredit.shared.errors import CityCreditError

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(exc: CityCreditError) -> None:
    field = getattr(exc, "field", None)
    value = getattr(exc, "value", None)
    detail = f"（字段 {field}，值 {value!r}）" if field else ""
    err.print(f"错误：{exc.message}{detail}", style="red", markup=False, highlight=False)
    raise typer.Exit(2)


def backup(
    dest: Annotated[Path, typer.Argument(help="备份目录（不存在或为空）")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出清单")] = False,
) -> None:
    """在线备份数据库与 data_dir 中的必要文件（不含任何密钥）。"""
    from citycredit.bootstrap import build_container
    from citycredit.db.backup import backup as run_backup

    c = build_container()
    try:
        manifest = run_backup(c, dest)
    except CityCreditError as e:
        _fail(e)
        return
    finally:
        c.dispose()
    if as_json:
        print(json.dumps(manifest, ensure_ascii=False, indent=2))
        return
    cp = (manifest.get("ledger") or {}).get("checkpoint")
    keys = manifest["keys"]
    console.print(
        f"已备份到 {dest}（{manifest['dialect']}，迁移版本 {manifest['alembic_revision']}，"
        f"快照 {manifest['snapshot_at']}）：{len(manifest['tables'])} 张表 {manifest['rows']} 行，"
        f"{len(manifest['files'])} 个文件"
    )
    console.print(
        "数据链检查点：" + (f"大小 {cp['size']}，树根 {cp['root']}" if cp else "无"),
    )
    console.print(
        "恢复后解密需要的密钥编号：数据密钥 "
        + ("、".join(keys["personal_data_key_ids"]) or "无")
        + "；盲索引密钥 "
        + ("、".join(keys["personal_index_key_ids"]) or "无")
    )
    console.print(keys["note"], style="yellow", markup=False)


def restore(
    src: Annotated[Path, typer.Argument(help="备份目录（含 manifest.json）")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="目标数据库 URL（默认 CITYCREDIT_DATABASE_URL）；不存在的 PostgreSQL 库会被创建",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="恢复文件的数据目录（默认 CITYCREDIT_DATA_DIR）"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="覆盖非空的目标数据库和数据目录中不同的文件")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出报告")] = False,
) -> None:
    """从备份恢复到新库，并校验行数、迁移版本、数据链检查点与个人信息解密；报告 RTO。"""
    from citycredit.db.backup import restore as run_restore
    from citycredit.settings import Settings

    try:
        report = run_restore(src, Settings(), to=to, data_dir=data_dir, force=force)
    except CityCreditError as e:
        _fail(e)
        return
    data = report.as_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        _print_report(data)
    if not report.ok:
        raise typer.Exit(1)


def _mark(ok: Any) -> str:
    return "[green]通过[/green]" if ok else "[red]不通过[/red]"


def _print_report(d: dict[str, Any]) -> None:
    console.print(
        f"已恢复到 {d['target']}（数据目录 {d['data_dir']}），备份快照 {d['snapshot_at']}"
    )
    table = Table("校验", "结果", "说明")
    mism = d["count_mismatches"]
    table.add_row(
        "各表行数 = 清单",
        _mark(d["counts_ok"]),
        f"{d['rows']} 行"
        + ("" if not mism else "；不符：" + "，".join(f"{t} {v}" for t, v in mism.items())),
    )
    rev = d["revision"]
    table.add_row(
        "迁移版本", _mark(rev.get("ok")), f"{rev.get('restored')}（清单 {rev.get('manifest')}）"
    )
    if d["integrity"]:
        table.add_row("integrity_check", _mark(d["integrity"]["ok"]), str(d["integrity"]))
    led = d["ledger"]
    cp = led.get("restored_checkpoint") or {}
    note = f"大小 {cp.get('size')}，树根 {cp.get('root')}"
    if led.get("error"):
        note = led["error"]
    elif not led.get("checkpoint_matches"):
        note += f"；清单中的检查点 {led.get('manifest_checkpoint')}"
    elif not (led.get("verify") or {}).get("ok"):
        v = led["verify"]
        note += (
            f"；重新计算不符：首个问题叶子 {v['first_bad_index']}，改动 {v['changed']}，"
            f"树根{'一致' if v['root_ok'] else '不符'}，回滚 {v['rollback'] or '无'}"
            "（个人信息打不开时，叶子中的字段摘要也无法核对）"
        )
    table.add_row("数据链树根 = 已签名检查点", _mark(led.get("ok")), note)
    per = d["personal"]
    opened = sum(t.get("opened", 0) for t in per.get("tables", {}).values())
    table.add_row(
        "加密字段全部可解密",
        _mark(per.get("ok")),
        f"密钥环 {per.get('keyring')}：解开 {opened}，失败 {per.get('failed', '-')}",
    )
    console.print(table)
    for line in per.get("problems", []) + per.get("failures", [])[:10]:
        err.print(line, style="red", markup=False, highlight=False)
    for note in d["notes"]:
        console.print(note, style="yellow", markup=False)
    console.print(
        f"恢复 {d['restore_seconds']:.3f} 秒，校验 {d['verify_seconds']:.3f} 秒，"
        f"RTO {d['rto_seconds']:.3f} 秒"
    )
    console.print("恢复成功，全部校验通过" if d["ok"] else "[red]恢复后校验不通过[/red]")
