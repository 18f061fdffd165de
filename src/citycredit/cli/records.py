"""`citycredit records …`: 不予公示 and 恢复公示 of one record (ingest/withhold.py, G31).

Without ``--department`` the command acts as the credit office (the server's console); with it,
as that department, which may act only on its own records.
"""

from __future__ import annotations

from typing import Annotated

import typer

from citycredit.accounts.model import SYSTEM, Principal
from citycredit.bootstrap import Container, build_container
from citycredit.cli.common import console
from citycredit.cli.common import run as _run

app = typer.Typer(help="信用记录：不予公示、恢复公示", no_args_is_help=True)

_REASON_HELP = "privacy（涉及个人隐私）| state_secret（涉及国家秘密）| trade_secret（涉及商业秘密）| security（可能危害国家安全、社会稳定）"  # noqa: E501


def _actor(c: Container, department: str | None) -> Principal:
    if department is None:
        return SYSTEM
    from citycredit.accounts.service import department_principal

    actor: Principal = _run(department_principal, c, department)
    return actor


@app.command("withhold")
def withhold(
    record_id: Annotated[str, typer.Argument(help="记录编号")],
    reason: Annotated[str, typer.Option("--reason", help=_REASON_HELP)],
    basis: Annotated[str, typer.Option("--basis", help="依据/说明（至少 4 个字）")],
    department: Annotated[str | None, typer.Option("--department", help="信源单位名称")] = None,
) -> None:
    """不予公示: the record leaves every public view at once."""
    from citycredit.ingest.withhold import withhold_record

    c = build_container()
    out = _run(withhold_record, c, _actor(c, department), record_id, reason=reason, basis=basis)
    console.print(f"记录 {record_id} 已{out['unpublished_label']}（步骤 {out['step_id']}）")


@app.command("release")
def release(
    record_id: Annotated[str, typer.Argument(help="记录编号")],
    basis: Annotated[str, typer.Option("--basis", help="依据/说明（至少 4 个字）")],
    department: Annotated[str | None, typer.Option("--department", help="信源单位名称")] = None,
) -> None:
    """恢复公示: a withheld record is public again (refused when another rule keeps it off)."""
    from citycredit.ingest.withhold import release_record

    c = build_container()
    out = _run(release_record, c, _actor(c, department), record_id, basis=basis)
    console.print(f"记录 {record_id} 已恢复公示（步骤 {out['step_id']}）")
