"""`citycredit crypto …`: the personal-data keyring and key rotation (registered in main.py).

Life of a key (docs/personal-data.md): `init` (production ring) → `new-key` → restart the
servers → `rotate` (re-seals everything, resumable) → `retire OLD` (only when nothing uses it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from citycredit.bootstrap import Container, build_container
from citycredit.shared.errors import CityCreditError

app = typer.Typer(help="个人信息加密：密钥环、密钥轮换", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ALGORITHM_HELP = "加密算法：aes-256-gcm（默认）或 sm4-gcm（密评部署）"
JsonOpt = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]


def _fail(exc: CityCreditError) -> None:
    err.print(f"[red]错误：{exc.message}[/red]")
    raise typer.Exit(2)


def _container() -> Container:
    return build_container()


def _ring_file(c: Container) -> Path:
    from citycredit.privacy.keys import keyring_path
    from citycredit.shared.personal import PersonalDataError

    path = keyring_path(c.settings)
    if path is None:
        raise PersonalDataError(
            "密钥环直接写在 CITYCREDIT_PERSONAL_KEYS 中，无法由命令修改；请改用密钥环文件路径",
            code="personal_keys_inline",
        )
    return path


def _algorithm(value: str) -> str:
    from citycredit.shared.personal import ALGORITHMS, PersonalDataError

    if value not in ALGORITHMS:
        raise PersonalDataError(
            f"算法 {value} 不受支持（--algorithm 可选 {'、'.join(ALGORITHMS)}）",
            code="personal_key_invalid",
        )
    return value


@app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="新密钥环文件（放在数据库之外，仅运维可读）")],
    algorithm: Annotated[str, typer.Option(help=ALGORITHM_HELP)] = "aes-256-gcm",
) -> None:
    """生成生产用密钥环文件（数据密钥 + 独立的盲索引密钥）。"""
    from citycredit.shared.clock import SystemClock
    from citycredit.shared.personal import generate_keyring

    try:
        ring = generate_keyring(_algorithm(algorithm), now=SystemClock().now())
    except CityCreditError as e:
        _fail(e)
        return
    if path.exists():
        err.print(f"[red]错误：文件 {path} 已存在，不会覆盖[/red]")
        raise typer.Exit(2)
    ring.save(path)
    console.print(
        f"已生成密钥环 {path}：数据密钥 {ring.current.kid}（{ring.current.alg}），"
        f"盲索引密钥 {ring.index_kid}（{ring.index_alg}）。"
    )
    console.print(f"请设置 CITYCREDIT_PERSONAL_KEYS={path.resolve()}，并备份该文件。")


@app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """密钥环与密文状态：各密钥加密了多少条，尚有多少条明文。"""
    from citycredit.privacy.rotate import index_stats, key_usage

    c = _container()
    try:
        ring = c.personal_codec.keyring
        usage = key_usage(c)
        index = index_stats(c)
    except CityCreditError as e:
        _fail(e)
        return
    data: dict[str, Any] = {
        "sealing_key": ring.current.kid,
        "algorithm": ring.current.alg,
        "dev": ring.dev,
        "keys": [{"kid": k.kid, "alg": k.alg, "created": k.created} for k in ring.keys],
        "index_key": {"kid": ring.index_kid, "alg": ring.index_alg},
        "usage": usage,
        "plaintext": sum(t.get("plaintext", 0) for t in usage.values()),
        "stale": sum(
            n for t in usage.values() for k, n in t.items() if k not in (ring.current.kid, "empty")
        ),
        "index_rows": index,
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    console.print(
        f"当前加密密钥 {data['sealing_key']}（{data['algorithm']}）"
        + ("  [yellow]开发用密钥环[/yellow]" if ring.dev else "")
    )
    table = Table("数据表", "密钥", "条数")
    for name, counts in usage.items():
        for kid, n in sorted(counts.items()):
            label = {"plaintext": "明文（待加密）", "empty": "无个人信息"}.get(kid, kid)
            table.add_row(name, label, str(n))
    console.print(table)
    console.print(
        f"盲索引密钥 {ring.index_kid}（{ring.index_alg}），索引 {sum(index.values())} 条；"
        f"待轮换 {data['stale']} 条，其中明文 {data['plaintext']} 条"
    )


@app.command("new-key")
def new_key(
    algorithm: Annotated[str, typer.Option(help=ALGORITHM_HELP)] = "aes-256-gcm",
) -> None:
    """在密钥环中加入新的数据密钥（此后由它加密）；重启服务后运行 rotate。"""
    from citycredit.shared.personal import Keyring

    c = _container()
    try:
        path = _ring_file(c)
        ring = Keyring.load(path).with_new_key(_algorithm(algorithm), now=c.clock.now())
    except CityCreditError as e:
        _fail(e)
        return
    ring.save(path)
    console.print(
        f"已加入新密钥 {ring.current.kid}（{ring.current.alg}）。请重启服务进程，"
        "再运行 citycredit crypto rotate 用新密钥重新加密全部个人信息。"
    )


@app.command("rotate")
def rotate(
    batch: Annotated[int, typer.Option(min=1, help="每批条数（每批一个事务）")] = 500,
    limit: Annotated[int | None, typer.Option(min=1, help="每张表最多处理条数")] = None,
    as_json: JsonOpt = False,
) -> None:
    """用最新密钥重新加密全部个人信息（含旧的明文数据）；可中断，再次运行即继续。"""
    from citycredit.privacy.rotate import rotate as run_rotation

    c = _container()

    def progress(table: str, done: int) -> None:
        if not as_json:
            err.print(f"{table}: {done}")

    try:
        report = run_rotation(c, batch=batch, limit=limit, progress=progress)
    except CityCreditError as e:
        _fail(e)
        return
    data = report.as_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        table = Table("数据表", "重新加密", "明文→密文", "失败")
        for name, t in data["tables"].items():
            table.add_row(
                name, str(t["resealed"]), str(t["sealed_plaintext"]), str(len(t["failed"]))
            )
        console.print(f"密钥 {report.key_id}")
        console.print(table)
        for name, t in data["tables"].items():
            for line in t["failed"][:20]:
                err.print(f"[red]{name}: {line}[/red]")
    if not report.ok:
        raise typer.Exit(1)


@app.command("retire")
def retire(kid: Annotated[str, typer.Argument(help="要停用的旧密钥编号")]) -> None:
    """从密钥环中删除旧密钥；仍有数据使用它时拒绝。"""
    from citycredit.privacy.rotate import retire_check
    from citycredit.shared.personal import Keyring

    c = _container()
    try:
        path = _ring_file(c)
        ring = Keyring.load(path)
        smaller = ring.without(kid)
        left = retire_check(c, kid)
    except CityCreditError as e:
        _fail(e)
        return
    if any(left.values()):
        detail = "，".join(f"{t} {n} 条" for t, n in left.items() if n)
        err.print(f"[red]错误：仍有数据由密钥 {kid} 加密（{detail}），请先运行 rotate[/red]")
        raise typer.Exit(2)
    smaller.save(path)
    console.print(f"已停用并删除密钥 {kid}；当前加密密钥 {smaller.current.kid}")


@app.command("reindex")
def reindex() -> None:
    """重建证件号码、电话的盲索引（更换盲索引密钥后，或批量导入未建索引时）。"""
    from citycredit.privacy.rotate import reindex as run_reindex

    c = _container()
    try:
        n = run_reindex(c)
    except CityCreditError as e:
        _fail(e)
        return
    console.print(f"盲索引已重建：{n} 条")
