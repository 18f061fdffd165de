"""The vectorised intake keeps one intake semantics with the row path, on SQLite and PostgreSQL.

Two kinds of tests:

* the foundation's intake tests (test_intake, test_codeless, test_kill_rerun) run again here
  with every submission forced onto the fast path (settings.intake_fast_min_bytes = 0) and
  batches of 3 rows, so keys, subjects and in-file repeats cross batch boundaries;
* parity: the same sequence of files (bad rows of every kind, in-file repeats, corrections,
  a withdrawal and its re-sending, natural persons and minors, codeless rows, extra cells)
  goes through the row path and, on an emptied database, through the fast path; receipts,
  quarantine, subjects, records, versions, the blind index, the clerk's queue and the outbox
  (ledger leaves included) must be the same once random ids and salts are named stably.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_codeless as _codeless
import test_intake as _intake
import test_kill_rerun as _kill
from sqlalchemy import select, text

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.db.models import metadata
from citycredit.ingest import fast
from citycredit.ingest.db import (
    RecordRow,
    RecordVersionRow,
    RejectRow,
    SubmissionRow,
    UnresolvedRow,
)
from citycredit.ingest.fast import reader
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger.entries import REASON_FIELD, LedgerEntry, field_digest
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.records import ledger_personal, reject_aad, unresolved_aad, version_aad
from citycredit.settings import Settings
from citycredit.subjects.db import SubjectAliasRow, SubjectRow
from support import SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db


# --------------------------------------------------------------------------- foundation re-run


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every submission of these tests takes the fast path."""
    return settings.model_copy(update={"intake_fast_min_bytes": 0})


@pytest.fixture(autouse=True)
def _small_batches(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[None]:
    """Batches of 3 rows; the CLI subprocesses of the kill test take the fast path too.

    Every re-run foundation test must really have gone through the fast path.
    """
    monkeypatch.setattr(reader, "BATCH_ROWS", 3)
    monkeypatch.setenv("CITYCREDIT_INTAKE_FAST_MIN_BYTES", "0")
    calls: list[int] = []
    original = fast.run_fast

    def counted(*args: Any, **kw: Any) -> None:
        calls.append(1)
        original(*args, **kw)

    monkeypatch.setattr(fast, "run_fast", counted)
    yield
    name = request.node.name
    if name.startswith("test_fast_test_") and "kill" not in name:
        assert calls, f"{name} did not take the fast path"


MODULES = (_intake, _codeless, _kill)
for _module in MODULES:
    for _name in dir(_module):
        if _name.startswith("test_"):
            globals()[f"test_fast_{_module.__name__}_{_name[5:]}"] = getattr(_module, _name)
loaded = _codeless.loaded  # the fixture the codeless tests use


def test_foundation_tests_are_rerun_here() -> None:
    expected = {
        f"test_fast_{m.__name__}_{n[5:]}" for m in MODULES for n in dir(m) if n.startswith("test_")
    }
    assert len(expected) >= 19 and expected <= set(globals())


# --------------------------------------------------------------------------- parity

AUTH = uscc("11", "610800", "MA0CAMR1")
SHENMU_AUTH = uscc("11", "610881", "MA0XMXJ1")
CITY_AUTH = uscc("11", "610800", "MA0CTTY1")
CO = uscc("91", "610881", "MA6AAAA1")
TWIN_SHENMU = uscc("91", "610881", "MA6BBBB2")
TWIN_YUYANG = uscc("91", "610802", "MA6CCCC3")
SHOP = uscc("92", "610802", "MA6DDDD4")
LATE = uscc("91", "610802", "MA6EEEE5")
ADULT = id_number("610802", "19800101", "011")
MINOR = id_number("610881", "20120305", "022")
REG_NO = _codeless.reg_no("61088100012345")
COLUMNS = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_XDR_ZJHM",
    "CF_XDR_GSZC",
    "CF_XDR_ZZJG",
    "CF_XDR_DZ",
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
    "CF_GSJZQ",
    "本地备注",
]


def row(**over: Any) -> list[Any]:
    base: dict[str, Any] = {
        "CF_XDR_MC": "榆阳区某商贸有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": uscc("91", "610802", "MA6XXXX1"),
        "CF_WSH": "榆市监罚〔2026〕1号",
        "CF_WFXW": "未按规定公示年度报告",
        "CF_SY": "经查，当事人……",
        "CF_YJ": "《条例》第十八条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": "2026-10-10",
        "CF_CFJG": "榆林市市场监督管理局",
        "CF_CFJGDM": AUTH,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": AUTH,
    }
    base.update(over)
    return [base.get(c, "") for c in COLUMNS]


def person(wsh: str, idn: str, **over: Any) -> list[Any]:
    return row(
        CF_XDR_MC=over.pop("name", "王某某"),
        CF_XDR_LB="自然人",
        CF_XDR_SHXYM="",
        CF_XDR_ZJHM=idn,
        CF_WSH=wsh,
        **over,
    )


def company(n: int, **over: Any) -> list[Any]:
    values = {
        "CF_XDR_MC": f"榆阳区第{n}号商贸有限公司",
        "CF_XDR_SHXYM": over.pop("code", uscc("91", "610802", f"MA7{n:05d}")),
        "CF_WSH": over.pop("wsh", f"榆市监罚〔2026〕{n}号"),
    }
    return row(**{**values, **over})


def codeless(wsh: str, name: str, **over: Any) -> list[Any]:
    return row(CF_XDR_MC=name, CF_XDR_SHXYM="", CF_WSH=wsh, **over)


def file_a() -> list[list[Any]]:
    bad = [change for _label, change, _f, _c in _intake.BAD_ROWS]
    rows = [
        company(1),
        company(2, CF_CFLB="警告", CF_NR="警告", CF_NR_FK=""),  # minor: not published
        company(3, CF_CFLB="吊销许可证", CF_NR="吊销营业执照"),  # serious
        company(4, CF_NR_FK="200"),  # 200万元 by a market regulator: serious
        row(
            CF_XDR_MC="同名商贸有限公司",
            CF_XDR_SHXYM=CO,
            CF_WSH="神市监罚〔2026〕1号",
            CF_CFJGDM=SHENMU_AUTH,
        ),
        person("榆市监罚〔2026〕P1号", ADULT, CF_XDR_DZ="榆林市榆阳区长城路8号"),
        person("榆市监罚〔2026〕P2号", MINOR, name="李某"),
        row(CF_XDR_MC="某个体户", CF_XDR_LB="个体工商户", CF_XDR_SHXYM=SHOP, CF_WSH="S1"),
        company(5, CF_NR="罚款2万元（第一次）"),  # the key of company 5 three more times
        company(5, CF_NR="罚款2万元（第二次）"),
        company(5, CF_NR="罚款2万元（第一次）"),
        company(5, CF_NR="罚款2万元（第一次）"),
        company(6),
        company(6),  # identical repeat
        codeless("C1", "别名甲", CF_XDR_GSZC=REG_NO),  # by 注册号
        codeless("C2", "别名乙", CF_XDR_ZZJG=CO[8:16] + "-" + CO[16]),  # by 组织机构代码
        codeless("C3", "同名商贸有限公司", CF_CFJGDM=SHENMU_AUTH),  # by name in 神木
        codeless("C4", "同名商贸有限公司", CF_CFJGDM=CITY_AUTH),  # ambiguous → queue
        codeless("C5", "晚到商贸有限公司"),  # before the row creating that name → queue
        company(7, code=LATE, CF_XDR_MC="晚到商贸有限公司"),
        codeless("C6", "晚到商贸有限公司"),  # after it → matched
        codeless("C7", "王某", CF_XDR_LB="自然人"),  # a person is never matched by name
        [""] * len(COLUMNS),
        company(8, 本地备注="多余的列"),
    ]
    for i, change in enumerate(bad):
        rows.append(company(100 + i, **change))
    rows.append(company(200, CF_JDRQ="2023-02-30", CF_CFLB="打板子", CF_SY=""))
    rows.append([*company(201), "多出的格", "", "又一格"])
    rows.append(company(202, CF_GSJZQ="2026-10-09"))  # 公示截止期 before the decision
    rows.append(company(203, CF_GSJZQ="2026-10-09", CF_JDRQ="2026-13-01"))  # only the bad date
    rows.append(company(204, CF_GSJZQ="2027-10-10"))
    rows.append(company(9, wsh="同键", CF_NR="A"))
    rows.append(company(9, wsh="同键", CF_NR="B"))
    return rows


def file_b() -> list[list[Any]]:
    return [
        company(1),  # duplicate of the stored version
        company(2, CF_CFLB="警告", CF_NR="警告（更正）", CF_NR_FK=""),  # correction
        company(3, CF_CFLB="吊销许可证", CF_NR="吊销营业执照"),  # the withdrawn one, again
        company(5, CF_NR="罚款2万元（第一次）"),  # equal to the stored version …
        company(5, CF_NR="罚款3万元", CF_NR_FK="3"),  # … then a correction …
        company(5, CF_NR="罚款4万元", CF_NR_FK="4"),  # … repeated in the file
        person("榆市监罚〔2026〕P1号", ADULT, CF_XDR_DZ="榆林市榆阳区长城路9号"),
        company(300),
        company(301),
        company(300, CF_NR="新的"),
        codeless("C8", "别名甲", CF_XDR_GSZC=REG_NO, CF_NR="罚款2万元（补报）"),
    ]


def tax_file(tmp: Path) -> Path:
    header = ["NS_MC", "NS_SHXYM", "NS_ND", "NS_DJ", "NS_PDRQ"]
    rows = [
        ["甲公司", uscc("91", "610802", "MA7T0001"), "2025", "A", "2026-04-01"],
        ["乙公司", uscc("91", "610802", "MA7T0002"), "2025", "D", "2026-04-01"],
        ["丙公司", uscc("91", "610802", "MA7T0003"), "2025", "B", ""],
        ["丁公司", uscc("91", "610802", "MA7T0004"), "二〇二五", "B", "2026-04-01"],
    ]
    return write_csv(tmp / "tax.csv", header, rows)


def run_sequence(c: Container, tmp: Path, *, fast: bool) -> list[dict[str, Any]]:
    """Registry, penalty file A, a withdrawal, penalty file B (GBK) and a tax file."""
    actor = department(c)
    receipts = []
    reg = ingest_submission(c, actor, path=_codeless.registry_file(tmp), item_code="registration")
    receipts.append(reg.as_dict())
    a = write_csv(tmp / "a.csv", COLUMNS, file_a())
    receipts.append(ingest_submission(c, actor, path=a, item_code="penalty", fast=fast).as_dict())
    with c.uow() as uow:
        rid = uow.session.scalar(
            select(RecordRow.id).where(RecordRow.key_text.like("%榆市监罚〔2026〕3号"))
        )
    assert rid is not None
    withdraw_record(c, department_principal(c, SAMR), rid, "处罚决定已被撤销")
    b = write_csv(tmp / "b.csv", COLUMNS, file_b(), encoding="gbk")
    receipts.append(ingest_submission(c, actor, path=b, item_code="penalty", fast=fast).as_dict())
    tax = tax_file(tmp)
    receipts.append(
        ingest_submission(c, actor, path=tax, item_code="tax_credit_grade", fast=fast).as_dict()
    )
    return receipts


def fresh(c: Container, request: pytest.FixtureRequest, tmp: Path) -> Container:
    """The container again on an empty database (same keys, clock and data directory)."""
    if c.settings.is_sqlite:
        # SQLite tables of other areas refuse DELETE (audit trail): use a new migrated file.
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp / "second.sqlite3"
        shutil.copy(template, path)
        second = build_container(
            c.settings.model_copy(update={"database_url": f"sqlite:///{path}"}), clock=c.clock
        )
        request.addfinalizer(second.dispose)
        return second
    with c.engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return c


class Names:
    """Stable names for random ids: subjects by code, records by key, submissions by file."""

    def __init__(self, c: Container) -> None:
        with c.uow() as uow:
            s = uow.session
            self.subject = {
                r.subject_id: r.uscc or (f"id:{r.id_digest}" if r.id_digest else f"n:{r.name}")
                for r in s.scalars(select(SubjectRow))
            }
            self.submission = {r.id: r.filename for r in s.scalars(select(SubmissionRow))}
            self.record = {r.id: self.text(r.key_text) for r in s.scalars(select(RecordRow))}

    def text(self, value: str) -> str:
        for sid, name in self.subject.items():
            value = value.replace(sid, name)
        return value


def snapshot(c: Container, receipts: list[dict[str, Any]]) -> dict[str, Any]:
    names = Names(c)
    codec = c.personal_codec
    h = hash_suite(Suite(c.settings.ledger_suite))
    out: dict[str, Any] = {"receipts": []}
    for r in receipts:
        r = {k: v for k, v in r.items() if k not in ("submission_id", "created_at", "completed_at")}
        r["notes"] = [names.text(n) for n in r["notes"]]
        out["receipts"].append(r)
    with c.uow() as uow:
        s = uow.session
        out["subjects"] = sorted(
            json.dumps(
                {
                    **{c.name: str(getattr(r, c.name)) for c in SubjectRow.__table__.columns},
                    "subject_id": names.subject[r.subject_id],
                },
                ensure_ascii=False,
                sort_keys=True,
            )
            for r in s.scalars(select(SubjectRow))
        )
        out["aliases"] = sorted(
            (a.kind, a.value, names.subject[a.subject_id])
            for a in s.scalars(select(SubjectAliasRow))
        )
        versions: dict[tuple[str, int], dict[str, Any]] = {}
        for v in s.scalars(select(RecordVersionRow)):
            personal = codec.open(v.personal, aad=version_aad(v.record_id, v.version))
            # what the leaf commits to: personal values as keyed digests (leaf version 2)
            versions[(v.record_id, v.version)] = {
                **v.payload,
                **ledger_personal(codec, personal),
            }
            out.setdefault("versions", []).append(
                (
                    names.record[v.record_id],
                    v.version,
                    v.kind,
                    names.submission.get(v.submission_id or "", None),
                    v.row_number,
                    json.dumps(v.payload, sort_keys=True, ensure_ascii=False),
                    json.dumps(personal, sort_keys=True, ensure_ascii=False),
                    v.content_hash,
                    v.reason,
                    v.created_by,
                )
            )
        out["versions"] = sorted(out.get("versions", []))
        # id, record_key (a hash over the subject id) and key_text are named by the record label
        skip = {"id", "subject_id", "record_key", "key_text"}
        out["records"] = sorted(
            (
                names.record[r.id],
                names.subject[r.subject_id],
                json.dumps(
                    {
                        k: str(getattr(r, k))
                        for k in (c.name for c in RecordRow.__table__.columns)
                        if k not in skip
                    },
                    sort_keys=True,
                    ensure_ascii=False,
                ),
            )
            for r in s.scalars(select(RecordRow))
        )
        out["rejects"] = []
        for j in s.scalars(select(RejectRow).order_by(RejectRow.id)):
            raw = codec.open(j.raw, aad=reject_aad(j.submission_id, j.row_number))
            out["rejects"].append(
                (
                    names.submission[j.submission_id],
                    j.row_number,
                    j.status,
                    json.dumps(raw, sort_keys=True, ensure_ascii=False),
                    json.dumps(j.reasons, sort_keys=True, ensure_ascii=False),
                )
            )
        out["unresolved"] = []
        for u in s.scalars(select(UnresolvedRow).order_by(UnresolvedRow.id)):
            reject = s.get(RejectRow, u.reject_id)
            assert reject is not None and reject.row_number == u.row_number
            values = codec.open(u.values, aad=unresolved_aad(u.submission_id, u.row_number))
            out["unresolved"].append(
                (
                    names.submission[u.submission_id],
                    u.row_number,
                    u.name,
                    u.division_code,
                    json.dumps(values, sort_keys=True, ensure_ascii=False),
                    u.status,
                    sorted(
                        json.dumps(
                            {**cand, "subject_id": names.subject[cand["subject_id"]]},
                            sort_keys=True,
                            ensure_ascii=False,
                        )
                        for cand in u.candidates
                    ),
                )
            )
        out["index"] = sorted(
            (p.kind, p.digest, p.index_kid, names.record[p.record_id], p.version, p.field)
            for p in s.scalars(select(PersonalIndexRow))
        )
        out["outbox"] = []
        for e in s.scalars(select(OutboxEventRow).order_by(OutboxEventRow.id)):
            payload = dict(e.payload)
            if "ledger" in payload:
                entry = LedgerEntry.from_payload(payload["ledger"])
                data = json.loads(entry.data)
                fields = versions[(data["record_id"], data["version"])]
                # every committed field digest matches the version's content under its salt
                committed = {k: v for k, v in data["fields"].items() if k != REASON_FIELD}
                assert committed == {
                    code: field_digest(h, entry.salt, code, value) for code, value in fields.items()
                }, (e.event_type, data["ref"])
                assert base64.b64encode(entry.data).decode() == payload["ledger"]["data"]
                data.update(
                    record_id=names.record[data["record_id"]],
                    ref=names.record[data["record_id"]] + f"/{data['version']}",
                    subject_id=names.subject[data["subject_id"]],
                    record_key=names.record[data["record_id"]],
                    fields=sorted(data["fields"]),
                )
                payload["ledger"] = data
            if "submission_id" in payload:
                payload["submission_id"] = names.submission.get(payload["submission_id"])
            aggregate = {
                "record": names.record,
                "subject": names.subject,
                "submission": names.submission,
            }.get(e.aggregate_type, {})
            out["outbox"].append(
                (
                    e.event_type,
                    e.aggregate_type,
                    aggregate.get(e.aggregate_id, e.aggregate_id),
                    names.subject.get(e.subject_id or "", None),
                    json.dumps(payload, sort_keys=True, ensure_ascii=False),
                )
            )
    return out


@pytest.fixture
def both(
    container: Container, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[dict[str, Any], dict[str, Any]]:
    (tmp_path / "row").mkdir()
    (tmp_path / "fast").mkdir()
    rows = snapshot(container, run_sequence(container, tmp_path / "row", fast=False))
    second = fresh(container, request, tmp_path)
    fast = snapshot(second, run_sequence(second, tmp_path / "fast", fast=True))
    return rows, fast


def test_fast_and_row_paths_give_identical_receipts_and_archives(
    both: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    rows, fast = both
    # the scenario exercises what it claims to
    a, b, tax = rows["receipts"][1], rows["receipts"][2], rows["receipts"][3]
    assert a["new"] >= 15 and a["duplicate"] >= 4 and a["rejected"] >= 20 and a["unresolved"] == 2
    assert b["corrected"] >= 4 and b["duplicate"] >= 2 and b["new"] >= 2
    assert tax["rejected"] == 2 and tax["new"] == 2
    assert any("保留后者" in n for n in a["notes"]) and any("未识别的列" in n for n in a["notes"])
    assert any(
        r[1] == "minor"
        for r in [(x[0], json.loads(x[2]).get("unpublished_reason")) for x in rows["records"]]
    )
    assert rows["index"], "the natural persons' ID numbers are blind-indexed"
    assert any('"date_order"' in x[4] for x in rows["rejects"]), "公示截止期 before the decision"
    assert any(n.startswith("第 3 行恢复了已于 ") for n in b["notes"]), "the revival is noted"
    for part in rows:
        assert fast[part] == rows[part], part


def _xlsx(path: Path, rows: list[list[Any]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(COLUMNS)
    for r in rows:
        ws.append([None if v == "" else v for v in r])
    wb.save(path)
    return path


def _jsonl(path: Path, rows: list[list[Any]]) -> Path:
    lines = [json.dumps(dict(zip(COLUMNS, r, strict=False)), ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["xlsx", "jsonl"])
def test_xlsx_and_json_files_give_the_same_results_on_both_paths(
    container: Container, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    rows = file_a()[:23] + file_b()  # with the blank row
    write = _xlsx if kind == "xlsx" else _jsonl
    # One file for both runs: the receipt holds its sha256, and an XLSX written twice differs
    # (openpyxl and zipfile stamp the current time).
    source = write(tmp_path / f"source.{kind}", rows)

    def run(c: Container, tmp: Path, fast_path: bool) -> list[dict[str, Any]]:
        tmp.mkdir()
        actor = department(c)
        reg = ingest_submission(
            c, actor, path=_codeless.registry_file(tmp), item_code="registration"
        )
        path = tmp / f"rows.{kind}"
        path.write_bytes(source.read_bytes())
        r = ingest_submission(c, actor, path=path, item_code="penalty", fast=fast_path)
        return [reg.as_dict(), r.as_dict()]

    by_rows = snapshot(container, run(container, tmp_path / "row", False))
    second = fresh(container, request, tmp_path)
    by_fast = snapshot(second, run(second, tmp_path / "fast", True))
    # XLSX skips the blank row; a JSON object with only empty values is a row (quarantined)
    assert by_rows["receipts"][1]["received"] == len(rows) - (kind == "xlsx")
    assert by_rows["receipts"][1]["rejected"] >= 2
    for part in by_rows:
        assert by_fast[part] == by_rows[part], part


def test_a_fast_intake_in_progress_holds_back_no_other_writer(
    pg_container: Container, tmp_path: Path
) -> None:
    """Between its batches (events written, not committed) another transaction emits an event
    and commits at once — a credit check does not wait for a large submission (it waited for
    the whole submission while event writers took one lock). The deliveries then bring every
    event once, the late submission's too."""
    from citycredit.kernel import outbox

    c = pg_container
    actor = department(c)
    path = write_csv(tmp_path / "a.csv", COLUMNS, [company(i) for i in range(1, 8)])
    seen: list[int] = []

    def hook(done: int) -> None:
        with c.uow() as uow:
            uow.session.execute(text("SET LOCAL lock_timeout = '2s'"))
            outbox.emit(
                uow.session,
                event_type="test.other",
                aggregate_type="test",
                aggregate_id=str(done),
                at=c.clock.now(),
            )
            uow.commit()
        seen.append(done)

    got: list[outbox.Event] = []
    c.fault_hook = hook
    r = ingest_submission(c, actor, path=path, item_code="penalty", fast=True)
    c.fault_hook = None
    assert r.counts.new == 7 and seen == [3, 6, 7]  # batches of 3, a writer committed in each
    outbox.deliver(c.uow, "probe", lambda _s, events: got.extend(events), at=c.clock.now())
    ids = [e.id for e in got]
    assert len(ids) == len(set(ids))
    assert sum(e.event_type == "test.other" for e in got) == 3
    assert sum(e.event_type == "record.accepted" for e in got) == 7


def test_cells_past_the_header_and_nul_padding_read_alike_on_both_paths(
    container: Container, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Found by differential fuzzing: a note typed right of the table (a record whose only cell
    lies past the last header) and NUL-padded cells (legacy fixed-width exports)."""
    note = [""] * len(COLUMNS) + ["备注：以上数据已审核"]
    padded = company(7, CF_SY="经查\0\0")
    rows = [company(5), note, padded, company(6)]
    source = write_csv(tmp_path / "source.csv", COLUMNS, rows)

    def run(c: Container, tmp: Path, fast_path: bool) -> list[dict[str, Any]]:
        tmp.mkdir()
        path = tmp / "rows.csv"
        path.write_bytes(source.read_bytes())
        r = ingest_submission(c, department(c), path=path, item_code="penalty", fast=fast_path)
        return [r.as_dict()]

    by_rows = snapshot(container, run(container, tmp_path / "row", False))
    second = fresh(container, request, tmp_path)
    by_fast = snapshot(second, run(second, tmp_path / "fast", True))
    receipt = by_rows["receipts"][0]
    assert (receipt["received"], receipt["new"], receipt["rejected"]) == (4, 3, 1)
    stored = json.dumps(by_rows["versions"], ensure_ascii=False)
    assert "经查" in stored and "\\u0000" not in stored and "\0" not in stored
    for part in by_rows:
        assert by_fast[part] == by_rows[part], part


# --------------------------------------------------------------------------- subject resolution

COURT = "榆林市中级人民法院"
OPERATOR = id_number("610802", "19750606", "033")
THIRD = id_number("610881", "19900909", "044")
MASKED = "3423011964****3224"  # as the publisher masked it (formats.md §2 cardNum)
DEFAULTER = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_ZJHM", "SX_GSZC", "SX_AH", "SX_ZXFY", "SX_FBRQ"]


def shop(n: int, wsh: str, idn: str) -> list[Any]:
    """A 个体工商户 row naming its operator's ID number next to the shop's USCC."""
    return row(
        CF_XDR_MC=f"榆阳区第{n}号个体户",
        CF_XDR_LB="个体工商户",
        CF_XDR_SHXYM=uscc("92", "610802", f"MA7D{n:04d}"),
        CF_XDR_ZJHM=idn,
        CF_WSH=wsh,
    )


def shops_and_operators() -> tuple[list[list[Any]], list[list[Any]]]:
    """Shops and persons sharing an ID number, in every order (batches of 3 rows)."""
    first = [
        shop(1, "S1", MINOR),  # batch 1: the shop, then its operator in the same batch
        person("P1", MINOR, name="李某"),
        company(1),
        person("P2", ADULT),  # batch 2: the person, then (batch 3) a shop with the same ID
        company(2),
        shop(3, "S3", OPERATOR),  # … and a shop whose operator comes in the next batch
        shop(2, "S2", ADULT),  # batch 3
        company(3),
        company(4),
        person("P3", OPERATOR, name="赵某"),  # batch 4
        shop(4, "S4", THIRD),  # the operator comes in the next submission
    ]
    second = [person("P4", THIRD, name="孙某"), shop(5, "S5", THIRD), person("P5", MINOR)]
    return first, second


def defaulters() -> list[list[Any]]:
    """失信被执行人 rows whose ID number the publisher masked: never a subject's identifier."""

    def sx(name: str, cat: str, ah: str, on: str, code: str = "", reg: str = "") -> list[Any]:
        return [name, cat, code, MASKED, reg, ah, COURT, on]

    org = "法人及非法人组织"
    return [
        sx("张某", "0", "(2019)皖1122执1194号", "2019年07月13日"),  # a person: the queue
        sx("张某", "自然人", "(2019)皖1122执1195号", "2019-07-14"),
        # resolved by 注册号 (the registry file's company), not created from the number
        sx("别名甲", org, "(2026)陕0802执1号", "2026-10-01", reg=REG_NO),
        # a USCC creates its subject; the masked number is only the record's field
        sx(
            "失信商贸有限公司",
            org,
            "(2026)陕0802执2号",
            "2026-10-01",
            uscc("91", "610802", "MA6DFMK1"),
        ),
    ]


def run_subject_sequence(c: Container, tmp: Path, *, fast: bool) -> list[dict[str, Any]]:
    tmp.mkdir()
    actor, court = department(c), department(c, COURT, "MA0CFY01")
    first, second = shops_and_operators()
    out = [
        ingest_submission(
            c, actor, path=_codeless.registry_file(tmp), item_code="registration"
        ).as_dict()
    ]
    for name, rows in (("one.csv", first), ("two.csv", second)):
        path = write_csv(tmp / name, COLUMNS, rows)
        out.append(ingest_submission(c, actor, path=path, item_code="penalty", fast=fast).as_dict())
    path = write_csv(tmp / "sx.csv", DEFAULTER, defaulters())
    r = ingest_submission(c, court, path=path, item_code="judgment_defaulter", fast=fast)
    return [*out, r.as_dict()]


def test_shops_persons_and_masked_ids_resolve_alike_on_both_paths(
    container: Container, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Found by differential fuzzing (repro_iddigest, repro_masked). A 个体工商户 row with its
    operator's ID number gave the shop the ID's digest: the operator's own penalties were filed
    under the shop on the row path (no minors' protection) and the fast path, or both, failed on
    subjects.id_digest. A masked ID number (失信被执行人) made both paths fail creating a subject
    from it."""
    by_rows = snapshot(container, run_subject_sequence(container, tmp_path / "row", fast=False))
    with container.uow() as uow:
        subjects = list(uow.session.scalars(select(SubjectRow)))
        records = list(uow.session.scalars(select(RecordRow)))
    shops = [s for s in subjects if s.subject_type == "individual_business"]
    persons = [s for s in subjects if s.subject_type == "natural_person"]
    assert len(shops) == 5 and len(persons) == 4  # MINOR, ADULT, OPERATOR, THIRD
    assert all(s.id_digest is None and s.id_masked is None and s.birth_date is None for s in shops)
    assert all(s.id_digest and s.birth_date and s.uscc is None for s in persons)
    person_ids = {s.subject_id for s in persons}
    by_decision = {r.key_text.rsplit("|", 1)[1]: r for r in records}
    for wsh in ("P1", "P2", "P3", "P4", "P5"):
        assert by_decision[wsh].subject_id in person_ids, wsh
    assert by_decision["P1"].unpublished_reason == "minor"  # the operator is 14
    assert by_decision["P1"].subject_id == by_decision["P5"].subject_id
    assert by_decision["S1"].published  # the shop's penalty is the shop's
    receipts = by_rows["receipts"]
    assert [r["new"] for r in receipts[1:3]] == [11, 3]
    sx = receipts[3]
    assert (sx["received"], sx["new"], sx["unresolved"]) == (4, 2, 2), sx
    assert [u[1:3] for u in by_rows["unresolved"]] == [(1, "张某"), (2, "张某")]
    second = fresh(container, request, tmp_path)
    by_fast = snapshot(second, run_subject_sequence(second, tmp_path / "fast", fast=True))
    for part in by_rows:
        assert by_fast[part] == by_rows[part], part
