"""`citycredit analytics export`: the de-identified Parquet export (registered in main.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="分析导出（去标识化 Parquet，供 DuckDB / Spark 评价引擎读取）")
console = Console(soft_wrap=True)


@app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", help="输出目录（写入三个 Parquet 文件和 manifest.json）")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出清单")] = False,
) -> None:
    """导出评价事实视图：仅含不透明的主体标识、日期与枚举代码，不含姓名、证件号码、电话和地址。"""
    from citycredit.analytics.export import export_parquet
    from citycredit.cli.main import _container, _run

    c = _container()
    try:
        manifest = _run(export_parquet, c, out)
    finally:
        c.dispose()
    if as_json:
        print(json.dumps(manifest, ensure_ascii=False, indent=2))
        return
    table = Table("文件", "行数", "SHA-256")
    for spec in manifest["files"].values():
        table.add_row(spec["file"], str(spec["rows"]), spec["sha256"][:16] + "…")
    console.print(table)
    console.print(f"已导出到 {out}（主体类型：{'、'.join(manifest['subject_types'])}）")
