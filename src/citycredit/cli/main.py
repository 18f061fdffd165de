"""The `citycredit` command: thin commands calling the same services as the API."""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from citycredit.accounts.model import SYSTEM, Role
from citycredit.bootstrap import Container, build_container
from citycredit.cli import accounts as accounts_cli
from citycredit.cli import accuracy as accuracy_cli
from citycredit.cli import alarms as alarms_cli
from citycredit.cli import analytics as analytics_cli
from citycredit.cli import audit as audit_cli
from citycredit.cli import backup as backup_cli
from citycredit.cli import crypto as crypto_cli
from citycredit.cli import evaluation as evaluation_cli
from citycredit.cli import exports as exports_cli
from citycredit.cli import records as records_cli
from citycredit.cli import rights as rights_cli
from citycredit.cli import selftest as selftest_cli
from citycredit.cli import sharing as sharing_cli
from citycredit.cli import witness as witness_cli
from citycredit.cli.common import console, err
from citycredit.cli.common import fail as _fail
from citycredit.cli.common import run as _run
from citycredit.web import logfilter, logformat

# Every log record of a command (and of `serve`) is scrubbed of ID and phone numbers, and a
# command's log lines carry UTC times with offset (G39).
logfilter.install()
logformat.install()

app = typer.Typer(help="citycredit 公共信用信息平台", no_args_is_help=True)
db_app = typer.Typer(help="数据库迁移")
departments_app = typer.Typer(help="信源单位")
users_app = typer.Typer(help="用户")
catalog_app = typer.Typer(help="公共信用信息目录")
jobs_app = typer.Typer(help="定时任务")
unresolved_app = typer.Typer(help="待认领（无代码记录）", invoke_without_command=True)
ledger_app = typer.Typer(help="信用数据链")
for sub, name in (
    (db_app, "db"),
    (departments_app, "departments"),
    (users_app, "users"),
    (catalog_app, "catalog"),
    (jobs_app, "jobs"),
    (unresolved_app, "unresolved"),
    (ledger_app, "ledger"),
):
    app.add_typer(sub, name=name)
app.add_typer(accounts_cli.app, name="accounts")  # 三员与账号 (cli/accounts.py)
app.command("evaluate")(evaluation_cli.evaluate)  # 公共信用综合评价 (cli/evaluation.py)
app.add_typer(exports_cli.app, name="export")  # 双公示 export (cli/exports.py)
app.add_typer(crypto_cli.app, name="crypto")  # 个人信息加密与密钥轮换 (cli/crypto.py)
app.add_typer(sharing_cli.app, name="sharing")  # 共享调度 (cli/sharing.py)
app.add_typer(rights_cli.app, name="rights")  # 异议、信用修复 (cli/rights.py)
app.add_typer(records_cli.app, name="records")  # 不予公示、恢复公示 (cli/records.py, G31)
app.add_typer(analytics_cli.app, name="analytics")  # Parquet 导出 (cli/analytics.py)
app.add_typer(audit_cli.app, name="audit")  # 审计日志封存与核验 (cli/audit.py)
app.add_typer(accuracy_cli.app, name="accuracy")  # 准确性核对 G40 (cli/accuracy.py)
app.add_typer(alarms_cli.app, name="alarms")  # 系统告警 G25 (cli/alarms.py)
app.command("selftest")(selftest_cli.selftest)  # 密码算法自检 G17 (cli/selftest.py)
ledger_app.add_typer(witness_cli.app, name="witness")  # 见证 G22 (cli/witness.py)
db_app.command("backup")(backup_cli.backup)  # 备份 (cli/backup.py, G27)
db_app.command("restore")(backup_cli.restore)  # 恢复与校验 (cli/backup.py)


def _container() -> Container:
    c = build_container()
    kill_after = os.environ.get("CITYCREDIT_FAULT_KILL_AFTER_ROWS")
    if kill_after:  # test-only fault hook: die like a killed process, mid-submission
        limit = int(kill_after)

        def hook(done: int) -> None:
            if done >= limit:
                os.kill(os.getpid(), signal.SIGKILL)

        c.fault_hook = hook
    return c


# -- database ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to head."""
    from citycredit.db.migrate import upgrade

    c = _container()
    upgrade(c.engine)
    console.print(f"数据库已迁移到最新版本：{c.engine.url.render_as_string(hide_password=True)}")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree, or durability settings are missing."""
    from citycredit.db import durability
    from citycredit.db.migrate import drift, upgrade

    c = _container()
    upgrade(c.engine)
    diff = drift(c.engine)
    if diff:
        for d in diff:
            err.print(f"[red]差异：{d}[/red]")
        raise typer.Exit(1)
    console.print("模型与迁移一致")
    findings = durability.check(c.engine)
    for f in findings:
        colour = "red" if f.level == durability.ERROR else "yellow"
        err.print(f"[{colour}]持久性配置：{f.message()}[/{colour}]")
    if any(f.level == durability.ERROR for f in findings):
        raise typer.Exit(1)
    console.print("持久性配置满足要求" + ("（有提醒）" if findings else ""))


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="应用连接数据库所用的角色名")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="CITYCREDIT_APP_ROLE_PASSWORD",
            help="设置该角色的登录口令（建议用环境变量 CITYCREDIT_APP_ROLE_PASSWORD 传入）",
        ),
    ] = None,
) -> None:
    """PostgreSQL: create/update the application's role with exactly its run-time privileges
    (run as the owner after every `db upgrade`)."""
    from citycredit.db.grants import grant_app_role

    c = _container()
    r = _run(grant_app_role, c.engine, role, password=password)
    console.print(
        f"应用角色 {r.role} 已{'创建' if r.created else '更新'}：业务表 {len(r.business_tables)} 张"
        f"可读写，审计表 {'、'.join(r.audit_tables)} 只可查询和追加，序列 {r.sequences} 个，"
        "无 TRUNCATE、无建表等 DDL 权限"
    )


# -- accounts ---------------------------------------------------------------------------------


@departments_app.command("add")
def departments_add(
    name: str,
    code: Annotated[str, typer.Option("--code", help="统一社会信用代码")],
    kind: Annotated[
        str,
        typer.Option(help="government | court | public_institution | utility | credit_office"),
    ] = "government",
) -> None:
    """Register a source department and print its submission token."""
    from citycredit.accounts.service import add_department

    issued = _run(add_department, _container(), SYSTEM, name=name, code=code, kind=kind)
    console.print(f"已登记部门「{issued.department}」。报送令牌（只显示这一次）：")
    print(issued.token)


@departments_app.command("list")
def departments_list() -> None:
    """List departments."""
    from citycredit.accounts.service import list_departments

    table = Table("id", "名称", "统一社会信用代码", "类别")
    for d in list_departments(_container()):
        table.add_row(str(d.id), d.name, d.code, d.kind)
    console.print(table)


@users_app.command("add")
def users_add(
    username: str,
    name: Annotated[str, typer.Option("--name", help="显示名")] = "",
    role: Annotated[Role, typer.Option("--role")] = Role.department_staff,
    department: Annotated[
        str | None, typer.Option("--department", help="部门名称（部门用户必填）")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="登录口令（以 argon2 保存）")
    ] = None,
) -> None:
    """Create a staff or credit-office account and print its token."""
    from citycredit.accounts.service import add_user

    issued = _run(
        add_user,
        _container(),
        SYSTEM,
        username=username,
        display_name=name or username,
        role=role,
        department=department,
        password=password,
    )
    note = "；设置了初始口令，须先登录修改口令，令牌才可使用" if password else ""
    console.print(f"已创建用户 {username}（{role.label}）。令牌（只显示这一次{note}）：")
    print(issued.token)


# -- catalog ----------------------------------------------------------------------------------


@catalog_app.command("show")
def catalog_show(item: Annotated[str | None, typer.Argument()] = None) -> None:
    """Show the catalog, or one item with its fields."""
    c = _container()
    cat = c.catalog
    if item is None:
        table = Table("名称", "类别", "公开属性", "版本")
        table.columns.insert(0, Column("代码", no_wrap=True))
        for i in cat.items.values():
            table.add_row(i.code, i.name, i.category, i.openness.label, i.version)
        console.print(f"目录版本 {cat.version}（{cat.edition}）")
        console.print(table)
        return
    it = _run(cat.item, item)
    console.print(f"[bold]{it.name}[/bold]（{it.code}，版本 {it.version}）· {it.openness.label}")
    console.print("依据：" + "；".join(str(b) for b in it.legal_basis))
    table = Table("名称", "类型", "必填", "单位", "公开")
    table.columns.insert(0, Column("字段", no_wrap=True))
    for f in it.fields:
        table.add_row(
            f.code,
            f.label,
            f.type.value,
            "是" if f.required else "",
            f.unit or "",
            "否" if f.personal or not f.public else "是",
        )
    console.print(table)
    for o in it.obligations:
        console.print(f"报送义务：{o.department} · {o.frequency} · {o.basis}")


@catalog_app.command("template")
def catalog_template(
    item: str,
    fmt: Annotated[str, typer.Option("--format", help="csv 或 xlsx")] = "csv",
    out: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """Write an empty CSV/XLSX with the national headers of an item."""
    from citycredit.catalog.template import write_template

    c = _container()
    it = _run(c.catalog.item, item)
    path = out or Path(f"{it.code}-template.{fmt}")
    write_template(it, path, fmt)
    console.print(f"已生成模板：{path}")


# -- intake -----------------------------------------------------------------------------------


@app.command("ingest")
def ingest(
    file: Path,
    item: Annotated[str, typer.Option("--item", help="目录信息项代码，如 penalty")],
    department: Annotated[str, typer.Option("--department", help="报送部门名称或代码")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只校验，不入库")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出回执")] = False,
) -> None:
    """Ingest one department file (CSV/XLSX/JSON) of one catalog item."""
    from citycredit.accounts.service import department_principal
    from citycredit.ingest.readers import count_rows, open_source
    from citycredit.ingest.service import ingest_submission

    c = _container()
    actor = _run(department_principal, c, department)
    info, rows = _run(open_source, file)
    rows.close()  # type: ignore[attr-defined]
    total = count_rows(file, info)
    with Progress(
        TextColumn("[bold]归集[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=as_json or not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(file.name, total=total)
        receipt = _run(
            ingest_submission,
            c,
            actor,
            path=file,
            item_code=item,
            dry_run=dry_run,
            progress=lambda n: bar.update(task, completed=n),
        )
    data = receipt.as_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(
        ("试校验回执（未入库）" if dry_run else f"回执 {data['submission_id']}")
        + f"：收到 {data['received']}，新增 {data['new']}，更正 {data['corrected']}，"
        f"重复 {data['duplicate']}，问题数据 {data['rejected']}（其中待认领 {data['unresolved']}）",
        markup=False,
    )
    encoding = f"编码：{data['encoding'] or '-'}（{data['encoding_reason'] or ''}）"
    console.print(encoding, markup=False)
    for note in data["notes"][:10]:
        console.print(f"· {note}", markup=False)
    for reject in data["rejects"] or []:  # a dry run's quarantined rows (nothing to read back)
        for reason in reject["reasons"]:
            console.print(
                f"第 {reject['row']} 行 {reason['field']}（{reason['code']}）：{reason['message']}",
                markup=False,
            )


@app.command("withdraw")
def withdraw(
    department: Annotated[str, typer.Option("--department")],
    reason: Annotated[str, typer.Option("--reason")],
    record_id: Annotated[str | None, typer.Option("--record")] = None,
    item: Annotated[str | None, typer.Option("--item")] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="字段=值，可重复，如 CF_WSH=榆市监罚〔2025〕1号"),
    ] = None,
) -> None:
    """Withdraw a record (by id, or by item + identifying fields)."""
    from citycredit.accounts.service import department_principal
    from citycredit.ingest.service import locate_record, withdraw_record

    c = _container()
    actor = _run(department_principal, c, department)
    if record_id is None:
        if not item or not key:
            _fail(ValueError("需要 --record，或 --item 加若干 --key 字段=值"))
        row = dict(k.split("=", 1) for k in key or [])
        record_id = _run(locate_record, c, actor, item, row)
    version = _run(withdraw_record, c, actor, record_id, reason)
    console.print(f"记录 {record_id} 已撤销（版本 {version}）")


@unresolved_app.callback()
def unresolved_list(ctx: typer.Context) -> None:
    """List the clerk's queue of rows whose subject could not be identified."""
    if ctx.invoked_subcommand:
        return
    from citycredit.ingest.unresolved import list_unresolved

    rows = _run(list_unresolved, _container(), SYSTEM)
    table = Table("id", "信息项", "名称", "区划", "候选", "批次", "行")
    for r in rows:
        cands = "；".join(f"{x['name']}({x['subject_id']})" for x in r["candidates"][:3])
        table.add_row(
            str(r["id"]),
            r["item"],
            r["name"],
            r["division_code"] or "",
            cands,
            r["submission_id"],
            str(r["row"]),
        )
    console.print(f"待认领 {len(rows)} 条")
    console.print(table)


@unresolved_app.command("attach")
def unresolved_attach(unresolved_id: int, subject_id: str) -> None:
    """Attach a queued row to a subject."""
    from citycredit.ingest.unresolved import attach_unresolved

    rid = _run(attach_unresolved, _container(), SYSTEM, unresolved_id, subject_id)
    console.print(f"已认领，记录 {rid}")


@unresolved_app.command("dismiss")
def unresolved_dismiss(
    unresolved_id: int, reason: Annotated[str, typer.Option("--reason")]
) -> None:
    """Return a queued row to its department."""
    from citycredit.ingest.unresolved import dismiss_unresolved

    _run(dismiss_unresolved, _container(), SYSTEM, unresolved_id, reason)
    console.print("已退回")


@app.command("quality")
def quality(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Data quality per department: 归集率, timeliness, completeness, rejections; 档案覆盖率.

    Computed now and stored as the newest snapshot, which the portal and the API then serve."""
    from citycredit.ingest.quality import refresh_quality_report

    report = _run(refresh_quality_report, _container(), SYSTEM, "cli")
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    pct = lambda v: "-" if v is None else f"{v * 100:.1f}%"  # noqa: E731
    console.print(
        f"统计时间 {report['computed_at']}，截至 {report['as_of']}："
        f"归集率 {pct(report['collection_rate'])}，"
        f"档案覆盖率 {pct(report['archive_coverage'])}（{report['with_current_registration']}"
        f"/{report['subjects']}）"
    )
    table = Table("部门", "归集率", "问题数据率", "待认领")
    for d in report["departments"]:
        table.add_row(
            d["department"],
            pct(d["collection_rate"]),
            pct(d["rejection_rate"]),
            str(d["unresolved"]),
        )
    console.print(table)


# -- jobs ---------------------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list() -> None:
    """Every job: its lane, interval, last run (and its error), next due time (Beijing time)."""
    from citycredit.kernel.jobs import job_states, registered_jobs
    from citycredit.shared.calendar import SHANGHAI

    def at(value: datetime | None) -> str:
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else "—"

    jobs = registered_jobs()
    states = job_states(_container(), jobs)
    table = Table("任务", "通道", "间隔（秒）", "最近运行", "结果", "下次到期")
    failed = []
    for j in jobs:
        st = states[j.name]
        last = st["last_run"]
        table.add_row(
            j.name,
            j.lane,
            str(int(j.interval.total_seconds())),
            at(last["started_at"]) if last else "从未运行",
            last["status"] if last else "—",
            at(st["next_due_at"]) if st["next_due_at"] else "已到期",
        )
        if last and last["error"]:
            failed.append(f"{j.name}: {last['error']}")
    console.print(table)
    for line in failed:
        console.print(f"[red]{line}[/red]")


@jobs_app.command("run-due")
def jobs_run_due(
    force: bool = False,
    only: str | None = None,
    lane: Annotated[
        str | None,
        typer.Option(
            help="只运行一个任务通道：sweep（及时类）、batch（全库批量类）或 verify（数据链核验）"
        ),
    ] = None,
) -> None:
    """Run the due sweeps (publication ends, overdue obligations, deliveries). A job already
    running in another process (the server's scheduler) is not started again: `busy`."""
    from citycredit.kernel.jobs import FAILED, run_due

    try:
        results = run_due(_container(), force=force, only=only, lane=lane)
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/red]")
        raise typer.Exit(2) from None
    for r in results:
        console.print(f"{r.name}: {r.status} {json.dumps(r.detail, ensure_ascii=False)}")
    if not results:
        console.print("没有到期的任务")
    if any(r.status == FAILED for r in results):
        raise typer.Exit(1)


# -- ledger ---------------------------------------------------------------------------------


@ledger_app.command("integrate")
def ledger_integrate() -> None:
    """Run the sequencer now: integrate pending entries and sign a checkpoint."""
    from citycredit.ledger.service import integrate_now

    n = _run(integrate_now, _container())
    console.print(f"已处理 {n} 个事件")


@ledger_app.command("hsm-init")
def ledger_hsm_init() -> None:
    """Generate the log's signing key inside the PKCS#11 token (non-extractable) and print its
    verifier key; once per deployment, before the log's first checkpoint (G19)."""
    from citycredit.ledger.pkcs11 import generate_in_token
    from citycredit.ledger.signers import verifier_to_vkey
    from citycredit.settings import Settings

    settings = Settings()
    signer = _run(generate_in_token, settings)
    console.print(f"已在令牌 {settings.ledger_pkcs11_token} 中生成签名密钥（不可导出）")
    print(verifier_to_vkey(signer.verifier()))


@ledger_app.command("checkpoint")
def ledger_checkpoint() -> None:
    """Print the latest signed checkpoint and the log's public key."""
    from citycredit.ledger.service import checkpoint

    cp = _run(checkpoint, _container())
    print(cp["checkpoint"], end="")
    console.print(f"公钥：{cp['vkey']}")


@ledger_app.command("bundle")
def ledger_bundle(
    record_id: str,
    out: Annotated[Path, typer.Option("--out")],
    purpose: Annotated[str | None, typer.Option("--purpose")] = None,
) -> None:
    """Write the offline proof bundle of a record (public view unless a purpose is given)."""
    from citycredit.accounts.model import ANONYMOUS
    from citycredit.ledger.service import bundle

    data = _run(bundle, _container(), SYSTEM if purpose else ANONYMOUS, record_id, purpose=purpose)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"已写出凭证：{out}")


@ledger_app.command("verify-bundle")
def ledger_verify_bundle(
    file: Path,
    vkey: Annotated[
        str | None, typer.Option("--vkey", help="信任的数据链公钥；不给则使用凭证自带的公钥")
    ] = None,
) -> None:
    """Verify a proof bundle offline (no database, no network)."""
    from citycredit.ledger.bundle import BundleError, verify_bundle

    try:
        report = verify_bundle(json.loads(file.read_text(encoding="utf-8")), trusted_vkey=vkey)
    except (BundleError, ValueError) as exc:
        err.print(f"[red]验证失败：{exc}[/red]")
        raise typer.Exit(1) from exc
    for line in report.checks:
        console.print(f"✓ {line}")
    if not report.key_pinned:
        console.print("注意：使用了凭证自带的公钥；请用 --vkey 指定从信用办公布渠道获得的公钥")
    console.print(f"验证通过：{report.ref}（{report.origin}，树大小 {report.size}）")


_VERIFY_RANGE = {"full": "全部叶子", "new": "新叶子", "window": "轮换复核"}


@ledger_app.command("verify")
def ledger_verify(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="as the hourly job: the leaves since the last verified head and the next "
            "window of older ones (a full run when there is no head to go on from)",
        ),
    ] = False,
) -> None:
    """Recompute leaves and the tree; name every record changed, inserted or deleted."""
    from citycredit.ledger.verify import verify_log

    report = verify_log(_container(), incremental=incremental)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        scanned = "，".join(
            f"{_VERIFY_RANGE[r['why']]} #{r['from']}–#{r['to'] - 1}"
            for r in report.ranges
            if r["to"] > r["from"]
        )
        console.print(
            f"{'增量' if report.mode == 'incremental' else '全量'}验证（{scanned or '无叶子'}）："
            f"叶子 {report.leaves}，检查点 {report.checkpoint_size}，"
            f"树根{'一致' if report.root_ok else '不一致'}，"
            f"签名{'有效' if report.signature_ok else '无效'}"
        )
        for ch in report.changed:
            console.print(f"[red]被修改：{ch['ref']} 字段 {'、'.join(ch['fields'])}[/red]")
            for problem in ch.get("problems", ()):  # an export's files on disk
                console.print(f"[red]  {problem}[/red]")
        for ref in report.inserted:
            console.print(f"[red]未入链（被插入）：{ref}[/red]")
        for ref in report.deleted:
            console.print(f"[red]被删除：{ref}[/red]")
        for idx in report.leaf_mismatch:
            console.print(f"[red]叶子数据与哈希不符：#{idx}[/red]")
        for idx in report.missing:
            console.print(f"[red]叶子缺失：#{idx}[/red]")
        for node in report.node_mismatch:
            console.print(f"[red]树节点被修改：第 {node['level']} 层 #{node['index']}[/red]")
        for cp in report.checkpoint_mismatch:
            console.print(f"[red]检查点与重算的树根不符：树大小 {cp['size']}[/red]")
        for event_id in report.unsequenced:
            console.print(f"[red]已提交但未入链的事件：{event_id}[/red]")
        if report.rollback:
            console.print(f"[red]数据链被回退（与上次验证的链头不一致）：{report.rollback}[/red]")
        if report.first_bad_index is not None:
            console.print(f"[red]第一个有问题的叶子：#{report.first_bad_index}[/red]")
    if not report.ok:
        raise typer.Exit(1)


# -- synthetic city, server ---------------------------------------------------------------------


@app.command("generate")
def generate(
    subjects: Annotated[int, typer.Option("--subjects")] = 3000,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    out: Annotated[Path, typer.Option("--out")] = Path("var/synthetic"),
    bad_share: Annotated[float, typer.Option("--bad-share")] = 0.05,
) -> None:
    """Generate a deterministic synthetic Yulin city (department files in national formats)."""
    from citycredit.synth.city import generate_city

    with Progress(
        TextColumn("生成合成城市"), BarColumn(), MofNCompleteColumn(), console=err
    ) as bar:
        task = bar.add_task("", total=subjects)
        manifest = generate_city(
            out,
            subjects=subjects,
            seed=seed,
            bad_share=bad_share,
            progress=lambda n: bar.update(task, completed=n),
        )
    console.print(f"已生成 {subjects} 个主体、{len(manifest.files)} 个部门文件：{out}")


@app.command("seed")
def seed(directory: Path) -> None:
    """Load a generated city (departments + every file through the intake)."""
    from citycredit.synth.load import seed_city

    _report_seed(_run(seed_city, _container(), directory, on_file=lambda p: err.print(f"归集 {p}")))


def _report_seed(result: Any) -> None:
    total = sum(r.counts.received for r in result.receipts)
    console.print(
        f"已归集 {len(result.receipts)} 个文件、{total} 行，{result.leaves} 个事件已入数据链；"
        f"令牌见 {result.tokens_file}"
    )


@app.command("serve")
def serve(
    host: str | None = None,
    port: int | None = None,
    workers: Annotated[
        int | None, typer.Option(help="server processes (default: settings.workers, 1)")
    ] = None,
) -> None:
    """Migrate, create the synthetic city on a development first start, and serve on :8000.

    Seeding follows ``seed_synthetic_city`` (on in development only; refused in production).
    """
    import uvicorn

    from citycredit.db.migrate import upgrade
    from citycredit.synth.load import first_start
    from citycredit.web.app import create_app
    from citycredit.web.logformat import uvicorn_log_config

    c = _container()
    upgrade(c.engine)
    result = first_start(
        c, on_start=lambda n: console.print(f"首次启动：生成合成榆林城市（{n} 个主体）…")
    )
    if result is not None:
        _report_seed(result)
    # The personal-data key ring, checked against this database (and, in development, created)
    # here, once: server processes started next each load the same ring instead of racing to
    # create one; a ring that is not this database's stops `serve` before any worker starts.
    _run(lambda: c.personal_codec)
    host, port = host or c.settings.host, port or c.settings.port
    n = workers if workers is not None else c.settings.workers
    if n == 1:
        uvicorn.run(create_app(c), host=host, port=port, log_config=uvicorn_log_config())
        return
    from citycredit.web.serve import run

    if c.engine.dialect.name != "postgresql":
        raise typer.BadParameter(
            f"--workers {n}: several server processes need PostgreSQL "
            "(CITYCREDIT_DATABASE_URL); the embedded SQLite database is served by one",
            param_hint="--workers",
        )
    c.engine.dispose()  # the workers open their own connections
    raise typer.Exit(run("citycredit.web.serve:app", host=host, port=port, workers=n))


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
