"""`citycredit evaluate`: a whole-city evaluation run with one engine (registered in main.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from citycredit.accounts.model import SYSTEM
from citycredit.shared.errors import FieldError

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
ENGINE_HELP = "评价引擎：db（平台数据库）、duckdb 或 spark（读取去标识化的 Parquet 导出）"


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FieldError(
            "as_of", value, "invalid_date", "评价基准日须为 YYYY-MM-DD 格式的日期（--as-of）"
        ) from None


def _print_run(run: dict[str, Any]) -> None:
    models = "、".join(f"{m['code']} {m['version']}" for m in run["models"]) or "无"
    console.print(
        f"评价批次 {run['run_id']}：引擎 {run['engine']}，评价基准日 {run['as_of']}，"
        f"状态 {run['status']}，模型 {models}"
    )
    table = Table("等级", "主体数")
    labels = {"A": "A 优", "B": "B 良", "C": "C 中", "D": "D 差"}
    for grade, label in labels.items():
        table.add_row(label, str(run["counts"].get(grade, 0)))
    console.print(table)
    line = f"共评价 {run['evaluated']} 个主体"
    if run["skipped"]:
        line += f"，{run['skipped']} 个主体已不在主体库中（导出过期），未保存"
    if run.get("seconds") is not None:
        line += f"，用时 {run['seconds']} 秒"
    console.print(line)


def evaluate(
    as_of: Annotated[str, typer.Option("--as-of", help="评价基准日 YYYY-MM-DD（必填）")],
    engine: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = "db",
    parquet: Annotated[
        Path | None,
        typer.Option("--parquet", help="duckdb/spark：读取已有的 Parquet 导出目录，不再重新导出"),
    ] = None,
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="spark：Spark master，默认 local[2]")
    ] = "local[2]",
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出评价批次")] = False,
) -> None:
    """公共信用综合评价：用一个引擎评价全市主体，保存为一个评价批次（含每个主体的结果）。"""
    from citycredit.cli.main import _container, _run
    from citycredit.evaluation.runs import run_evaluation

    day = _run(_as_of, as_of)
    c = _container()
    with Progress(
        TextColumn(f"[bold]评价[/bold] {engine} {day.isoformat()}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,  # not a terminal: Rich prints the final state of the bar once
    ) as bar:
        task = bar.add_task("evaluate", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        run = _run(
            run_evaluation,
            c,
            SYSTEM,
            engine=engine,
            as_of=day,
            parquet_dir=parquet,
            spark_master=spark_master,
            progress=progress,
        )
    if as_json:
        print(json.dumps(run, ensure_ascii=False, indent=2))
        return
    _print_run(run)
