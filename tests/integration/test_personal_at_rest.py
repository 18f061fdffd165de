"""Personal data at rest: a database dump holds no clear ID number, phone or address.

Natural persons' records go through the real intake (stored, quarantined, queued), every
consumer runs, then the whole database is dumped (pg_dump; the SQLite file bytes and
iterdump()) and searched. Clear values come back only for a role and purpose that allow them;
rotation re-seals everything (legacy plaintext rows too) and the old key can leave the ring.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from citycredit.accounts.model import ANONYMOUS, SYSTEM
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.cli.main import app
from citycredit.ingest.db import RecordRow, RecordVersionRow, RejectRow, UnresolvedRow
from citycredit.ingest.service import ingest_submission, list_rejects
from citycredit.ingest.unresolved import attach_unresolved, list_unresolved
from citycredit.kernel.db import DisclosureRow
from citycredit.kernel.deliveries import deliver_all
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.entries import LEAF_VERSION, field_digest
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.verify import verify_log
from citycredit.privacy.keys import keyring_path
from citycredit.privacy.records import ledger_personal, version_aad
from citycredit.privacy.rotate import key_usage, rotate
from citycredit.privacy.service import find_by_personal, reveal_personal
from citycredit.shared.canonical import canonical_bytes
from citycredit.shared.digest import content_hash
from citycredit.shared.errors import HiddenDenial, PermissionDenied
from citycredit.shared.ids import mask_id_number
from citycredit.shared.personal import Keyring, is_sealed
from citycredit.subjects.archive import authorised_archive
from citycredit.subjects.db import SubjectRow
from support import SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

TAX = "国家税务总局榆林市税务局"
AUTH = uscc("11", "610800", "MA0CAMR1")
CO = uscc("91", "610802", "MA6PDAT1")

PERSON_ID = id_number("610802", "19850314", "271")  # 张三: registration
PERSON_PHONE = "15291837465"
PERSON_ADDR = "陕西省榆林市榆阳区测试巷十七号院三单元"
PENALISED_ID = id_number("610881", "19790921", "538")  # 李四: penalty
PENALISED_ADDR = "陕西省榆林市神木市滨河新区样例路九十九号"
LEGAL_REP_ID = id_number("610802", "19700102", "415")  # the company's legal representative
REJECTED_ID = id_number("610824", "19921111", "626")  # a row quarantined for its date
REJECTED_ADDR = "陕西省榆林市靖边县隔离街四十四号"
REJECTED_PHONE = "13709124455"
QUEUED_REP_ID = id_number("610825", "19660606", "737")  # a codeless row in the clerk's queue
QUEUED_ADDR = "陕西省榆林市定边县待认领路八号"

SECRETS = [
    PERSON_ID,
    PERSON_PHONE,
    PERSON_ADDR,
    PENALISED_ID,
    PENALISED_ADDR,
    LEGAL_REP_ID,
    REJECTED_ID,
    REJECTED_ADDR,
    QUEUED_REP_ID,
    QUEUED_ADDR,
]
IDS = [PERSON_ID, PENALISED_ID, LEGAL_REP_ID, REJECTED_ID, QUEUED_REP_ID]

REG_HEADER = ["DJ_MC", "DJ_ZTLX", "DJ_SHXYM", "DJ_ZJHM", "DJ_CLRQ", "DJ_ZS", "DJ_LXDH", "DJ_ZT"]
PEN_HEADER = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_XDR_ZJHM",
    "CF_XDR_DZ",
    "CF_FRDB",
    "CF_FR_ZJHM",
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
PUBLIC_MARKER = "榆市监罚〔2026〕301号"  # a clear, public value: proves the dump search works


def pen(**over: Any) -> list[Any]:
    row: dict[str, Any] = {
        "CF_XDR_MC": "李四",
        "CF_XDR_LB": "自然人",
        "CF_XDR_ZJHM": PENALISED_ID,
        "CF_XDR_DZ": PENALISED_ADDR,
        "CF_WSH": PUBLIC_MARKER,
        "CF_WFXW": "无证经营",
        "CF_SY": "x",
        "CF_YJ": "x",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": "2026-11-02",
        "CF_CFJG": SAMR,
        "CF_CFJGDM": AUTH,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": AUTH,
    }
    row.update(over)
    return [row.get(h) for h in PEN_HEADER]


def files(tmp: Path) -> tuple[Path, Path]:
    reg = write_csv(
        tmp / "reg.csv",
        REG_HEADER,
        [
            ["张三", "自然人", "", PERSON_ID, "", PERSON_ADDR, PERSON_PHONE, "存续"],
            ["榆阳区数据商贸有限公司", "企业", CO, "", "2015-01-01", "榆林市榆阳区", "", "存续"],
        ],
    )
    pen_path = write_csv(
        tmp / "pen.csv",
        PEN_HEADER,
        [
            pen(),
            pen(
                CF_XDR_MC="榆阳区数据商贸有限公司",
                CF_XDR_LB="法人及非法人组织",
                CF_XDR_SHXYM=CO,
                CF_XDR_ZJHM="",
                CF_XDR_DZ="榆林市榆阳区",
                CF_FRDB="王五",
                CF_FR_ZJHM=LEGAL_REP_ID,
                CF_WSH="榆市监罚〔2026〕302号",
            ),
            pen(  # quarantined: impossible date; its raw row quotes ID, address and phone
                CF_XDR_MC="赵六",
                CF_XDR_ZJHM=REJECTED_ID,
                CF_XDR_DZ=f"{REJECTED_ADDR} 电话{REJECTED_PHONE}",
                CF_JDRQ="2026-02-30",
                CF_WSH="榆市监罚〔2026〕303号",
            ),
            pen(  # no code at all: waits in the clerk's queue
                CF_XDR_MC="定边县待认领商店有限公司",
                CF_XDR_LB="法人及非法人组织",
                CF_XDR_ZJHM="",
                CF_XDR_DZ=QUEUED_ADDR,
                CF_FRDB="孙七",
                CF_FR_ZJHM=QUEUED_REP_ID,
                CF_WSH="榆市监罚〔2026〕304号",
            ),
        ],
    )
    return reg, pen_path


@pytest.fixture
def loaded(container: Container, tmp_path: Path) -> Container:
    c = container
    actor = department(c)
    department(c, TAX, "MA0TAXX1")
    reg, pen_path = files(tmp_path)
    raw = reg.read_bytes() + pen_path.read_bytes()
    assert all(s.encode() in raw for s in SECRETS)  # the input really holds them in clear
    r = ingest_submission(c, actor, path=reg, item_code="registration")
    assert (r.counts.new, r.counts.rejected) == (2, 0), list_rejects(c, SYSTEM, r.submission_id)
    r = ingest_submission(c, actor, path=pen_path, item_code="penalty")
    assert (r.counts.new, r.counts.rejected, r.counts.unresolved) == (2, 2, 1)
    deliver_all(c)  # every consumer (ledger, lists …) has seen the events
    return c


def _forms(value: str) -> list[bytes]:
    """How a value could sit in a dump: UTF-8, JSON-escaped, UTF-16 (never expected)."""
    return [value.encode(), json.dumps(value)[1:-1].encode(), value.encode("utf-16-le")]


def _hashes(value: str) -> list[bytes]:
    """Plain (unkeyed) digests of a value: as bad as clear for an 18-digit ID number."""
    return [
        hashlib.sha256(value.encode()).hexdigest().encode(),
        hashlib.new("sm3", value.encode()).hexdigest().encode(),
    ]


def dump(c: Container) -> bytes:
    """The whole database as an attacker with a backup would see it."""
    url = c.settings.effective_database_url
    if c.settings.is_sqlite:
        path = Path(url.removeprefix("sqlite:///"))
        con = c.engine.raw_connection()
        try:
            text = "\n".join(con.driver_connection.iterdump())  # type: ignore[union-attr]
        finally:
            con.close()
        c.dispose()
        blobs = [text.encode()]
        for suffix in ("", "-wal", "-journal"):
            f = Path(str(path) + suffix)
            if f.exists():
                blobs.append(f.read_bytes())
        return b"\n".join(blobs)
    libpq = "postgresql://" + url.split("://", 1)[1]
    out = subprocess.run(
        ["pg_dump", "--no-owner", "--dbname", libpq], capture_output=True, check=True, timeout=120
    )
    return out.stdout


def assert_no_clear_values(blob: bytes, secrets: list[str] = SECRETS) -> None:
    assert any(f in blob for f in _forms(PUBLIC_MARKER)), "the dump search itself is broken"
    leaks = [s for s in secrets if any(f in blob for f in _forms(s))]
    assert leaks == [], f"clear personal values in the dump: {leaks}"
    hashed = [s for s in IDS if any(h in blob for h in _hashes(s))]
    assert hashed == [], f"plain hashes of ID numbers in the dump: {hashed}"


def person(c: Container, name: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.name == name))
        assert sid is not None
        return sid


def record_of(c: Container, decision_no: str) -> RecordRow:
    with c.uow() as uow:
        for rec in uow.session.scalars(select(RecordRow)):
            if decision_no in rec.key_text:
                return rec
    raise AssertionError(decision_no)


def test_a_database_dump_holds_no_clear_personal_value(loaded: Container) -> None:
    c = loaded
    with c.uow() as uow:
        s = uow.session
        versions = list(s.scalars(select(RecordVersionRow)))
        assert versions and all(is_sealed(v.personal) for v in versions)
        assert all(is_sealed(r.raw) for r in s.scalars(select(RejectRow)))
        assert all(is_sealed(u.values) for u in s.scalars(select(UnresolvedRow)))
        # a natural person's address left the clear payload; a company's stays public
        by_no = {v.payload.get("CF_WSH"): v for v in versions if "CF_WSH" in v.payload}
        assert "CF_XDR_DZ" not in by_no[PUBLIC_MARKER].payload
        assert "CF_XDR_DZ" in by_no["榆市监罚〔2026〕302号"].payload
    assert verify_log(c).ok  # the ledger still recomputes every field digest
    assert_no_clear_values(dump(c))


@pytest.mark.parametrize("fast", [False, True], ids=["row-path", "fast-path"])
def test_ledger_salts_in_a_dump_do_not_let_anyone_test_a_guessed_id_number(
    container: Container, tmp_path: Path, fast: bool
) -> None:
    """A leaf commits to H(field_salt ‖ value) and the salt is in the database: over a raw ID
    number that is a brute-force oracle for whoever holds a dump. Personal values enter the leaf
    as keyed digests (key outside the database), so guessing the right number matches nothing."""
    c = container
    actor = department(c)
    _, pen_path = files(tmp_path)
    r = ingest_submission(c, actor, path=pen_path, item_code="penalty", fast=fast)
    assert r.counts.new == 2
    deliver_all(c)
    with c.uow() as uow:
        leaves = list(
            uow.session.scalars(
                select(LedgerLeafRow).where(LedgerLeafRow.entry_type == "record.version")
            )
        )
    assert leaves
    h = hash_suite(Suite(c.settings.ledger_suite))
    oracle, keyed_hits = [], []
    for leaf in leaves:
        data = json.loads(leaf.data)
        assert data["v"] == LEAF_VERSION
        stored = set(data["fields"].values())
        for code in ("CF_XDR_ZJHM", "CF_FR_ZJHM"):
            for guess in IDS:
                if field_digest(h, bytes(leaf.salt), code, guess) in stored:
                    oracle.append((leaf.ref, code))
                keyed = ledger_personal(c.personal_codec, {code: guess})[code]
                if field_digest(h, bytes(leaf.salt), code, keyed) in stored:
                    keyed_hits.append((leaf.ref, code))
    assert oracle == [], f"salt + digest in the database reveal ID numbers: {oracle}"
    # positive control: with the key (outside the database) the same search finds them
    assert len(keyed_hits) >= 2, keyed_hits
    assert verify_log(c).ok


def test_authorised_view_masks_and_disclosure_needs_role_and_purpose(loaded: Container) -> None:
    c = loaded
    samr, tax = department_principal(c, SAMR), department_principal(c, TAX)
    view = authorised_archive(c, samr, person(c, "李四"), purpose="行政许可审查")
    fields = {f["code"]: f for g in view["groups"] for r in g["records"] for f in r["fields"]}
    assert fields["CF_XDR_ZJHM"]["value"] == mask_id_number(PENALISED_ID)
    assert fields["CF_XDR_ZJHM"]["masked"] and fields["CF_XDR_DZ"]["masked"]
    assert PENALISED_ADDR not in json.dumps(view, ensure_ascii=False)
    assert fields["CF_XDR_DZ"]["value"].startswith(PENALISED_ADDR[:9])

    rec = record_of(c, PUBLIC_MARKER)
    with c.uow() as uow:
        before = uow.session.scalar(select(func.count()).select_from(DisclosureRow))
    clear = reveal_personal(c, samr, rec.id, purpose="执法送达：核对当事人身份")
    got = {f["code"]: f["value"] for f in clear["fields"]}
    assert got == {"CF_XDR_ZJHM": PENALISED_ID, "CF_XDR_DZ": PENALISED_ADDR}
    with c.uow() as uow:
        log = uow.session.scalars(select(DisclosureRow).order_by(DisclosureRow.id.desc())).first()
        assert log is not None and log.actor_label == samr.label
        assert log.subject_id == rec.subject_id and log.purpose == "执法送达：核对当事人身份"
        assert log.detail["clear_fields"] == ["CF_XDR_DZ", "CF_XDR_ZJHM"]
        after = uow.session.scalar(select(func.count()).select_from(DisclosureRow))
        assert after == before + 1

    with pytest.raises(HiddenDenial) as hidden:  # another department's staff: as if missing
        reveal_personal(c, tax, rec.id, purpose="查看")
    assert (hidden.value.code, hidden.value.reason.code) == ("record_not_found", "other_department")
    with pytest.raises(PermissionDenied) as e:  # the public
        reveal_personal(c, ANONYMOUS, rec.id, purpose="查看")
    assert e.value.code == "forbidden"
    with pytest.raises(PermissionDenied):
        find_by_personal(c, ANONYMOUS, kind="id_number", value=PENALISED_ID, purpose="查看")
    with pytest.raises(HiddenDenial):  # quarantined rows: the submitting department only
        list_rejects(c, tax, _submission_of(c, rec.id))
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DisclosureRow)) == after


def _submission_of(c: Container, record_id: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(
            select(RecordVersionRow.submission_id).where(RecordVersionRow.record_id == record_id)
        )
        assert sid is not None
        return sid


def test_blind_index_finds_records_by_id_and_phone(loaded: Container) -> None:
    c = loaded
    samr, tax = department_principal(c, SAMR), department_principal(c, TAX)
    hits = find_by_personal(
        c, samr, kind="id_number", value=LEGAL_REP_ID.lower() + " ", purpose="联合惩戒核查"
    )
    assert [(h["item"], h["field"]) for h in hits] == [("penalty", "CF_FR_ZJHM")]
    hits = find_by_personal(c, SYSTEM, kind="phone", value="+86 152 9183 7465", purpose="核查")
    assert [(h["item"], h["field"]) for h in hits] == [("registration", "DJ_LXDH")]
    assert find_by_personal(c, tax, kind="id_number", value=LEGAL_REP_ID, purpose="核查") == []
    with c.uow() as uow:
        logged = uow.session.scalars(select(DisclosureRow)).all()
        assert {d.detail.get("use") for d in logged} == {"personal_lookup"}
        assert all(d.detail["kind"] in ("id_number", "phone") for d in logged)
        assert not any(LEGAL_REP_ID in json.dumps(d.detail) for d in logged)


def test_quarantine_and_queue_work_for_the_authorised_staff(loaded: Container) -> None:
    c = loaded
    samr = department_principal(c, SAMR)
    sub = _submission_of(c, record_of(c, PUBLIC_MARKER).id)
    rejects = {r["row"]: r for r in list_rejects(c, samr, sub)}
    assert rejects[3]["raw"]["CF_XDR_ZJHM"] == REJECTED_ID  # the department sees what it sent
    assert {(x["field"], x["code"]) for x in rejects[3]["reasons"]} == {("CF_JDRQ", "invalid_date")}
    assert "2026-02-30" in rejects[3]["reasons"][0]["message"]
    with c.uow() as uow:  # statistics still read (field, code) without a key
        stored = uow.session.scalar(select(RejectRow).where(RejectRow.row_number == 3))
        assert stored is not None and stored.reasons == [
            {"field": "CF_JDRQ", "code": "invalid_date"}
        ]
    (queued,) = list_unresolved(c, SYSTEM)
    company = _subject_by_uscc(c, CO)
    record_id = attach_unresolved(c, SYSTEM, queued["id"], company)
    clear = reveal_personal(c, SYSTEM, record_id, purpose="核对")
    assert {f["code"]: f["value"] for f in clear["fields"]} == {"CF_FR_ZJHM": QUEUED_REP_ID}
    deliver_all(c)
    assert verify_log(c).ok
    # once attached to a company, the address is the company's (public) address, not a person's
    blob = dump(c)
    assert any(f in blob for f in _forms(QUEUED_ADDR))
    assert_no_clear_values(blob, [x for x in SECRETS if x != QUEUED_ADDR])


def _subject_by_uscc(c: Container, code: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == code))
        assert sid is not None
        return sid


def _make_legacy(c: Container, record_id: str) -> None:
    """Turn a version back into what the platform stored before encryption (plain JSON)."""
    with c.uow() as uow:
        s = uow.session
        v = s.scalar(select(RecordVersionRow).where(RecordVersionRow.record_id == record_id))
        assert v is not None
        clear = c.personal_codec.open(v.personal, aad=version_aad(v.record_id, v.version))
        # before: only catalog-marked fields were personal; a person's address sat in payload
        payload = {**v.payload, "CF_XDR_DZ": clear.pop("CF_XDR_DZ")}
        s.execute(
            update(RecordVersionRow)
            .where(RecordVersionRow.id == v.id)
            .values(
                payload=payload,
                personal=clear,
                content_hash=content_hash(canonical_bytes({"payload": payload, "personal": clear})),
            )
        )
        r = s.scalar(select(RejectRow).where(RejectRow.row_number == 3))
        assert r is not None
        opened = c.personal_codec.open(r.raw, aad=f"rejects:{r.submission_id}/3")
        s.execute(
            update(RejectRow)
            .where(RejectRow.id == r.id)
            .values(raw=opened["raw"], reasons=opened["reasons"])
        )
        uow.commit()


def test_rotation_reseals_everything_and_the_old_key_retires(
    loaded: Container, tmp_path: Path
) -> None:
    c = loaded
    rec = record_of(c, PUBLIC_MARKER)
    _make_legacy(c, rec.id)
    old = c.personal_codec.key_id
    path = keyring_path(c.settings)
    assert path is not None and path.is_file()
    ring = Keyring.load(path)
    ring.with_new_key("sm4-gcm", now=c.clock.now()).save(path)
    c.dispose()

    c2 = build_container(c.settings, clock=c.clock)
    new = c2.personal_codec.key_id
    assert new != old and c2.personal_codec.algorithm == "sm4-gcm"
    usage = key_usage(c2)
    assert usage["record_versions"].get("plaintext") == 1 and usage["rejects"]["plaintext"] == 1
    report = rotate(c2, batch=2)  # small batches: several transactions
    t = report.as_dict()["tables"]
    assert report.ok and t["record_versions"]["sealed_plaintext"] == 1
    # 张三's registration and the company's penalty; the company's registration has no
    # personal value (an empty marker, never rotated)
    assert t["record_versions"]["resealed"] == 2 and t["rejects"]["sealed_plaintext"] == 1
    assert t["unresolved"]["resealed"] == 1
    assert set(key_usage(c2)["record_versions"]) == {new, "empty"}
    assert rotate(c2).as_dict()["tables"]["record_versions"]["resealed"] == 0  # resumable: no-op
    with c2.uow() as uow:
        v = uow.session.scalar(select(RecordVersionRow).where(RecordVersionRow.record_id == rec.id))
        assert v is not None and "CF_XDR_DZ" not in v.payload and v.personal["kid"] == new
    c2.dispose()

    Keyring.load(path).without(old).save(path)  # retire the old key
    c3 = build_container(c.settings, clock=c.clock)
    assert [k.kid for k in c3.personal_codec.keyring.keys] == [new]
    clear = reveal_personal(c3, SYSTEM, rec.id, purpose="轮换后核对")
    assert {f["code"]: f["value"] for f in clear["fields"]} == {
        "CF_XDR_ZJHM": PENALISED_ID,
        "CF_XDR_DZ": PENALISED_ADDR,
    }
    rejects = {r["row"]: r for r in list_rejects(c3, SYSTEM, _submission_of(c3, rec.id))}
    assert rejects[3]["raw"]["CF_XDR_ZJHM"] == REJECTED_ID
    assert verify_log(c3).ok
    # the re-hashed legacy version is keyed now, and re-sending the file changes nothing
    (tmp_path / "again").mkdir()
    _, pen_path = files(tmp_path / "again")
    r = ingest_submission(c3, department_principal(c3, SAMR), path=pen_path, item_code="penalty")
    assert (r.counts.new, r.counts.corrected, r.counts.duplicate) == (0, 0, 2)
    assert_no_clear_values(dump(c3))


def test_crypto_commands_rotate_and_retire(loaded: Container) -> None:
    c = loaded
    env = {
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        "CITYCREDIT_ENVIRONMENT": "test",
    }
    old = c.personal_codec.key_id
    c.dispose()
    runner = CliRunner()
    status = runner.invoke(app, ["crypto", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["sealing_key"] == old and data["plaintext"] == 0 and data["stale"] == 0
    assert data["index_rows"] and data["index_key"]["kid"] not in (old,)
    refused = runner.invoke(app, ["crypto", "retire", old], env=env)
    assert refused.exit_code == 2 and "当前加密密钥" in refused.output
    added = runner.invoke(app, ["crypto", "new-key"], env=env)
    assert added.exit_code == 0, added.output
    still_used = runner.invoke(app, ["crypto", "retire", old], env=env)
    assert still_used.exit_code == 2 and "rotate" in still_used.output
    rotated = runner.invoke(app, ["crypto", "rotate", "--json", "--batch", "3"], env=env)
    assert rotated.exit_code == 0, rotated.output
    report = json.loads(rotated.stdout)
    assert report["ok"] and report["tables"]["record_versions"]["resealed"] == 3
    early_delete = runner.invoke(app, ["crypto", "retire", old, "--delete"], env=env)
    assert early_delete.exit_code == 2 and "尚未停用" in early_delete.output
    retired = runner.invoke(app, ["crypto", "retire", old], env=env)
    assert retired.exit_code == 0, retired.output
    status = json.loads(runner.invoke(app, ["crypto", "status", "--json"], env=env).stdout)
    # a retired key stays in the ring, open-only: the sealing key is the new one
    assert [(k["kid"], bool(k["retired"])) for k in status["keys"]] == [
        (old, True),
        (report["key_id"], False),
    ]
    assert status["sealing_key"] == report["key_id"] and status["stale"] == 0 and status["ok"]
    deleted = runner.invoke(app, ["crypto", "retire", old, "--delete"], env=env)
    assert deleted.exit_code == 0, deleted.output
    status = json.loads(runner.invoke(app, ["crypto", "status", "--json"], env=env).stdout)
    assert [k["kid"] for k in status["keys"]] == [report["key_id"]] and status["stale"] == 0


def test_http_reveal_and_lookup(loaded: Container) -> None:
    from fastapi.testclient import TestClient

    from citycredit.accounts.model import Role
    from citycredit.accounts.service import add_user
    from citycredit.web.app import create_app

    c = loaded
    tokens = {
        who: add_user(
            c, SYSTEM, username=who, display_name=who, role=Role.department_staff, department=dept
        ).token
        for who, dept in (("samr_clerk", SAMR), ("tax_clerk", TAX))
    }
    client = TestClient(create_app(c, scheduler=False))
    rec = record_of(c, PUBLIC_MARKER)

    def auth(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    url = f"/api/v1/records/{rec.id}/personal"
    got = client.post(url, json={"purpose": "执法送达"}, headers=auth("samr_clerk"))
    assert got.status_code == 200, got.text
    assert {f["code"]: f["value"] for f in got.json()["fields"]}["CF_XDR_ZJHM"] == PENALISED_ID
    # another department's record answers like a missing one (G8)
    assert client.post(url, json={"purpose": "查看"}, headers=auth("tax_clerk")).status_code == 404
    assert client.post(url, json={"purpose": "查看"}).status_code == 401
    no_purpose = client.post(url, json={"purpose": " "}, headers=auth("samr_clerk"))
    assert no_purpose.status_code in (400, 422) and "purpose" in no_purpose.text
    found = client.post(
        "/api/v1/personal/lookup",
        json={"kind": "id_number", "value": PENALISED_ID, "purpose": "核查"},
        headers=auth("samr_clerk"),
    )
    assert found.status_code == 200 and found.json()["count"] == 1
    bad = client.post(
        "/api/v1/personal/lookup",
        json={"kind": "name", "value": "李四", "purpose": "核查"},
        headers=auth("samr_clerk"),
    )
    assert bad.status_code in (400, 422) and "kind" in bad.text


def test_a_ciphertext_moved_to_another_row_does_not_open(loaded: Container) -> None:
    from citycredit.shared.personal import PersonalDataError

    c = loaded
    a, b = record_of(c, PUBLIC_MARKER), record_of(c, "榆市监罚〔2026〕302号")
    with c.uow() as uow:
        s = uow.session
        va = s.scalar(select(RecordVersionRow).where(RecordVersionRow.record_id == a.id))
        vb = s.scalar(select(RecordVersionRow).where(RecordVersionRow.record_id == b.id))
        assert va is not None and vb is not None
        pa, pb = dict(va.personal), dict(vb.personal)
        s.execute(update(RecordVersionRow).where(RecordVersionRow.id == va.id).values(personal=pb))
        s.execute(update(RecordVersionRow).where(RecordVersionRow.id == vb.id).values(personal=pa))
        uow.commit()
    with pytest.raises(PersonalDataError) as e:
        reveal_personal(c, SYSTEM, a.id, purpose="核对")
    assert e.value.code == "personal_data_tampered" and a.id in e.value.message
    report = verify_log(c)
    assert not report.ok
    assert sorted((x["record_id"], x["fields"]) for x in report.changed) == sorted(
        [(a.id, ["personal"]), (b.id, ["personal"])]
    )
