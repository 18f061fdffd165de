"""双公示 export: re-sends, the daily job's start, a revoked 信用修复, 删除 rows through our own
intake, 公示截止期, and the errors of bad options (audit of the outbound export)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from test_dual_publicity_export import province_container
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.cli.exports import app as export_cli
from citycredit.exports.db import ExportRow
from citycredit.exports.service import export_dual_publicity
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import (
    get_receipt,
    ingest_submission,
    list_rejects,
    locate_record,
    withdraw_record,
)
from citycredit.kernel.jobs import run_due
from citycredit.rights import repairs
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError
from support import SAMR, cli_env, department, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

CREDIT_OFFICE = "榆林市发展和改革委员会"
AUTH = uscc("11", "610800", "MA0CAMR1")
CO = uscc("91", "610802", "MA6FXA01")
CO2 = uscc("91", "610881", "MA6FXA02")
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")
COLUMNS = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_XDR_ZJHM",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_JDRQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
]
LICENCE = {
    "XK_XDR_MC": "榆阳区某商贸有限公司",
    "XK_XDR_LB": "法人及非法人组织",
    "XK_XDR_SHXYM": CO,
    "XK_XKWS": "食品经营许可决定书",
    "XK_WSH": "榆市监许〔2026〕70号",
    "XK_XKLB": "普通",
    "XK_NR": "食品销售",
    "XK_JDRQ": "2026-11-20",
    "XK_YXQZ": "2026-11-20",
    "XK_YXQZI": "2031-11-19",
    "XK_XKJG": SAMR,
    "XK_XKJGDM": AUTH,
    "XK_ZT": "有效",
    "XK_LYDW": SAMR,
    "XK_LYDWDM": AUTH,
}


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def data_file(done: dict[str, Any], item: str, fmt: str = "csv") -> Path:
    f = next(f for f in done["files"] if f["item"] == item and f["format"] == fmt)
    return Path(done["directory"]) / f["name"]


def by_number(done: dict[str, Any], item: str = "penalty") -> dict[str, dict[str, str]]:
    key = "CF_WSH" if item == "penalty" else "XK_WSH"
    return {r[key]: r for r in csv_rows(data_file(done, item))}


def ingest(c: Container, actor: Principal, name: str, rows: list[list[object]]) -> None:
    path = write_csv(c.settings.data_dir / name, COLUMNS, rows)
    ingest_submission(c, actor, path=path, item_code="penalty")


def fine(number: str, code: str, **values: object) -> list[object]:
    return penalty_row(COLUMNS, CF_XDR_SHXYM=code, CF_WSH=number, **values)


def withdraw(c: Container, actor: Principal, code: str, number: str, reason: str) -> None:
    row = {"CF_XDR_SHXYM": code, "CF_WSH": number}
    withdraw_record(c, actor, locate_record(c, actor, "penalty", row), reason)


def current(c: Container, number: str) -> tuple[str, dict[str, Any]]:
    """(status, current payload) of the penalty with this decision number."""
    with c.uow() as uow:
        s = uow.session
        record = next(r for r in s.scalars(select(RecordRow)) if r.key_text.endswith(f"|{number}"))
        versions = list(
            s.scalars(
                select(RecordVersionRow)
                .where(RecordVersionRow.record_id == record.id)
                .order_by(RecordVersionRow.version)
            )
        )
        content = [v for v in versions if v.kind != "withdrawal"][-1]
        return record.status, {**(content.payload or {}), "reason": versions[-1].reason}


@pytest.fixture
def fresh(
    request: pytest.FixtureRequest, container: Container, clock: FixedClock, tmp_path: Path
) -> Iterator[Any]:
    """An empty database of the same kind (the province's platform, running our intake).

    On PostgreSQL it is the same database emptied: finish with the source before calling it.
    """
    made: list[Container] = []

    def build() -> Container:
        target = province_container(request, container, clock, tmp_path)
        made.append(target)
        add_department(target, SYSTEM, name=CREDIT_OFFICE, code=uscc("11", "610800", "MA0FGW01"))
        return target

    yield build
    for target in made:
        target.dispose()


def keep(done: dict[str, Any], tmp_path: Path, name: str) -> Path:
    """Copy an export's directory aside (the source database may be emptied for the province)."""
    return Path(shutil.copytree(done["directory"], tmp_path / name))


def csv_of(directory: Path, item: str = "penalty", fmt: str = "csv") -> Path:
    prefix = "XZCF" if item == "penalty" else "XZXK"
    [path] = directory.glob(f"{prefix}_*.{fmt}")
    return path


# -- 1. a re-send with a past --until --------------------------------------------------------


def test_a_resend_of_an_old_period_leaves_the_province_on_the_current_state(
    container: Container, clock: FixedClock, tmp_path: Path, fresh: Any
) -> None:
    c = container
    dept = department(c)
    ingest(
        c, dept, "a.csv", [fine("榆市监罚〔2026〕101号", CO), fine("榆市监罚〔2026〕102号", CO2)]
    )
    first = export_dual_publicity(c, SYSTEM)
    clock.advance(hours=1)
    ingest(c, dept, "b.csv", [fine("榆市监罚〔2026〕101号", CO, CF_NR="罚款5万元", CF_NR_FK="5")])
    withdraw(c, dept, CO2, "榆市监罚〔2026〕102号", "决定已被复议撤销")
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    assert {k: r["OPERATION"] for k, r in by_number(second).items()} == {
        "榆市监罚〔2026〕101号": "更新",
        "榆市监罚〔2026〕102号": "删除",
    }
    clock.advance(hours=1)
    ingest(c, dept, "c.csv", [fine("榆市监罚〔2026〕101号", CO, CF_NR="罚款8万元", CF_NR_FK="8")])
    clock.advance(hours=1)

    # Re-send export 1's last five minutes, as typed on the command line.
    end = datetime.fromisoformat(first["until"])
    resend = export_dual_publicity(
        c, SYSTEM, since=(end - timedelta(minutes=5)).isoformat(), until=first["until"]
    )
    assert resend["mode"] == "explicit" and resend["until"] == first["until"]
    rows = by_number(resend)
    fixed, gone = rows["榆市监罚〔2026〕101号"], rows["榆市监罚〔2026〕102号"]
    # The current state, not the state as of `until` (新增 v1 with the old amount / withdrawn).
    assert (fixed["OPERATION"], fixed["RECORD_VERSION"], fixed["CF_NR_FK"]) == ("更新", "3", "8")
    assert (gone["OPERATION"], gone["CHANGE_REASON"]) == ("删除", "撤销：决定已被复议撤销")

    # The next daily export continues from export 2 (not from the re-send) and sends nothing:
    # what the province last loaded (the re-send, completed last) is already current.
    clock.advance(hours=1)
    daily = export_dual_publicity(c, SYSTEM)
    assert daily["mode"] == "incremental" and daily["since"] == second["until"]
    assert daily["counts"]["total"] == 0
    dirs = [keep(d, tmp_path, n) for n, d in (("e1", first), ("e2", second), ("e3", resend))]
    _, source = current(c, "榆市监罚〔2026〕101号")

    # The province loads the files in the order they were produced and ends on the current state.
    target = fresh()
    actor = department_principal(target, CREDIT_OFFICE)
    for d in dirs:
        r = ingest_submission(target, actor, path=csv_of(d), item_code="penalty")
        assert r.counts.rejected == 0
    status, values = current(target, "榆市监罚〔2026〕101号")
    assert status == "active" and values["CF_NR_FK"] == source["CF_NR_FK"]
    status, values = current(target, "榆市监罚〔2026〕102号")
    assert status == "withdrawn" and values["reason"] == "撤销：决定已被复议撤销"


# -- 2. --since pasted from a manifest, or inside an earlier export's period -----------------


def test_since_inside_an_earlier_export_keeps_its_withdrawals(
    container: Container, clock: FixedClock
) -> None:
    c = container
    dept = department(c)
    ingest(
        c, dept, "a.csv", [fine("榆市监罚〔2026〕201号", CO), fine("榆市监罚〔2026〕202号", CO2)]
    )
    clock.current = clock.now() + timedelta(microseconds=654321)  # the export runs at .654321
    first = export_dual_publicity(c, SYSTEM)
    assert first["counts"]["total"] == 2
    with c.uow() as uow:
        row = uow.session.get(ExportRow, first["id"])
        assert row is not None
        stored = row.period_until
    # Stored to the second: what the manifest and `export list` print is the stored value.
    assert stored.microsecond == 0
    assert stored.astimezone(SHANGHAI).isoformat() == first["until"]
    manifest = json.loads((Path(first["directory"]) / "manifest.json").read_text("utf-8"))
    assert manifest["period"]["until"] == first["until"]

    clock.advance(hours=1)
    ingest(c, dept, "b.csv", [fine("榆市监罚〔2026〕201号", CO, CF_NR="罚款3万元", CF_NR_FK="3")])
    withdraw(c, dept, CO2, "榆市监罚〔2026〕202号", "主体认定错误")
    end = datetime.fromisoformat(first["until"])
    for since in (first["until"], (end - timedelta(minutes=5)).isoformat()):
        clock.advance(hours=1)
        done = export_dual_publicity(c, SYSTEM, since=since)
        rows = by_number(done)
        assert {k: r["OPERATION"] for k, r in rows.items()} == {
            "榆市监罚〔2026〕201号": "更新",
            "榆市监罚〔2026〕202号": "删除",
        }, since
        assert rows["榆市监罚〔2026〕202号"]["CHANGE_REASON"] == "撤销：主体认定错误"


# -- 3. an explicit --since does not move the daily job's start -----------------------------


def test_an_explicit_export_does_not_move_the_daily_start(
    container: Container, clock: FixedClock
) -> None:
    c = container
    dept = department(c)
    path = write_csv(c.settings.data_dir / "l.csv", list(LICENCE), [list(LICENCE.values())])
    ingest_submission(c, dept, path=path, item_code="licence")
    first = export_dual_publicity(c, SYSTEM, trigger="job")
    assert by_number(first, "licence")["榆市监许〔2026〕70号"]["OPERATION"] == "新增"
    clock.advance(hours=1)
    row = {"XK_XDR_SHXYM": CO, "XK_WSH": "榆市监许〔2026〕70号"}
    withdraw_record(c, dept, locate_record(c, dept, "licence", row), "许可被依法撤回")
    clock.advance(days=3)
    # An operator re-sends the last day; the withdrawal (3 days ago) is before that period.
    explicit = export_dual_publicity(c, SYSTEM, since=clock.now() - timedelta(days=1))
    assert explicit["counts"]["total"] == 0
    clock.advance(hours=1)
    [result] = run_due(c, only="dual_publicity_export")
    assert result.status == "ok" and result.detail["since"] == first["until"]
    done = Path(result.detail["directory"])
    [gone] = csv_rows(next(done.glob("XZXK_*.csv")))
    assert (gone["OPERATION"], gone["CHANGE_REASON"]) == ("删除", "撤销：许可被依法撤回")


# -- 4. a 信用修复 revoked for fraud ------------------------------------------------------------


def test_a_repair_revoked_for_fraud_is_published_again(
    container: Container, clock: FixedClock
) -> None:
    c = container
    samr = department(c)
    row = fine("榆市监罚〔2026〕401号", CO, CF_JDRQ="2026-06-01")  # 一般: 1 year
    ingest(c, samr, "a.csv", [row])
    first = export_dual_publicity(c, SYSTEM)
    assert by_number(first)["榆市监罚〔2026〕401号"]["OPERATION"] == "新增"
    with c.uow() as uow:
        rid = uow.session.scalars(select(RecordRow.id)).one()
    clock.advance(days=2)  # later than any late window: the record's version is long sent
    repair = repairs.file_repair(
        c,
        CLERK,
        target_type="record",
        target_id=rid,
        reasons="罚款已全额缴纳，违法行为已整改",
        commitment_text="本企业承诺所提交材料真实有效，如有虚假愿承担相应法律责任。",
        materials=[
            {"code": "performance_proof", "name": "罚款缴纳凭证.pdf", "sha256": "b" * 64},
            {"code": "commitment", "name": "信用修复承诺书.pdf", "sha256": "c" * 64},
        ],
        channel="window",
    )
    repairs.accept(c, CLERK, repair["id"])
    repairs.decide(c, samr, repair["id"], approve=True, reason="同意修复")
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    down = by_number(second)["榆市监罚〔2026〕401号"]
    assert (down["OPERATION"], down["CHANGE_REASON"]) == ("删除", "信用修复")
    clock.advance(hours=1)
    revoked = clock.now()
    repairs.revoke_for_fraud(c, CLERK, repair["id"], "缴款凭证系伪造")
    clock.advance(hours=1)
    third = export_dual_publicity(c, SYSTEM)
    up = by_number(third)["榆市监罚〔2026〕401号"]
    assert (up["OPERATION"], up["CHANGE_REASON"]) == ("新增", "重新公示")
    assert up["CHANGED_AT"] == revoked.astimezone(SHANGHAI).isoformat(timespec="seconds")
    assert up["CF_NR_FK"] == "2" and up["PUBLICATION_END"] == "2027-06-01"
    clock.advance(days=1)
    assert export_dual_publicity(c, SYSTEM)["counts"]["total"] == 0


# -- 5. 删除 rows through our own intake (row and vectorised paths); a minor's 删除 row -------


def test_delete_rows_are_applied_by_our_own_intake(
    container: Container, clock: FixedClock, tmp_path: Path, fresh: Any
) -> None:
    c = container
    dept = department(c)
    adult = id_number("610802", "20080601")  # 18 on 2026-11-02; 17 on 2026-05-20
    rows = [
        fine("榆市监罚〔2026〕501号", CO),
        fine("榆市监罚〔2026〕502号", CO2),
        penalty_row(
            COLUMNS,
            CF_XDR_MC="刘某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=adult,
            CF_WSH="榆市监罚〔2026〕503号",
        ),
    ]
    ingest(c, dept, "a.csv", rows)
    first = export_dual_publicity(c, SYSTEM)
    assert first["counts"]["penalty"]["新增"] == 3
    clock.advance(hours=1)
    # 501 corrected; 502 withdrawn; 503's decision date corrected: the person was a minor.
    minor = penalty_row(
        COLUMNS,
        CF_XDR_MC="刘某",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=adult,
        CF_WSH="榆市监罚〔2026〕503号",
        CF_JDRQ="2026-05-20",
    )
    ingest(c, dept, "b.csv", [fine("榆市监罚〔2026〕501号", CO, CF_NR_FK="4"), minor])
    withdraw(c, dept, CO2, "榆市监罚〔2026〕502号", "文书号填报错误")
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    assert second["counts"]["penalty"] == {"新增": 0, "更新": 1, "删除": 2, "total": 3}

    out = by_number(second)
    gone, kid = out["榆市监罚〔2026〕502号"], out["榆市监罚〔2026〕503号"]
    # A 删除 row identifies the record, without its facts ...
    assert gone["CF_XDR_SHXYM"] == CO2 and gone["CF_XDR_MC"] and gone["RECORD_ID"]
    assert gone["CF_SY"] == gone["CF_NR"] == gone["CF_NR_FK"] == gone["CF_GSJZQ"] == ""
    # ... and a minor's carries no personal data at all (name, ID number).
    assert kid["CHANGE_REASON"] == "不予公示：当事人为未成年人" and kid["RECORD_ID"]
    assert kid["CF_XDR_MC"] == kid["CF_XDR_ZJHM"] == kid["CF_SY"] == ""
    assert kid["CF_CFJGDM"] == AUTH and kid["CF_XDR_LB"] == "自然人"
    text_out = data_file(second, "penalty").read_text(encoding="utf-8-sig")
    assert adult not in text_out and "刘某" not in text_out
    e1, e2 = keep(first, tmp_path, "e1"), keep(second, tmp_path, "e2")

    target = fresh()
    actor = department_principal(target, CREDIT_OFFICE)
    r1 = ingest_submission(target, actor, path=csv_of(e1), item_code="penalty", fast=True)
    assert (r1.counts.new, r1.counts.rejected) == (3, 0)
    assert not any("按逐行方式归集" in n for n in r1.notes)  # no 删除 rows: vectorised
    # The JSON file, checked only (dry run): the same outcome as the CSV below.
    dry = ingest_submission(
        target, actor, path=csv_of(e2, fmt="json"), item_code="penalty", dry_run=True
    ).as_dict()
    assert (dry["corrected"], dry["withdrawn"], dry["duplicate"], dry["rejected"]) == (1, 2, 0, 0)
    # The vectorised intake is asked for; files with 删除 rows go row by row (and say so).
    r2 = ingest_submission(target, actor, path=csv_of(e2), item_code="penalty", fast=True)
    got = r2.as_dict()
    assert (got["received"], got["corrected"], got["withdrawn"]) == (3, 1, 2)
    assert (got["duplicate"], got["rejected"], got["balanced"]) == (0, 0, True)
    assert any("按逐行方式归集" in n for n in r2.notes)
    assert not any(n.startswith("未识别的列") and "OPERATION" in n for n in r2.notes)
    stored = get_receipt(target, actor, r2.submission_id).as_dict()
    assert (stored["withdrawn"], stored["duplicate"], stored["balanced"]) == (2, 0, True)
    status, values = current(target, "榆市监罚〔2026〕502号")
    assert (status, values["reason"]) == ("withdrawn", "撤销：文书号填报错误")
    status, values = current(target, "榆市监罚〔2026〕503号")  # located by its decision number
    assert (status, values["reason"]) == ("withdrawn", "不予公示：当事人为未成年人")
    status, values = current(target, "榆市监罚〔2026〕501号")
    assert status == "active" and values["CF_NR_FK"] == "40000.00"
    # A repeated 删除 changes nothing: a duplicate (row path chosen this time).
    again = ingest_submission(target, actor, path=csv_of(e2), item_code="penalty", fast=False)
    assert (again.counts.duplicate, again.as_dict()["withdrawn"], again.counts.rejected) == (
        3,
        0,
        0,
    )

    # An OPERATION the intake does not know is quarantined with a reason.
    raw = csv_rows(csv_of(e2))
    next(r for r in raw if r["OPERATION"] == "更新")["OPERATION"] = "修改"
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(raw[0]))
        w.writeheader()
        w.writerows(raw)
    r3 = ingest_submission(target, actor, path=bad, item_code="penalty", fast=True)
    assert (r3.counts.rejected, r3.counts.duplicate) == (1, 2)
    [reject] = list_rejects(target, actor, r3.submission_id)
    assert reject["reasons"][0]["code"] == "invalid_operation"


# -- 6. 公示截止期: the platform's end, not the department's ------------------------------------


def test_gsjzq_carries_the_publication_end_the_platform_applies(
    container: Container, clock: FixedClock
) -> None:
    c = container
    dept = department(c)
    columns = [*COLUMNS, "CF_GSJZQ"]
    row = [*fine("榆市监罚〔2026〕601号", CO, CF_JDRQ="2026-11-02"), "2029-11-02"]  # 3 years
    path = write_csv(c.settings.data_dir / "g.csv", columns, [row])
    ingest_submission(c, dept, path=path, item_code="penalty")
    done = export_dual_publicity(c, SYSTEM)
    [sent] = csv_rows(data_file(done, "penalty"))
    # 一般 (Order No. 36): published one year, 2026-11-03 … 2027-11-02 (民法典 201/202);
    # publication_end is exclusive (2027-11-03), the files carry the last day.
    assert sent["PUBLICATION_END"] == "2027-11-02"
    assert sent["CF_GSJZQ"] == "2027-11-02"
    assert sent["DECLARED_PUBLICATION_END"] == "2029-11-02"
    assert sent["USCC_FILLED"] == ""  # the department sent the code itself
    doc = json.loads(data_file(done, "penalty", "json").read_text(encoding="utf-8"))
    assert doc["data"][0]["CF_GSJZQ"] == "2027-11-02"
    assert doc["data"][0]["DECLARED_PUBLICATION_END"] == "2029-11-02"
    manifest = json.loads((Path(done["directory"]) / "manifest.json").read_text("utf-8"))
    assert "DECLARED_PUBLICATION_END" in manifest["platform_columns"]
    assert "USCC_FILLED" in manifest["platform_columns"]


# -- 7. bad options -----------------------------------------------------------------------------


@pytest.fixture
def cli(container: Container, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    cli_env(container, monkeypatch)
    return CliRunner()


def test_bad_options_are_named(
    container: Container, clock: FixedClock, tmp_path: Path, cli: CliRunner
) -> None:
    c = container
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    for out, code in ((a_file, "not_a_directory"), (a_file / "sub", "invalid_directory")):
        with pytest.raises(FieldError) as e:
            export_dual_publicity(c, SYSTEM, out_dir=out)
        assert (e.value.field, e.value.value, e.value.code) == ("out", str(out), code)
        assert str(out) in e.value.message
        result = cli.invoke(export_cli, ["dual-publicity", "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "字段 out" in result.output and str(out) in result.output.replace("\n", "")
    assert a_file.read_text() == "x"
    with c.uow() as uow:  # a bad option, like --format: no export is started
        assert uow.session.scalar(select(func.count()).select_from(ExportRow)) == 0

    # An --until after now: what was typed is echoed, and why a date (today) is refused.
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM, until="2030-01-01")
    assert (e.value.field, e.value.value, e.value.code) == ("until", "2030-01-01", "future")
    assert "表示该日结束" in e.value.message
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM, until="2026-11-25")  # today (the clock: 11-25 10:00)
    assert e.value.value == "2026-11-25" and "当日尚未结束" in e.value.message
    yesterday = export_dual_publicity(c, SYSTEM, until="2026-11-24")
    assert yesterday["until"] == "2026-11-25T00:00:00+08:00"

    # An empty period: "the last export got here" only when since came from the last export.
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM, since="2026-11-20", until="2026-11-19")
    assert e.value.field == "since" and e.value.value == "2026-11-20"
    assert "上次导出" not in e.value.message
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM, until="2026-11-24T12:00")
    assert e.value.code == "empty_period" and "上次导出已到" in e.value.message
