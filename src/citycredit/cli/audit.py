"""`citycredit audit …`: seal the operator audit trail into the 信用数据链 and verify it (G11).

`seal` does what the `audit_seal` job does every two minutes; `verify` recomputes every sealed
event's hash, every seal and the chain, compares the seals with their ledger leaves and exits
non-zero on any finding, naming the first bad event id and seal id. Run as the console.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import build_container
from citycredit.cli.common import console, err
from citycredit.cli.common import run as _run

app = typer.Typer(help="操作审计日志的封存与核验", no_args_is_help=True)

# finding → what it means, in the order they are printed
FINDINGS = {
    "edited_events": "审计记录被修改",
    "deleted_events": "审计记录被删除（不在任何保留期清理记录内）",
    "unsealed_events": "超过宽限期仍未封存的审计记录",
    "changed_items": "封存条目被修改、删除或增加",
    "changed_seals": "封存记录被修改",
    "broken_chain": "封存链断裂",
    "missing_seals": "封存记录缺失",
    "leaf_mismatch": "封存与信用数据链叶子不一致",
    "without_leaf": "封存没有信用数据链叶子",
}


@app.command("seal")
def seal(
    full: Annotated[
        bool,
        typer.Option("--full", help="也查找一天以前、编号低于已封存记录的未封存记录（全表扫描）"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Seal every committed, unsealed audit event (one seal and one ledger leaf per batch)."""
    from citycredit.accounts.audit_seal import seal_audit

    result = _run(seal_audit, build_container(), SYSTEM, full=full)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    if not result["seals"]:
        console.print("没有待封存的审计记录")
        return
    console.print(
        f"已封存 {result['events']} 条审计记录，新增封存 {result['seals']} 个"
        f"（编号 {result['seal_ids'][0]}–{result['seal_ids'][-1]}），摘要已提交信用数据链"
    )


@app.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the audit trail against its seals and their ledger leaves; exit 1 on any finding."""
    from citycredit.accounts.audit_seal import verify_audit

    report = _run(verify_audit, build_container(), SYSTEM)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        console.print(
            f"审计记录 {report.events} 条，封存 {report.seals} 个，已封存条目 {report.sealed} 条"
            f"（其中按保留期清理 {report.purged} 条），"
            f"待数据链收录的封存 {report.pending_leaves} 个"
        )
        for name, label in FINDINGS.items():
            ids = getattr(report, name)
            if ids:
                shown = "、".join(str(i) for i in ids[:20]) + ("…" if len(ids) > 20 else "")
                err.print(f"[red]{label}：{shown}[/red]")
        if report.ok:
            console.print("审计日志核验通过")
        else:
            err.print(
                f"[red]审计日志核验未通过：首个异常审计记录编号 {report.first_bad_event_id}，"
                f"首个异常封存编号 {report.first_bad_seal_id}[/red]"
            )
    if not report.ok:
        raise typer.Exit(1)
