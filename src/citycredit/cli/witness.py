"""`citycredit ledger witness …`: a C2SP tlog-witness for the ledger (G22; ledger/witness.py),
and the log's side (submit now, print the cosigned checkpoint; ledger/witness_client.py).

Registered in cli/main.py under the ledger app with one add_typer line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from citycredit.ledger.signers import KeyFormatError, NoteVerifier, verifier_from_vkey

app = typer.Typer(help="见证（tlog-witness）：只为一致的数据链检查点联署", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    err.print(f"[red]错误：{message}[/red]")
    raise typer.Exit(2)


@app.command("keygen")
def keygen(
    name: Annotated[
        str, typer.Option("--name", help="见证名称，宜为 URL 形式，如 witness.example/w1")
    ],
    out: Annotated[Path, typer.Option("--out", help="私钥文件（新建，权限 0600）")],
    alg: Annotated[
        Literal["ed25519", "sm2"],
        typer.Option("--alg", help="ed25519（cosignature/v1）或 sm2（本平台扩展，国密部署）"),
    ] = "ed25519",
) -> None:
    """Generate the witness's own key: private key to --out, public key to --out.vkey."""
    from citycredit.ledger.witness import Cosigner, cosigner_skey, cosigner_vkey

    try:
        cosigner = Cosigner.generate(name, sm2=alg == "sm2")
    except KeyFormatError as exc:
        _fail(f"见证名称 --name {name!r} 不合法：{exc}")
    vkey_path = out.with_name(out.name + ".vkey")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"私钥文件 --out {out} 已存在，不覆盖")
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(cosigner_skey(cosigner) + "\n")
    vkey = cosigner_vkey(cosigner.verifier())
    vkey_path.write_text(vkey + "\n", encoding="ascii")
    console.print(f"私钥：{out}")
    console.print(f"公钥（{vkey_path}）：")
    print(vkey)


def _log_keys(specs: list[str]) -> dict[str, list[NoteVerifier]]:
    logs: dict[str, list[NoteVerifier]] = {}
    for spec in specs:
        origin, sep, file = spec.partition("=")
        if not sep or not origin or not file:
            _fail(f"--log 须为 ORIGIN=公钥文件，收到 {spec!r}")
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            _fail(f"--log {spec!r}：无法读取公钥文件：{exc}")
        vkeys = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
        if not vkeys:
            _fail(f"--log {spec!r}：公钥文件 {file} 中没有公钥")
        for vkey in vkeys:
            try:
                logs.setdefault(origin, []).append(verifier_from_vkey(vkey))
            except KeyFormatError as exc:
                _fail(f"--log {spec!r}：公钥 {vkey[:60]!r} 无效：{exc}")
    return logs


@app.command("serve")
def serve(
    state: Annotated[
        Path, typer.Option("--state", help="见证状态目录（state.json、evidence.jsonl）")
    ],
    key: Annotated[Path, typer.Option("--key", help="见证私钥文件（keygen 生成）")],
    logs: Annotated[list[str], typer.Option("--log", help="ORIGIN=数据链公钥文件，可重复")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8090,
) -> None:
    """Serve POST /add-checkpoint (c2sp.org/tlog-witness) for the given logs."""
    import uvicorn

    from citycredit.ledger.witness import (
        Witness,
        WitnessStateError,
        WitnessStore,
        cosigner_from_skey,
        make_app,
    )

    try:
        cosigner = cosigner_from_skey(key.read_text(encoding="ascii"))
    except (OSError, KeyFormatError, UnicodeDecodeError) as exc:
        _fail(f"--key {key}：无法读取见证私钥：{exc}")
    known = _log_keys(logs)
    try:
        store = WitnessStore(state)
    except WitnessStateError as exc:
        _fail(str(exc))
    witness = Witness(cosigner, known, store)
    err.print(
        f"见证 {cosigner.name} 监听 http://{host}:{port}/add-checkpoint，数据链：{', '.join(known)}"
    )
    try:
        uvicorn.run(make_app(witness), host=host, port=port, log_level="info")
    finally:
        store.close()


@app.command("evidence")
def evidence(
    state: Annotated[Path, typer.Option("--state", help="见证状态目录")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the conflicts the witness recorded; exit 1 if a size was seen with two roots."""
    from citycredit.ledger.witness import forks, read_evidence

    items = read_evidence(state)
    if as_json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
    else:
        for e in items:
            label = "分叉（同一大小两个树根）" if e["kind"] == "fork" else "一致性证明无效"
            console.print(f"{e['recorded_at']} {e['origin']} 树大小 {e['size']}：{label}")
        if not items:
            console.print("没有冲突记录")
    if forks(items):
        raise typer.Exit(1)


@app.command("submit")
def submit() -> None:
    """Log side: submit the latest checkpoint to the configured witnesses now."""
    from citycredit.bootstrap import build_container
    from citycredit.ledger.witness_client import submit_checkpoint

    c = build_container()
    try:
        outcomes = submit_checkpoint(c)
    finally:
        c.dispose()
    if not outcomes:
        console.print("未配置见证方（CITYCREDIT_LEDGER_WITNESSES）")
    for o in outcomes:
        console.print(f"{o.witness}：{o.status} {o.size if o.size is not None else ''} {o.detail}")
    if any(o.status in ("conflict", "refused") for o in outcomes):
        raise typer.Exit(1)


@app.command("cosigned")
def cosigned(size: Annotated[int | None, typer.Option("--size")] = None) -> None:
    """Log side: print the checkpoint with the stored cosignatures appended."""
    from citycredit.bootstrap import build_container
    from citycredit.ledger.witness_client import cosigned_checkpoint
    from citycredit.shared.errors import CityCreditError

    c = build_container()
    try:
        print(cosigned_checkpoint(c, size), end="")
    except CityCreditError as exc:
        _fail(exc.message)
    finally:
        c.dispose()
