"""`citycredit crypto …`: the personal-data keyring and key rotation (registered in main.py).

Life of a key (docs/personal-data.md): `init` (production ring) → `new-key` (running servers
reload a ring file within a second; an inline ring needs a restart) → `rotate` (re-seals
everything, resumable) → `retire OLD` (only when nothing uses it; the key then only opens) →
optionally `retire OLD --delete` later. Every command that uses the ring first checks that it is
this database's ring (privacy.keycheck); `status` reports what does not fit and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from citycredit.bootstrap import Container, build_container
from citycredit.shared.errors import CityCreditError

app = typer.Typer(help="个人信息加密：密钥环、密钥轮换", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ALGORITHM_HELP = (
    "加密算法：aes-256-gcm 或 sm4-gcm（密评部署）；默认取 CITYCREDIT_PERSONAL_CIPHER（未设置时 "
    "aes-256-gcm）"
)
JsonOpt = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]


class _CipherSetting(BaseSettings):
    """CITYCREDIT_PERSONAL_CIPHER read as Settings reads it, without the rest of the settings:
    `crypto init` runs before CITYCREDIT_PERSONAL_KEYS exists, which production settings need."""

    model_config = SettingsConfigDict(env_prefix="CITYCREDIT_", env_file=None, extra="ignore")
    personal_cipher: str = "aes-256-gcm"


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


def _warn_cipher(chosen: str, configured: str) -> None:
    if chosen != configured:
        err.print(
            f"[yellow]注意：CITYCREDIT_PERSONAL_CIPHER 是 {configured}，这里用的是 {chosen}。"
            "[/yellow]"
        )


def _checked_ring(c: Container, path: Path) -> Any:
    """The ring in `path`, refused unless it is this database's ring."""
    from citycredit.privacy.keycheck import verify_keyring
    from citycredit.shared.personal import Keyring

    ring = Keyring.load(path)
    verify_keyring(c.engine, ring, source=str(path))
    return ring


@app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="新密钥环文件（放在数据库之外，仅运维可读）")],
    algorithm: Annotated[str | None, typer.Option(help=ALGORITHM_HELP)] = None,
) -> None:
    """生成生产用密钥环文件（数据密钥 + 与算法配套的独立盲索引密钥）。"""
    from pydantic import ValidationError

    from citycredit.shared.clock import SystemClock
    from citycredit.shared.personal import generate_keyring

    try:
        configured = _algorithm(_CipherSetting().personal_cipher)
        chosen = _algorithm(algorithm or configured)
        ring = generate_keyring(chosen, now=SystemClock().now())
    except ValidationError as e:
        err.print(f"[red]错误：{e}[/red]")
        raise typer.Exit(2) from e
    except CityCreditError as e:
        _fail(e)
        return
    _warn_cipher(chosen, configured)
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
    """密钥环与密文状态：各密钥加密了多少条，尚有多少条明文；密钥环与数据库不符时退出码 1。"""
    from citycredit.privacy.keycheck import check_keyring
    from citycredit.privacy.keys import load_keyring
    from citycredit.privacy.rotate import index_stats, key_usage

    c = _container()
    try:  # the ring as it is, not refused: this command is where a wrong ring is diagnosed
        ring = load_keyring(c.settings, now=c.clock.now(), engine=c.engine)
        check = check_keyring(c.engine, ring)
        usage = key_usage(c)
        index = index_stats(c)
    except CityCreditError as e:
        _fail(e)
        return
    in_use = {k for t in usage.values() for k in t if k not in ("plaintext", "empty")}
    check.missing |= {k for k in in_use if ring.get(k) is None}
    check.index_kids |= {k for k in index if k != ring.index_kid}
    problems = check.problems()
    data: dict[str, Any] = {
        "ok": not problems,
        "problems": problems,
        "sealing_key": ring.current.kid,
        "algorithm": ring.current.alg,
        "dev": ring.dev,
        "keys": [
            {"kid": k.kid, "alg": k.alg, "created": k.created, "retired": k.retired or None}
            for k in ring.keys
        ],
        "index_key": {"kid": ring.index_kid, "alg": ring.index_alg},
        "usage": usage,
        "missing_keys": sorted(check.missing),
        "index_key_mismatch": sorted(check.index_kids) or check.index_wrong,
        "plaintext": sum(t.get("plaintext", 0) for t in usage.values()),
        "stale": sum(
            n for t in usage.values() for k, n in t.items() if k not in (ring.current.kid, "empty")
        ),
        "index_rows": index,
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        _print_status(data, ring)
    if problems:
        raise typer.Exit(1)


def _print_status(data: dict[str, Any], ring: Any) -> None:
    console.print(
        f"当前加密密钥 {data['sealing_key']}（{data['algorithm']}）"
        + ("  [yellow]开发用密钥环[/yellow]" if ring.dev else "")
    )
    retired = {k.kid for k in ring.keys if k.retired}
    table = Table("数据表", "密钥", "条数")
    for name, counts in data["usage"].items():
        for kid, n in sorted(counts.items()):
            label = {"plaintext": "明文（待加密）", "empty": "无个人信息"}.get(kid, kid)
            if kid in data["missing_keys"]:
                label = f"[red]{kid}（不在密钥环中！）[/red]"
            elif kid in retired:
                label = f"{kid}（已停用，待轮换）"
            table.add_row(name, label, str(n))
    console.print(table)
    console.print(
        f"盲索引密钥 {ring.index_kid}（{ring.index_alg}），索引 {sum(data['index_rows'].values())} "
        f"条；待轮换 {data['stale']} 条，其中明文 {data['plaintext']} 条"
    )
    for line in data["problems"]:
        err.print(f"[red]错误：{line}[/red]")
    if data["problems"]:
        err.print(
            "[red]这个密钥环不是数据库所用的密钥环：请把 CITYCREDIT_PERSONAL_KEYS 指向原密钥环"
            "（开发环境：从备份恢复 data_dir/personal.keys）。[/red]"
        )


@app.command("new-key")
def new_key(
    algorithm: Annotated[str | None, typer.Option(help=ALGORITHM_HELP)] = None,
) -> None:
    """在密钥环中加入新的数据密钥（此后由它加密）；然后运行 rotate。"""
    c = _container()
    configured = c.settings.personal_cipher
    try:
        path = _ring_file(c)
        before = _checked_ring(c, path)
        chosen = _algorithm(algorithm or configured)
        ring = before.with_new_key(chosen, now=c.clock.now())
    except CityCreditError as e:
        _fail(e)
        return
    _warn_cipher(chosen, configured)
    if chosen != before.current.alg:
        err.print(
            f"[yellow]注意：新密钥的算法 {chosen} 与当前加密密钥 {before.current.kid} 的算法 "
            f"{before.current.alg} 不同；盲索引密钥仍是 {before.index_kid}（{before.index_alg}），"
            "它不随数据密钥轮换（docs/personal-data.md）。[/yellow]"
        )
    ring.save(path)
    console.print(
        f"已加入新密钥 {ring.current.kid}（{ring.current.alg}）。运行中的服务进程在一秒内读到新的"
        "密钥环文件；然后运行 citycredit crypto rotate 用新密钥重新加密全部个人信息。"
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
def retire(
    kid: Annotated[str, typer.Argument(help="要停用的旧密钥编号")],
    delete: Annotated[
        bool,
        typer.Option(
            "--delete", help="从密钥环中彻底删除已停用的密钥（确认 status 中它已无数据后）"
        ),
    ] = False,
) -> None:
    """停用旧密钥（仍可解密、不再加密）；--delete 再把它从密钥环删除。仍有数据使用它时拒绝。"""
    from citycredit.privacy.rotate import retire_check

    c = _container()
    try:
        path = _ring_file(c)
        ring = _checked_ring(c, path)
        if delete:
            key = ring.get(kid)
            if key is not None and not key.retired and kid != ring.current.kid:
                err.print(
                    f"[red]错误：密钥 {kid} 尚未停用：先运行 citycredit crypto retire {kid}，"
                    "待所有服务进程读到新密钥环后再运行 rotate，最后再删除[/red]"
                )
                raise typer.Exit(2)
            changed = ring.without(kid)
        else:
            changed = ring.retire(kid, now=c.clock.now())
        left = retire_check(c, kid)
    except CityCreditError as e:
        _fail(e)
        return
    if any(left.values()):
        detail = "，".join(f"{t} {n} 条" for t, n in left.items() if n)
        err.print(f"[red]错误：仍有数据由密钥 {kid} 加密（{detail}），请先运行 rotate[/red]")
        raise typer.Exit(2)
    changed.save(path)
    if delete:
        console.print(f"已从密钥环删除密钥 {kid}；当前加密密钥 {changed.current.kid}")
        return
    console.print(
        f"已停用密钥 {kid}：不再用于加密，仍可解密（尚未读到新密钥环的进程若还用它加密，这些数据"
        f"仍可读，下次 rotate 会重新加密）；当前加密密钥 {changed.current.kid}。"
        f"确认 status 中它已无数据后，可用 --delete 删除。"
    )


@app.command("reindex")
def reindex() -> None:
    """重建证件号码、电话的盲索引（更换盲索引密钥后，或批量导入未建索引时）。"""
    from citycredit.privacy.keycheck import check_keyring, verify_keyring
    from citycredit.privacy.keys import keyring_source, load_keyring
    from citycredit.privacy.rotate import reindex as run_reindex
    from citycredit.shared.personal import PersonalCodec

    c = _container()
    try:
        # The data keys must open what is stored; the index key is what this command replaces.
        ring = load_keyring(c.settings, now=c.clock.now(), engine=c.engine)
        verify_keyring(c.engine, ring, source=keyring_source(c.settings), index=False)
        check = check_keyring(c.engine, ring)
        if check.index_kids or check.index_wrong:
            err.print(
                f"[yellow]注意：盲索引将改由盲索引密钥 {ring.index_kid} 生成（原为 "
                f"{'、'.join(sorted(check.index_kids)) or ring.index_kid}）。内容摘要与数据链"
                "叶子仍在原密钥下（docs/adr/0008）。[/yellow]"
            )
        n = run_reindex(c, codec=PersonalCodec(ring))
    except CityCreditError as e:
        _fail(e)
        return
    console.print(f"盲索引已重建：{n} 条")
