"""信用数据链 end to end on both databases and both crypto suites."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import BundleError, verify_bundle
from citycredit.ledger.db import LedgerAlarmRow, LedgerLeafRow
from citycredit.ledger.merkle import verify_consistency, verify_inclusion
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.verify import verify_log
from citycredit.shared.errors import PermissionDenied
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS_WITH_ID, department, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

PEN = PENALTY_COLUMNS_WITH_ID
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON_ID = id_number("610802", "19800304", "123")


@pytest.fixture(params=["sha256-ed25519", "sm3-sm2"])
def suite_container(request: pytest.FixtureRequest, container: Container) -> Container:
    container.settings.ledger_suite = request.param
    return container


def rows(n: int, start: int = 0) -> list[list[Any]]:
    out = []
    for i in range(start, start + n):
        out.append(
            penalty_row(
                PEN,
                CF_XDR_MC=f"榆阳区第{i}商贸有限公司",
                CF_XDR_SHXYM=uscc("91", "610802", f"MA6L{i:04d}"),
                CF_WSH=f"榆市监罚〔2026〕{i}号",
            )
        )
    return out


def person_row() -> list[Any]:
    return [
        "王小明",
        "自然人",
        "",
        PERSON_ID,
        "榆市监罚〔2026〕P1号",
        "x",
        "x",
        "x",
        "罚款",
        "罚款2万元",
        "2",
        "2026-11-02",
        "榆林市市场监督管理局",
        AUTH,
        "榆林市市场监督管理局",
        AUTH,
    ]


def send(c: Container, tmp: Path, name: str, data: list[list[Any]]) -> None:
    actor = department(c) if name == "a.csv" else None
    from citycredit.accounts.service import department_principal

    actor = actor or department_principal(c, "榆林市市场监督管理局")
    ingest_submission(c, actor, path=write_csv(tmp / name, PEN, data), item_code="penalty")


def test_log_checkpoints_proofs_and_bundles(suite_container: Container, tmp_path: Path) -> None:
    c = suite_container
    h = hash_suite(Suite(c.settings.ledger_suite))
    send(c, tmp_path, "a.csv", [*rows(5), person_row()])
    with c.uow() as uow:
        assert (
            uow.session.scalar(select(func.count()).select_from(LedgerLeafRow)) == 0
        )  # writers don't wait
    assert ledger.integrate_now(c) > 0
    first = ledger.checkpoint(c)
    assert first["size"] == 6 and first["suite"] == c.settings.ledger_suite
    assert "suite" in first["checkpoint"] or c.settings.ledger_suite in first["checkpoint"]
    # every leaf's inclusion proof verifies against the checkpoint root
    root1 = base64.b64decode(first["root"])
    for i in range(6):
        p = ledger.inclusion(c, i, 6)
        verify_inclusion(
            h,
            bytes.fromhex(p["leaf_hash"]),
            i,
            6,
            [base64.b64decode(x) for x in p["hashes"]],
            root1,
        )
    # personal data never enters the leaf bytes
    with c.uow() as uow:
        blobs = b"".join(uow.session.scalars(select(LedgerLeafRow.data)))
    assert PERSON_ID.encode() not in blobs and "王小明".encode() not in blobs
    # a correction and a withdrawal become leaves too; the two trees are consistent
    send(c, tmp_path, "b.csv", [[*rows(1)[0][:9], "罚款3万元", "3", *rows(1)[0][11:]]])
    withdraw_record(c, department_principal_for(c), rows_record(c, 2), "复议撤销")
    ledger.integrate_now(c)
    second = ledger.checkpoint(c)
    assert second["size"] == 8
    cons = ledger.consistency(c, 6, 8)
    verify_consistency(
        h,
        6,
        8,
        [base64.b64decode(x) for x in cons["hashes"]],
        root1,
        base64.b64decode(second["root"]),
    )
    # a public bundle verifies offline, pinned to the log's key; tampering is caught
    rid = rows_record(c, 3)
    b = ledger.bundle(c, ANONYMOUS, rid)
    report = verify_bundle(json.loads(json.dumps(b)), trusted_vkey=second["vkey"])
    assert report.key_pinned and report.disclosed["CF_WSH"] == "榆市监罚〔2026〕3号"
    forged = copy.deepcopy(b)
    forged["disclosed"]["CF_NR_FK"]["value"] = "200.00"
    with pytest.raises(BundleError):
        verify_bundle(forged)
    forged = copy.deepcopy(b)
    forged["leaf"]["index"] = (b["leaf"]["index"] + 1) % 8
    with pytest.raises(BundleError):
        verify_bundle(forged)
    # the person's penalty is not public (a natural person's record is published but the ID is
    # personal): the bundle (the person's own — its leaf names the subject) never discloses it
    pid = person_record(c)
    with pytest.raises(PermissionDenied):
        ledger.bundle(c, ANONYMOUS, pid)
    with c.uow() as uow:
        person = uow.session.scalar(select(RecordRow.subject_id).where(RecordRow.id == pid))
    assert person is not None
    own = Principal(role=Role.natural_person, label="本人", subject_ids=frozenset({person}))
    pb = ledger.bundle(c, own, pid)
    assert "CF_XDR_ZJHM" not in pb["disclosed"] and PERSON_ID not in json.dumps(
        pb, ensure_ascii=False
    )
    assert verify_log(c).ok


def department_principal_for(c: Container) -> Any:
    from citycredit.accounts.service import department_principal

    return department_principal(c, "榆林市市场监督管理局")


def rows_record(c: Container, i: int) -> str:
    with c.uow() as uow:
        for r, v in uow.session.execute(
            select(RecordRow.id, RecordVersionRow.payload).join(
                RecordVersionRow, RecordVersionRow.record_id == RecordRow.id
            )
        ):
            if v.get("CF_WSH") == f"榆市监罚〔2026〕{i}号":
                return r
    raise AssertionError(i)


def person_record(c: Container) -> str:
    return rows_record_by(c, "榆市监罚〔2026〕P1号")


def rows_record_by(c: Container, wsh: str) -> str:
    with c.uow() as uow:
        for r, v in uow.session.execute(
            select(RecordRow.id, RecordVersionRow.payload).join(
                RecordVersionRow, RecordVersionRow.record_id == RecordRow.id
            )
        ):
            if v.get("CF_WSH") == wsh:
                return r
    raise AssertionError(wsh)


def test_tampering_behind_the_platforms_back_is_named(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, "a.csv", rows(4))
    ledger.integrate_now(c)
    assert verify_log(c).ok
    changed, deleted = rows_record(c, 1), rows_record(c, 2)
    with c.uow() as uow:
        s = uow.session
        v = s.scalar(select(RecordVersionRow).where(RecordVersionRow.record_id == changed))
        assert v is not None
        s.execute(
            update(RecordVersionRow)
            .where(RecordVersionRow.id == v.id)
            .values(payload={**v.payload, "CF_NR_FK": "200.00"})
        )
        s.execute(delete(RecordVersionRow).where(RecordVersionRow.record_id == deleted))
        s.add(
            RecordVersionRow(
                record_id=rows_record(c, 3),
                version=9,
                kind="correction",
                payload={"CF_NR": "x"},
                personal={},
                content_hash="0" * 64,
                created_by="intruder",
                created_at=c.clock.now(),
            )
        )
        uow.commit()
    report = verify_log(c)
    assert not report.ok
    assert [(x["record_id"], x["fields"]) for x in report.changed] == [(changed, ["CF_NR_FK"])]
    assert report.deleted == [f"{deleted}/1"]
    assert report.inserted == [f"{rows_record(c, 3)}/9"]
    assert report.root_ok and report.signature_ok  # the log itself is intact
    with c.uow() as uow:
        alarm = uow.session.scalar(select(LedgerAlarmRow))
        assert alarm is not None and alarm.kind == "tamper" and alarm.detail["changed"]
    # the alarm is visible to the credit office over HTTP, and acknowledged there
    from citycredit.accounts.model import Role
    from citycredit.accounts.service import add_user

    token = add_user(
        c, SYSTEM, username="ops", display_name="运维", role=Role.credit_office_admin
    ).token
    client = TestClient(create_app(c, scheduler=False))
    assert client.get("/api/v1/ledger/alarms").status_code == 401
    got = client.get("/api/v1/ledger/alarms", headers={"Authorization": f"Bearer {token}"}).json()[
        "alarms"
    ]
    assert len(got) == 1
    ack = client.post(
        f"/api/v1/ledger/alarms/{got[0]['id']}/ack", headers={"Authorization": f"Bearer {token}"}
    )
    assert ack.status_code == 200


def test_leaf_or_tree_tampering_breaks_the_root(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, "a.csv", rows(3))
    ledger.integrate_now(c)
    with c.uow() as uow:
        leaf = uow.session.get(LedgerLeafRow, 1)
        assert leaf is not None
        data = json.loads(leaf.data)
        data["item"] = "licence"
        leaf.data = json.dumps(data).encode()
        uow.commit()
    report = verify_log(c)
    assert report.leaf_mismatch == [1] and not report.root_ok


def test_http_endpoints(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, "a.csv", rows(3))
    client = TestClient(create_app(c, scheduler=False))
    assert client.get("/api/v1/ledger/checkpoint").status_code == 404  # nothing integrated yet
    ledger.integrate_now(c)
    cp = client.get("/api/v1/ledger/checkpoint").json()
    assert cp["size"] == 3 and cp["checkpoint"].startswith("yulin.citycredit/ledger\n3\n")
    assert (
        client.get("/api/v1/ledger/proofs/inclusion", params={"index": 2, "size": 3}).status_code
        == 200
    )
    assert (
        client.get("/api/v1/ledger/proofs/inclusion", params={"index": 3, "size": 3}).status_code
        == 422
    )
    assert (
        client.get(
            "/api/v1/ledger/proofs/consistency", params={"first": 1, "second": 3}
        ).status_code
        == 200
    )
    assert (
        client.get(
            "/api/v1/ledger/proofs/consistency", params={"first": 1, "second": 4}
        ).status_code
        == 422
    )
    rid = rows_record(c, 0)
    b = client.get(f"/api/v1/ledger/bundles/{rid}").json()
    assert verify_bundle(b).ref.startswith(rid)
    # the search index is for staff with a purpose, and logged
    assert (
        client.get(
            "/api/v1/ledger/leaves", params={"subject_id": b["record"]["subject_id"]}
        ).status_code
        == 401
    )
    from citycredit.accounts.model import Role
    from citycredit.accounts.service import add_user
    from citycredit.kernel.db import DisclosureRow

    token = add_user(c, SYSTEM, username="x", display_name="x", role=Role.credit_office_admin).token
    r = client.get(
        "/api/v1/ledger/leaves",
        params={"subject_id": b["record"]["subject_id"], "purpose": "审计"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["count"] == 1
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DisclosureRow)) == 1


def test_bundle_suite_must_match_checkpoint_and_key(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, "a.csv", rows(2))
    ledger.integrate_now(c)
    b = ledger.bundle(c, ANONYMOUS, rows_record(c, 0))
    assert verify_bundle(b).size == 2
    forged = copy.deepcopy(b)
    forged["suite"] = "sm3-sm2"
    with pytest.raises(BundleError, match="算法套件"):
        verify_bundle(forged)
    broken = copy.deepcopy(b)
    broken["disclosed"] = ["not", "an", "object"]
    with pytest.raises(BundleError, match="凭证格式错误"):
        verify_bundle(broken)
