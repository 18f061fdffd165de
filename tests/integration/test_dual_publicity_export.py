"""双公示 export: round trip through our own intake, layout, operations, privacy, bookkeeping."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from citycredit.accounts.model import SYSTEM, Principal
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.db.models import metadata
from citycredit.exports.db import ExportRecordRow, ExportRow
from citycredit.exports.model import LAYOUTS, PLATFORM_CODES
from citycredit.exports.service import export_dual_publicity, parse_instant
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.intake import roles_of
from citycredit.ingest.service import Receipt, ingest_submission, locate_record, withdraw_record
from citycredit.kernel.db import DisclosureRow
from citycredit.kernel.jobs import run_due
from citycredit.privacy.records import version_aad
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict, FieldError, PermissionDenied
from citycredit.subjects.db import SubjectRow
from citycredit.synth.city import DEFAULT_AS_OF, generate_city
from support import SAMR, department, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

CREDIT_OFFICE = "榆林市发展和改革委员会"
AUTH = uscc("11", "610800", "MA0CAMR1")
CO = uscc("91", "610802", "MA6EXP01")
CO2 = uscc("91", "610881", "MA6EXP02")
ITEMS = ("licence", "penalty")
WARNING = {"CF_CFLB": "警告", "CF_NR": "警告", "CF_NR_FK": ""}  # 轻微 (NDRC Order No. 36)
PERSON_COLUMNS = [
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


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def data_file(done: dict[str, Any], item: str, fmt: str = "csv") -> Path:
    f = next(f for f in done["files"] if f["item"] == item and f["format"] == fmt)
    return Path(done["directory"]) / f["name"]


# -- the province's side: our own intake ---------------------------------------------------


def replay(
    c: Container, actor: Principal, directories: list[Path], *, fast: bool | None = None
) -> list[Receipt]:
    """Ingest each export's CSV files in order through our own intake only: it applies the
    删除 rows itself (as withdrawals with the row's CHANGE_REASON)."""
    receipts = []
    for d in directories:
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        for f in manifest["files"]:
            if f["format"] != "csv":
                continue
            path = d / f["name"]
            assert sha256(path) == f["sha256"] and path.stat().st_size == f["bytes"]
            receipts.append(ingest_submission(c, actor, path=path, item_code=f["item"], fast=fast))
    return receipts


def snapshot(c: Container) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every licence/penalty record by (item, subject code, key): state, values, history."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    with c.uow() as uow:
        s = uow.session
        sent: dict[str, str] = {}
        for rid, op in s.execute(
            select(ExportRecordRow.record_id, ExportRecordRow.operation)
            .join(ExportRow, ExportRow.id == ExportRecordRow.export_id)
            .where(ExportRow.status == "completed")
            .order_by(ExportRow.period_until, ExportRecordRow.id)
        ):
            sent[rid] = op
        for r in s.scalars(select(RecordRow).where(RecordRow.item_code.in_(ITEMS))):
            subject = s.get(SubjectRow, r.subject_id)
            assert subject is not None
            versions = list(
                s.scalars(
                    select(RecordVersionRow)
                    .where(RecordVersionRow.record_id == r.id)
                    .order_by(RecordVersionRow.version)
                )
            )
            content = [v for v in versions if v.kind != "withdrawal"][-1]
            personal = c.personal_codec.open(
                content.personal, aad=version_aad(r.id, content.version)
            )
            code = subject.uscc or subject.id_digest or ""
            key = (r.item_code, code, r.key_text.split("|", 2)[2])
            out[key] = {
                "id": r.id,
                "status": r.status,
                "unpublished_reason": r.unpublished_reason,
                "values": {**(content.payload or {}), **personal},
                "kinds": [v.kind for v in versions],
                "reason": versions[-1].reason,
                "uscc": subject.uscc,
                "minor": _minor(subject, r.decision_date),
                "sent": sent.get(r.id),
                "publication_end": r.publication_end,
            }
    return out


def _minor(subject: SubjectRow, decision: date | None) -> bool:
    if subject.birth_date is None or decision is None or subject.subject_type != "natural_person":
        return False
    b = subject.birth_date
    return decision.year - b.year - ((decision.month, decision.day) < (b.month, b.day)) < 18


def expected_values(c: Container, item_code: str, source: dict[str, Any]) -> list[dict[str, Any]]:
    """What the province must hold: every field, except local fields that are not public for
    the record (a person's address); an empty USCC may be filled with the matched subject's."""
    item = c.catalog.item(item_code)
    national = LAYOUTS[item_code].fields
    values = source["values"]
    exp = {
        k: v
        for k, v in values.items()
        if k in national or item.is_public_field(k, values) or k not in item.codes
    }
    declared = roles_of(item).get("declared_publication_end")
    if declared:  # 公示截止期 carries the end this platform applies (its last day)
        exp.pop(declared, None)
        if source["publication_end"]:
            exp[declared] = (source["publication_end"] - timedelta(days=1)).isoformat()
    uscc_code = roles_of(item)["uscc"]
    out = [exp]
    if not exp.get(uscc_code) and source["uscc"]:
        out.append({**exp, uscc_code: source["uscc"]})
    return out


def province_container(
    request: pytest.FixtureRequest, container: Container, clock: FixedClock, tmp_path: Path
) -> Container:
    """A container on an empty database of the same kind as ``container``'s (on PostgreSQL the
    same database emptied: finish with the source first)."""
    url = container.settings.effective_database_url
    container.dispose()
    if url.startswith("sqlite"):
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "province.sqlite3"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
    else:
        engine = create_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    settings = container.settings.model_copy(
        update={"database_url": url, "data_dir": tmp_path / "province"}
    )
    return build_container(settings, clock=clock)


@pytest.fixture
def fresh(
    request: pytest.FixtureRequest, container: Container, clock: FixedClock, tmp_path: Path
) -> Iterator[Any]:
    """Build a container on an empty database of the same kind (the province's platform)."""
    made: list[Container] = []

    def build() -> Container:
        made.append(province_container(request, container, clock, tmp_path))
        return made[-1]

    yield build
    for target in made:
        target.dispose()


# -- the round trip -------------------------------------------------------------------------


def load_initial_city(c: Container, tmp_path: Path, *, subjects: int, seed: int) -> Any:
    """A synthetic city's departments and initial files through the intake; its manifest."""
    manifest = generate_city(tmp_path / "city", subjects=subjects, seed=seed)
    for dept in manifest.departments:
        add_department(c, SYSTEM, name=dept["name"], code=dept["code"])
    for f in manifest.files:
        if f.kind == "initial":
            actor = department_principal(c, f.department)
            ingest_submission(c, actor, path=tmp_path / "city" / f.path, item_code=f.item)
    return manifest


def test_export_round_trip(
    container: Container, clock: FixedClock, tmp_path: Path, fresh: Any
) -> None:
    c = container
    clock.current = at(DEFAULT_AS_OF, 10)
    manifest = load_initial_city(c, tmp_path, subjects=360, seed=11)
    first = export_dual_publicity(c, SYSTEM)
    assert first["mode"] == "full" and first["since"] is None

    # Later the same day: corrections and withdrawals, then the daily export continues.
    clock.advance(hours=2)
    for f in manifest.files:
        if f.kind == "correction":
            actor = department_principal(c, f.department)
            ingest_submission(c, actor, path=tmp_path / "city" / f.path, item_code=f.item)
    for w in manifest.withdrawals:
        actor = department_principal(c, w["department"])
        row = {k: v for k, v in {**w["subject"], **w["key"]}.items() if v}
        withdraw_record(c, actor, locate_record(c, actor, w["item"], row), w["reason"])
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    assert second["mode"] == "incremental" and second["since"] == first["until"]
    clock.advance(hours=1)
    third = export_dual_publicity(c, SYSTEM)  # nothing changed: the late window sends nothing
    assert third["counts"]["total"] == 0

    head = json.loads((Path(first["directory"]) / "manifest.json").read_text(encoding="utf-8"))
    assert head["enriched_uscc"] > 0  # codeless rows go out with the code they were matched to
    filled = [
        r
        for p in Path(first["directory"]).glob("XZ*.csv")
        for r in csv_rows(p)
        if r["USCC_FILLED"] == "是"  # and say so on the row
    ]
    assert len(filled) == head["enriched_uscc"]
    assert all(r["CF_XDR_SHXYM" if "CF_WSH" in r else "XK_XDR_SHXYM"] for r in filled)
    ops = {op: sum(second["counts"][i][op] for i in ITEMS) for op in ("新增", "更新", "删除")}
    assert first["counts"]["penalty"]["新增"] > 0 and first["counts"]["licence"]["新增"] > 0
    assert ops["更新"] > 0 and ops["删除"] > 0, second["counts"]

    source = snapshot(c)
    minors = [s for s in source.values() if s["minor"] and s["values"].get("CF_XDR_ZJHM")]
    assert minors, "the synthetic city has penalties of minors"
    assert all(s["sent"] is None for s in minors)
    exported_text = "".join(
        p.read_text(encoding="utf-8-sig")
        for d in (first, second)
        for p in Path(d["directory"]).glob("XZ*")
    )
    for s in minors:
        assert s["values"]["CF_XDR_ZJHM"] not in exported_text
    people = [s for s in source.values() if s["sent"] and s["values"].get("CF_XDR_ZJHM")]
    assert people, "natural persons' penalties are exported with their ID numbers"
    assert any(s["values"]["CF_XDR_ZJHM"] in exported_text for s in people)
    with c.uow() as uow:
        logged = set(
            uow.session.scalars(
                select(DisclosureRow.subject_id).where(DisclosureRow.channel == "export")
            )
        )
        by_id = {r.id: r.subject_id for r in uow.session.scalars(select(RecordRow))}
    assert {by_id[s["id"]] for s in people} <= logged

    target = fresh()
    add_department(target, SYSTEM, name=CREDIT_OFFICE, code=uscc("11", "610800", "MA0FGW01"))
    actor = department_principal(target, CREDIT_OFFICE)
    dirs = [Path(d["directory"]) for d in (first, second, third)]
    # The vectorised intake takes the files without 删除 rows; the others go row by row.
    receipts = replay(target, actor, dirs, fast=True)
    assert all(r.counts.rejected == 0 and r.counts.unresolved == 0 for r in receipts), [
        (r.filename, r.counts) for r in receipts if r.counts.rejected
    ]
    assert sum(r.counts.corrected for r in receipts) >= ops["更新"]
    # Every 删除 row withdrew the record the province held: counted as withdrawn.
    assert sum(r.as_dict()["withdrawn"] for r in receipts) == ops["删除"]
    assert all(r.as_dict()["balanced"] for r in receipts)
    for r in receipts:
        unknown = " ".join(n for n in r.notes if n.startswith("未识别的列"))
        assert "OPERATION" not in unknown and "CHANGE_REASON" not in unknown
    routed = [r for r in receipts if r.as_dict()["withdrawn"]]
    assert routed and all(any("按逐行方式归集" in n for n in r.notes) for r in routed)

    province = snapshot(target)
    sent = {k: s for k, s in source.items() if s["sent"] is not None}
    assert set(province) == set(sent)
    for key, s in sent.items():
        p = province[key]
        if s["sent"] == "删除":
            assert p["status"] == "withdrawn", key
            if s["status"] == "withdrawn":
                assert p["reason"] == f"撤销：{s['reason']}"
            continue
        assert p["status"] == "active", key
        assert p["values"] in expected_values(c, key[0], s), key
        if "correction" in s["kinds"]:
            assert "correction" in p["kinds"], key  # the correction arrived as a correction


# -- layout, manifest, bookkeeping -----------------------------------------------------------


def test_layout_manifest_and_bookkeeping(container: Container, clock: FixedClock) -> None:
    c = container
    dept = department(c)
    person = id_number("610802", "19800101")
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕11号")]
    rows.append(
        penalty_row(
            PERSON_COLUMNS,
            CF_XDR_MC="王某某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=person,
            CF_WSH="榆市监罚〔2026〕12号",
            CF_NR_FK="0.123456",
        )
    )
    path = write_csv(c.settings.data_dir / "p.csv", PERSON_COLUMNS, rows)
    ingest_submission(c, dept, path=path, item_code="penalty")
    done = export_dual_publicity(c, SYSTEM)

    directory = Path(done["directory"])
    assert directory.parent == c.settings.data_dir / "exports" / "dual_publicity"
    cf = data_file(done, "penalty")
    raw = cf.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    header = raw[3:].decode().splitlines()[0].split(",")
    national = list(LAYOUTS["penalty"].fields)
    assert header[: len(national)] == national
    assert header[-len(PLATFORM_CODES) :] == list(PLATFORM_CODES)
    assert set(header[len(national) : -len(PLATFORM_CODES)]) == {
        "CF_XDR_DZ",
        "CF_AJMC",
        "CF_DFBM",
        "CF_SXYZCD",
    }
    by_no = {r["CF_WSH"]: r for r in csv_rows(cf)}
    org, pers = by_no["榆市监罚〔2026〕11号"], by_no["榆市监罚〔2026〕12号"]
    assert org["CF_NR_FK"] == "2" and pers["CF_NR_FK"] == "0.123456"  # 万元, as received
    assert pers["CF_XDR_ZJHM"] == person and org["OPERATION"] == pers["OPERATION"] == "新增"
    assert org["RECORD_VERSION"] == "1" and org["RECORD_ID"].startswith("r")
    assert org["CHANGED_AT"] == "2026-11-25T10:00:00+08:00"
    assert org["PUBLICATION_END"]  # general penalty: the platform's publication end

    doc = json.loads(data_file(done, "penalty", "json").read_text(encoding="utf-8"))
    assert doc["layout"] == "XZCF" and doc["period"]["until"] == "2026-11-25T10:00:00+08:00"
    fines = {r["CF_WSH"]: r["CF_NR_FK"] for r in doc["data"]}
    assert fines == {"榆市监罚〔2026〕11号": 2, "榆市监罚〔2026〕12号": 0.123456}
    assert [r["RECORD_VERSION"] for r in doc["data"]] == [1, 1]
    for fmt in ("csv", "json"):  # both files read back through the intake: same records
        again = ingest_submission(
            c, dept, path=data_file(done, "penalty", fmt), item_code="penalty", dry_run=True
        )
        # Same records, no rejects; each is a correction only because 公示截止期 (CF_GSJZQ,
        # not given by the department) now carries the publication end this platform applies.
        counts = again.counts
        assert (counts.received, counts.new, counts.corrected, counts.rejected) == (2, 0, 2, 0)
        assert {r["CF_GSJZQ"] for r in csv_rows(cf)} == {org["PUBLICATION_END"]}

    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["penalty"] == {"新增": 2, "更新": 0, "删除": 0, "total": 2}
    assert manifest["counts"]["total"] == 2 and manifest["counts"]["licence"]["total"] == 0
    assert manifest["catalog_version"] == c.catalog.version
    assert manifest["period"] == {
        "since": None,
        "until": "2026-11-25T10:00:00+08:00",
        "bounds": "(since, until]",
        "mode": "full",
    }
    assert manifest["generated_at"] == "2026-11-25T10:00:00+08:00"
    assert "OPERATION" in manifest["platform_columns"]
    assert len(manifest["files"]) == 4
    for f in manifest["files"]:
        p = directory / f["name"]
        assert sha256(p) == f["sha256"] and p.stat().st_size == f["bytes"]
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert {f["name"] for f in done["files"]} == {f["name"] for f in manifest["files"]} | {
        "manifest.json"
    }
    assert not list(directory.glob(".*.tmp"))

    with c.uow() as uow:
        s = uow.session
        row = s.get(ExportRow, done["id"])
        assert row is not None and row.status == "completed" and row.created_by == "system"
        assert row.period_since is None and row.counts["total"] == 2
        sent = list(s.scalars(select(ExportRecordRow)))
        assert sorted(r.personal for r in sent) == [False, True]
        logged = list(s.scalars(select(DisclosureRow).where(DisclosureRow.channel == "export")))
    assert len(logged) == 1 and logged[0].items == ["penalty"]
    assert logged[0].detail == {"export_id": done["id"], "fields": ["CF_XDR_ZJHM"]}

    # The next export starts where this one ended; an empty or future period is refused.
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM)
    assert e.value.field == "since"
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM, until=clock.now() + timedelta(minutes=1))
    assert e.value.field == "until"
    with pytest.raises(FieldError) as e:
        export_dual_publicity(c, SYSTEM, formats=["xlsx"])
    assert e.value.field == "format" and e.value.value == "xlsx"
    with pytest.raises(PermissionDenied):
        export_dual_publicity(c, dept)
    clock.advance(days=1)
    nxt = export_dual_publicity(c, SYSTEM, formats=["json"])
    assert nxt["mode"] == "incremental" and nxt["since"] == done["until"]
    assert nxt["counts"]["total"] == 0 and {f["format"] for f in nxt["files"]} == {
        "json",
        "manifest",
    }


def test_unpublished_records_and_what_comes_down(container: Container, clock: FixedClock) -> None:
    """Minors' and 轻微 penalties are never sent; what the province holds is taken down."""
    c = container
    dept = department(c)
    minor = id_number("610802", "20100301")  # 16 on the decision date
    rows = [
        penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕21号"),
        penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO2, CF_WSH="榆市监罚〔2026〕22号", **WARNING),
        penalty_row(
            PERSON_COLUMNS,
            CF_XDR_MC="李某",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=minor,
            CF_WSH="榆市监罚〔2026〕23号",
        ),
    ]
    path = write_csv(c.settings.data_dir / "p1.csv", PERSON_COLUMNS, rows)
    ingest_submission(c, dept, path=path, item_code="penalty")
    first = export_dual_publicity(c, SYSTEM)
    sent = csv_rows(data_file(first, "penalty"))
    assert [r["CF_WSH"] for r in sent] == ["榆市监罚〔2026〕21号"]
    assert minor not in data_file(first, "penalty").read_text(encoding="utf-8-sig")

    # The department corrects 21号 to a warning (轻微: no longer published) an hour later.
    clock.advance(hours=1)
    t_correction = clock.now()
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕21号", **WARNING)]
    path = write_csv(c.settings.data_dir / "p2.csv", PERSON_COLUMNS, rows)
    ingest_submission(c, dept, path=path, item_code="penalty")
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    [down] = csv_rows(data_file(second, "penalty"))
    assert (
        down["OPERATION"] == "删除"
        and down["CHANGE_REASON"] == "不予公示：轻微失信信息（按规定不公示）"
    )
    assert down["RECORD_VERSION"] == "2" and down["CF_WSH"] == "榆市监罚〔2026〕21号"
    assert down["CF_XDR_SHXYM"] == CO and down["RECORD_ID"]
    assert down["CF_CFLB"] == down["CF_SY"] == down["CF_NR_FK"] == ""  # identifies, no facts

    # A re-send of the first hour (--since/--until) chooses the records by that period but
    # writes their current state: the province, loading it last, must not get version 1 back.
    resend = export_dual_publicity(
        c, SYSTEM, since=t_correction - timedelta(days=2), until=t_correction - timedelta(minutes=1)
    )
    assert resend["mode"] == "explicit"
    [again] = csv_rows(data_file(resend, "penalty"))
    assert again["OPERATION"] == "删除" and again["RECORD_VERSION"] == "2"
    assert again["CHANGE_REASON"] == "不予公示：轻微失信信息（按规定不公示）"

    # A licence the province holds comes down when its validity (publication) ends.
    licence = {
        "XK_XDR_MC": "榆阳区某商贸有限公司",
        "XK_XDR_LB": "法人及非法人组织",
        "XK_XDR_SHXYM": CO,
        "XK_XKWS": "食品经营许可决定书",
        "XK_WSH": "榆市监许〔2026〕7号",
        "XK_XKLB": "普通",
        "XK_NR": "食品销售",
        "XK_JDRQ": "2026-11-20",
        "XK_YXQZ": "2026-11-20",
        "XK_YXQZI": "2026-11-30",
        "XK_XKJG": SAMR,
        "XK_XKJGDM": AUTH,
        "XK_ZT": "有效",
        "XK_LYDW": SAMR,
        "XK_LYDWDM": AUTH,
    }
    path = write_csv(c.settings.data_dir / "l.csv", list(licence), [list(licence.values())])
    ingest_submission(c, dept, path=path, item_code="licence")
    clock.advance(hours=1)
    third = export_dual_publicity(c, SYSTEM)
    [up] = csv_rows(data_file(third, "licence"))
    assert up["OPERATION"] == "新增" and up["PUBLICATION_END"] == "2026-11-30"
    assert third["counts"]["penalty"]["total"] == 0  # nothing new for the penalties
    clock.current = at(date(2026, 12, 1), 9)
    fourth = export_dual_publicity(c, SYSTEM)
    [gone] = csv_rows(data_file(fourth, "licence"))
    assert gone["OPERATION"] == "删除" and gone["CHANGE_REASON"] == "公示期满"
    assert gone["CHANGED_AT"] == "2026-12-01T00:00:00+08:00"
    clock.advance(days=1)
    assert export_dual_publicity(c, SYSTEM)["counts"]["total"] == 0  # sent once only


def test_late_committed_version_is_picked_up(container: Container, clock: FixedClock) -> None:
    """A version stamped before the last export's end but committed after it is not lost."""
    c = container
    dept = department(c)
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕31号")]
    ingest_submission(
        c,
        dept,
        path=write_csv(c.settings.data_dir / "a.csv", PERSON_COLUMNS, rows),
        item_code="penalty",
    )
    first = export_dual_publicity(c, SYSTEM)
    assert first["counts"]["total"] == 1
    # A long submission that started 10 minutes before the export and committed after it.
    clock.advance(minutes=-10)
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO2, CF_WSH="榆市监罚〔2026〕32号")]
    ingest_submission(
        c,
        dept,
        path=write_csv(c.settings.data_dir / "b.csv", PERSON_COLUMNS, rows),
        item_code="penalty",
    )
    clock.advance(hours=1)
    second = export_dual_publicity(c, SYSTEM)
    assert [r["CF_WSH"] for r in csv_rows(data_file(second, "penalty"))] == ["榆市监罚〔2026〕32号"]


def test_failed_export_is_recorded_and_leaves_no_files(
    container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    dept = department(c)
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕41号")]
    path = write_csv(c.settings.data_dir / "a.csv", PERSON_COLUMNS, rows)
    ingest_submission(c, dept, path=path, item_code="penalty")
    from citycredit.exports.run import ExportRun

    def broken(self: ExportRun, s: Any) -> None:
        raise OSError("磁盘已满")

    monkeypatch.setattr(ExportRun, "_log_disclosures", broken)
    out = c.settings.data_dir / "outbox-dir"
    with pytest.raises(OSError, match="磁盘已满"):
        export_dual_publicity(c, SYSTEM, out_dir=out)
    assert not out.exists()  # created by the run, removed with its files
    with c.uow() as uow:
        [row] = uow.session.scalars(select(ExportRow))
        assert row.status == "failed" and "磁盘已满" in (row.error or "")
        assert not list(uow.session.scalars(select(ExportRecordRow)))
    monkeypatch.undo()

    # The job retries from the beginning: a failed export is not where the next one starts.
    clock.advance(minutes=5)
    [result] = run_due(c, only="dual_publicity_export")
    assert result.status == "ok" and result.detail["rows"] == 1
    assert result.detail["since"] is None
    again = out
    done = export_dual_publicity(
        c, SYSTEM, since=parse_instant("since", "2026-11-01"), out_dir=again, formats=["csv"]
    )
    assert {p.name for p in again.iterdir()} == {f["name"] for f in done["files"]}
    with pytest.raises(Conflict):  # never overwrite an earlier export's files
        export_dual_publicity(
            c, SYSTEM, since=parse_instant("since", "2026-11-01"), out_dir=again, formats=["csv"]
        )


def test_parse_instant() -> None:
    assert parse_instant("since", "2026-11-01") == at(date(2026, 11, 1), 0)
    assert parse_instant("until", "2026-11-01", end_of_day=True) == at(date(2026, 11, 2), 0)
    assert parse_instant("since", "2026-11-01T08:30") == at(date(2026, 11, 1), 8) + timedelta(
        minutes=30
    )
    assert parse_instant("since", "2026-11-01T00:00:00+00:00") == at(date(2026, 11, 1), 8)
    with pytest.raises(FieldError) as e:
        parse_instant("since", "2026-13-01")
    assert e.value.field == "since" and e.value.value == "2026-13-01"


def test_two_incremental_exports_at_once_do_not_both_commit(
    container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    dept = department(c)
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕51号")]
    ingest_submission(
        c,
        dept,
        path=write_csv(c.settings.data_dir / "a.csv", PERSON_COLUMNS, rows),
        item_code="penalty",
    )
    from citycredit.exports import run

    # Another export committed while this one was writing its files (the job and a command).
    monkeypatch.setattr(run, "last_until", lambda s: clock.now() - timedelta(minutes=1))
    with pytest.raises(Conflict) as e:
        export_dual_publicity(c, SYSTEM)
    assert e.value.code == "export_overlap"
    with c.uow() as uow:
        [row] = uow.session.scalars(select(ExportRow))
    assert row.status == "failed" and not Path(row.directory or "").exists()


def test_a_repaired_penalty_comes_down(container: Container, clock: FixedClock) -> None:
    """信用修复 stops publication (rights area sets records.repaired_at): the province too."""
    c = container
    dept = department(c)
    rows = [penalty_row(PERSON_COLUMNS, CF_XDR_SHXYM=CO, CF_WSH="榆市监罚〔2026〕81号")]
    path = write_csv(c.settings.data_dir / "a.csv", PERSON_COLUMNS, rows)
    ingest_submission(c, dept, path=path, item_code="penalty")
    first = export_dual_publicity(c, SYSTEM)
    assert first["counts"]["penalty"]["新增"] == 1
    clock.advance(days=2)
    repaired = clock.now()
    with c.uow() as uow:
        [record] = uow.session.scalars(select(RecordRow))
        record.repaired_at = repaired  # what an approved repair records
        uow.commit()
    clock.advance(hours=3)
    second = export_dual_publicity(c, SYSTEM)
    [down] = csv_rows(data_file(second, "penalty"))
    assert (down["OPERATION"], down["CHANGE_REASON"]) == ("删除", "信用修复")
    assert down["CHANGED_AT"] == repaired.astimezone(SHANGHAI).isoformat(timespec="seconds")
    clock.advance(days=1)
    assert export_dual_publicity(c, SYSTEM)["counts"]["total"] == 0
