"""`citycredit export …`: outbound exports (双公示 for the provincial platform).

Registered in cli/main.py with one add_typer line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from sqlalchemy.exc import SQLAlchemyError

from citycredit.accounts.model import SYSTEM
from citycredit.cli.common import console, err, storage_full_exit
from citycredit.cli.common import fail as _fail
from citycredit.db.storage import operation_succeeded
from citycredit.shared.errors import CityCreditError, FieldError

app = typer.Typer(help="数据导出（双公示报送省级平台）", no_args_is_help=True)

SINCE_HELP = (
    "起始时间（不含）：YYYY-MM-DD 或 YYYY-MM-DDTHH:MM[:SS]（北京时间）；默认接上次日常导出；"
    "指定时为补发该时段（不影响日常导出的起点）"
)
UNTIL_HELP = (
    "截止时间（含）：日期表示当日结束（次日 00:00），故不能是今天；不能晚于当前时间；默认当前时间"
)


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
        # G25: ends a storage-full incident of this command (stored by an earlier run too)
        operation_succeeded("export dual-publicity", engine=c.engine, stored_too=True)
    except CityCreditError as exc:
        _fail(exc)
        return
    except (SQLAlchemyError, OSError) as exc:
        storage_full_exit("export dual-publicity", exc, engine=c.engine)  # G25: alarm, exit 2
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


# -- the export's ledger proof, and checking an export as received ------------------------------


@app.command("proof")
def proof_cmd(
    export_id: Annotated[str, typer.Argument(help="导出批次编号（citycredit export list）")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="凭证文件；默认写入该导出批次目录下的 proof.json"),
    ] = None,
) -> None:
    """Write the export's ledger proof (manifest, leaf, inclusion proof, signed checkpoint)."""
    import os

    from citycredit.bootstrap import build_container
    from citycredit.exports.service import export_proof, get_export
    from citycredit.exports.verify import PROOF_FILE

    c = build_container()
    try:
        bundle = export_proof(c, SYSTEM, export_id)
        target = out
        if target is None:
            directory = get_export(c, SYSTEM, export_id)["directory"]
            if not directory or not Path(directory).is_dir():
                raise FieldError(
                    "out",
                    str(directory),
                    "not_a_directory",
                    f"导出批次的目录 {directory} 已不在服务器上，请用 --out 指定凭证文件",
                )
            target = Path(directory) / PROOF_FILE
        if target.is_dir():
            raise FieldError("out", str(target), "is_a_directory", f"--out {target} 是目录")
    except CityCreditError as exc:
        _fail(exc)
    finally:
        c.dispose()
    text = json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        _fail(FieldError("out", str(target), "unwritable", f"凭证文件 {target} 无法写入：{exc}"))
    console.print(
        f"已写出导出批次 {export_id} 的数据链凭证：{target}"
        f"（第 {bundle['leaf']['index']} 号叶子，树大小 {bundle['proof']['size']}）"
    )


@app.command("verify")
def verify_cmd(
    directory: Annotated[
        Path, typer.Argument(help="收到的导出目录（含 manifest.json）", file_okay=False)
    ],
    bundle_file: Annotated[
        Path | None,
        typer.Option("--bundle", help="导出批次的数据链凭证；默认使用目录中的 proof.json（如有）"),
    ] = None,
    vkey: Annotated[
        str | None,
        typer.Option("--vkey", help="信任的数据链公钥（信用办公布）；不给则使用凭证自带的公钥"),
    ] = None,
) -> None:
    """Check an export as received, offline: every file against manifest.json, no file the
    manifest does not list; with the proof, the manifest against the ledger."""
    from citycredit.exports.verify import PROOF_FILE, verify_export_directory

    if bundle_file is None and (directory / PROOF_FILE).is_file():
        bundle_file = directory / PROOF_FILE
        console.print(f"使用目录中的凭证 {bundle_file}")
    bundle = None
    if bundle_file is not None:
        try:
            bundle = json.loads(bundle_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            err.print(f"[red]✗ 凭证 {bundle_file} 无法读取：{exc}[/red]")
            raise typer.Exit(1) from exc
        if not isinstance(bundle, dict):
            err.print(f"[red]✗ 凭证 {bundle_file} 不是数据链凭证[/red]")
            raise typer.Exit(1)
    ignore = {PROOF_FILE}
    if bundle_file is not None and bundle_file.resolve().parent == directory.resolve():
        ignore.add(bundle_file.name)
    report = verify_export_directory(directory, bundle, trusted_vkey=vkey, ignore=ignore)
    for line in report.checks:
        console.print(f"✓ {line}")
    for line in report.problems:
        err.print(f"[red]✗ {line}[/red]")
    if not report.ok:
        err.print(f"[red]验证失败：{len(report.problems)} 项不符[/red]")
        raise typer.Exit(1)
    if bundle is None:
        console.print(
            "注意：未核对数据链凭证，只核对了文件与 manifest.json 一致；"
            "请用 --bundle 给出凭证（citycredit export proof 或 GET /api/v1/exports/{id}/proof）"
        )
    elif not vkey:
        console.print("注意：使用了凭证自带的公钥；请用 --vkey 指定从信用办公布渠道获得的公钥")
    console.print(f"验证通过：导出批次 {report.export_id}（{directory}）")


# -- G35: approved downloads of files with natural persons' data ---------------------------------

TOKEN_HELP = (
    "本人的个人令牌（信用办管理员账号，citycredit users add 发放）；也可用环境变量 "
    "CITYCREDIT_TOKEN。申请与审批须是两个不同的账号"
)
TokenOption = Annotated[
    str, typer.Option("--token", envvar="CITYCREDIT_TOKEN", help=TOKEN_HELP, show_default=False)
]


def _as_user(c: Any, token: str) -> Any:
    from citycredit.accounts.service import authenticate

    if not token.strip():
        raise FieldError(
            "token", token, "required", "请用 --token 或 CITYCREDIT_TOKEN 给出本人的个人令牌"
        )
    return authenticate(c, token.strip())


def _print_request(r: dict[str, Any]) -> None:
    expired = "（已过期）" if r["expired"] else ""
    console.print(
        f"下载申请 {r['id']}：导出批次 {r['export_id']}，状态 {r['status']}{expired}；"
        f"申请人 {r['requested_by']}（{r['requested_at']}），用途：{r['purpose']}"
    )
    if r["decided_by"]:
        note = f"，理由：{r['decision_note']}" if r["decision_note"] else ""
        console.print(f"  审批人 {r['decided_by']}（{r['decided_at']}）{note}")
    if r["expires_at"]:
        console.print(
            f"  副本有效至 {r['expires_at']}"
            + (f"，已删除 {r['deleted_at']}" if r["deleted_at"] else "")
        )
    for f in r["files"] if not r["copies"] else []:
        console.print(f"  · {f}")
    for cp in r["copies"]:
        console.print(f"  · {cp['name']}  {cp['bytes']} 字节  sha256 {cp['sha256']}")


def _run_as(token: str | None, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from citycredit.accounts.model import SYSTEM as CONSOLE
    from citycredit.bootstrap import build_container

    c = build_container()
    try:
        actor = _as_user(c, token) if token is not None else CONSOLE
        return fn(c, actor, *args, **kwargs)
    except CityCreditError as exc:
        _fail(exc)
    finally:
        c.dispose()


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_request(result)


@app.command("request")
def request_cmd(
    export_id: Annotated[str, typer.Argument(help="导出批次编号（citycredit export list）")],
    purpose: Annotated[str, typer.Option("--purpose", help="下载用途（必填）")],
    token: TokenOption,
    files: Annotated[
        list[str] | None, typer.Option("--file", help="只申请这些文件；默认全部含个人信息的文件")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ask to download an export's files with natural persons' data (another account approves)."""
    from citycredit.exports.downloads import request_download

    _emit(_run_as(token, request_download, export_id, purpose=purpose, files=files), as_json)


@app.command("approve")
def approve_cmd(
    request_id: Annotated[str, typer.Argument(help="下载申请编号")],
    token: TokenOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Approve another account's download request: watermarked copies are made for it."""
    from citycredit.exports.downloads import decide_download

    _emit(_run_as(token, decide_download, request_id, approve=True), as_json)


@app.command("refuse")
def refuse_cmd(
    request_id: Annotated[str, typer.Argument(help="下载申请编号")],
    reason: Annotated[str, typer.Option("--reason", help="拒绝理由（必填）")],
    token: TokenOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Refuse another account's download request."""
    from citycredit.exports.downloads import decide_download

    _emit(_run_as(token, decide_download, request_id, approve=False, reason=reason), as_json)


@app.command("download")
def download_cmd(
    request_id: Annotated[str, typer.Argument(help="已批准的下载申请编号")],
    out: Annotated[Path, typer.Option("--out", help="保存副本的目录（不存在时创建）")],
    token: TokenOption,
    files: Annotated[list[str] | None, typer.Option("--file", help="只下载这些文件")] = None,
) -> None:
    """Save the watermarked copies of an approved request (the requester only, until expiry)."""
    import os
    import shutil

    from citycredit.exports.downloads import download_copy, get_download

    if out.exists() and not out.is_dir():
        _fail(FieldError("out", str(out), "not_a_directory", f"--out {out} 已存在且不是目录"))
    request = _run_as(token, get_download, request_id)
    names = files or [cp["name"] for cp in request["copies"]] or list(request["files"])
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in names:
        path = _run_as(token, download_copy, request_id, name)
        target = out / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as dst, path.open("rb") as src:
            shutil.copyfileobj(src, dst)
        console.print(f"· {target}")


@app.command("requests")
def requests_cmd(
    status: Annotated[
        str | None, typer.Option("--status", help="pending、approved、refused、expired、lapsed")
    ] = None,
    export_id: Annotated[str | None, typer.Option("--export", help="导出批次编号")] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="副本的 SHA-256：查出它来自哪个申请")
    ] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Download requests, newest first (who asked, who decided, the copies' checksums)."""
    from citycredit.exports.downloads import list_downloads

    rows = _run_as(
        None, list_downloads, status=status, export_id=export_id, sha256=sha256, limit=limit
    )
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print("没有符合条件的下载申请")
    for r in rows:
        _print_request(r)


@app.command("trace")
def trace_cmd(
    file: Annotated[Path, typer.Argument(help="发现的文件（或直接给出其 SHA-256）")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which download request a (leaked) copy came from: by its SHA-256, then by its watermark."""
    from citycredit.exports.downloads import list_downloads
    from citycredit.shared.files import sha256_file

    digest = sha256_file(file) if file.is_file() else str(file)
    rows = _run_as(None, list_downloads, sha256=digest)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print(
            f"SHA-256 {digest} 不是任何已批准下载的副本（文件可能被改动：请查看其 WATERMARK 列"
            "或 JSON 的 watermark 中的申请编号，再用 citycredit export requests 查询）"
        )
    for r in rows:
        _print_request(r)
