"""Proof bundles show no more than the public views, stop with publication, and pin the origin.

- An anonymous bundle discloses only the fields the public archive and 双公示 show unchanged: a
  natural person's name and free text with a phone number in it stay undisclosed digests, and
  the person's subject_id is left out; what is disclosed still verifies offline.
- Withdrawn, repaired, expired, minor's and non-public records have no anonymous bundle (404,
  like a missing record); staff get a bundle only while the record is still shared.
- The offline verifier requires the checkpoint origin to be the log key's name (and a pinned
  origin) and exactly one suite line; the log refuses a key named otherwise (G18).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import BundleError, verify_bundle
from citycredit.ledger.keys import LedgerConfigError, ensure_log, load_signer
from citycredit.ledger.note import (
    open_note,
    parse_checkpoint,
    sign_note,
    suite_extension_line,
)
from citycredit.ledger.signers import generate_signer, signer_to_skey, verifier_from_vkey
from citycredit.ledger.suites import Suite
from citycredit.rights import repairs
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import NotFound, PermissionDenied
from citycredit.subjects import archive
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

PEN = PENALTY_COLUMNS_WITH_ID
PERSON = "王小明"
PERSON_ID = id_number("610802", "19800304", "123")
MINOR_ID = id_number("610802", "20100304", "456")  # 16 at the decision date
PHONE = "13912345678"
FIRM_PHONE = "13812345678"
FIRM = "榆阳区公开商贸有限公司"
FIRM_CODE = uscc("91", "610802", "MA6BF001")
OTHER_FIRM = "榆阳区电话商贸有限公司"
OTHER_CODE = uscc("91", "610802", "MA6BF002")
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")
WSH = "榆市监罚〔2026〕B{}号"


def _seed(c: Container, tmp: Path) -> dict[str, str]:
    """A person's penalty (phone and name in free text), two firms' penalties (one with a phone
    in its free text), a minor's penalty; all integrated. Returns record ids by role."""
    rows = [
        penalty_row(
            PEN, CF_XDR_MC=FIRM, CF_XDR_SHXYM=FIRM_CODE, CF_WSH=WSH.format(1), CF_JDRQ="2026-06-01"
        ),
        penalty_row(
            PEN,
            CF_XDR_MC=PERSON,
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON_ID,
            CF_WSH=WSH.format(2),
            CF_SY=f"{PERSON}（电话{PHONE}）在榆阳区无证经营",
            CF_WFXW=f"当事人{PERSON}无照经营",
        ),
        penalty_row(
            PEN,
            CF_XDR_MC=OTHER_FIRM,
            CF_XDR_SHXYM=OTHER_CODE,
            CF_WSH=WSH.format(3),
            CF_WFXW=f"该公司（联系电话{FIRM_PHONE}）超范围经营",
        ),
        penalty_row(
            PEN,
            CF_XDR_MC="欧阳娜",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=MINOR_ID,
            CF_WSH=WSH.format(4),
        ),
    ]
    ingest_submission(
        c, department(c), path=write_csv(tmp / "p.csv", PEN, rows), item_code="penalty"
    )
    assert ledger.integrate_now(c) > 0
    ids = {}
    with c.uow() as uow:
        for rid, payload in uow.session.execute(
            select(RecordRow.id, RecordVersionRow.payload).join(
                RecordVersionRow, RecordVersionRow.record_id == RecordRow.id
            )
        ):
            ids[payload["CF_WSH"]] = rid
    return {
        "firm": ids[WSH.format(1)],
        "person": ids[WSH.format(2)],
        "phone_firm": ids[WSH.format(3)],
        "minor": ids[WSH.format(4)],
    }


def _subject_of(c: Container, record_id: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(RecordRow.subject_id).where(RecordRow.id == record_id))
        assert sid is not None
        return sid


def _feed_fields(c: Container, record_id: str) -> dict[str, Any]:
    """The record's fields as 双公示 shows them."""
    feed = archive.dual_publicity(c, ANONYMOUS, "penalty", limit=100)
    entry = next(e for e in feed["entries"] if e["record"]["record_id"] == record_id)
    return {f["code"]: f["value"] for f in entry["record"]["fields"]}


def _tax(c: Container) -> Principal:
    return department(c, "榆林市税务局", "MA0TAX01")


def test_a_persons_bundle_discloses_only_what_the_public_views_show_unchanged(
    container: Container, tmp_path: Path
) -> None:
    c = container
    ids = _seed(c, tmp_path)
    sid = _subject_of(c, ids["person"])
    client = TestClient(create_app(c, scheduler=False))
    # the leaf's bytes name the person's subject_id (linking the person's records): no bundle
    # for the public, only for the person's own account
    resp = client.get(f"/api/v1/ledger/bundles/{ids['person']}")
    assert resp.status_code == 401 and resp.json()["error"] == "bundle_person_only"
    assert "下载数据链凭证" not in client.get(f"/subjects/{sid}").text  # no dead link
    firm_page = client.get(f"/subjects/{_subject_of(c, ids['firm'])}").text
    assert f"/api/v1/ledger/bundles/{ids['firm']}" in firm_page
    own = Principal(role=Role.natural_person, label="王小明本人", subject_ids=frozenset({sid}))
    other = Principal(role=Role.natural_person, label="他人", subject_ids=frozenset({"S-OTHER"}))
    with pytest.raises(PermissionDenied):
        ledger.bundle(c, other, ids["person"])
    b = ledger.bundle(c, own, ids["person"])
    assert sid in base64.b64decode(b["leaf"]["data"]).decode()  # why it is the person's only
    assert b["record"]["subject_id"] == sid
    text = json.dumps(b, ensure_ascii=False)
    for secret in (PERSON, PHONE, PERSON_ID):
        assert secret not in text, secret
    # the name, the free text naming the person (and the phone) stay undisclosed digests
    assert {"CF_XDR_MC", "CF_SY", "CF_WFXW", "CF_XDR_ZJHM"}.isdisjoint(b["disclosed"])
    # the leaf still commits to them: the verifier sees them as not disclosed
    leaf = json.loads(base64.b64decode(b["leaf"]["data"]))
    assert {"CF_XDR_MC", "CF_SY", "CF_WFXW"} <= set(leaf["fields"])
    leaf_text = json.dumps(leaf, ensure_ascii=False)
    assert PERSON not in leaf_text and PHONE not in leaf_text and PERSON_ID not in leaf_text
    # what is disclosed is exactly what 双公示 shows, and it verifies offline, pinned
    shown = _feed_fields(c, ids["person"])
    assert shown["CF_XDR_MC"] == "王**" and "[已隐去]" in shown["CF_SY"]
    disclosed = {k: v["value"] for k, v in b["disclosed"].items()}
    assert disclosed and all(shown[k] == v for k, v in disclosed.items())
    assert {"CF_WSH", "CF_NR_FK", "CF_JDRQ", "CF_CFJG"} <= set(disclosed)
    report = verify_bundle(b, trusted_vkey=ledger.checkpoint(c)["vkey"])
    assert report.key_pinned and report.disclosed == disclosed
    assert report.ref == f"{ids['person']}/1"
    # staff with a purpose still get every non-personal field and the subject (logged)
    staff = ledger.bundle(c, _tax(c), ids["person"], purpose="纳税信用评价")
    assert staff["record"]["subject_id"] == sid
    assert staff["disclosed"]["CF_XDR_MC"]["value"] == PERSON
    assert "CF_XDR_ZJHM" not in staff["disclosed"]
    assert verify_bundle(staff).disclosed["CF_SY"] == f"{PERSON}（电话{PHONE}）在榆阳区无证经营"


def test_a_companys_bundle_still_discloses_its_fields(container: Container, tmp_path: Path) -> None:
    c = container
    ids = _seed(c, tmp_path)
    client = TestClient(create_app(c, scheduler=False))
    b = client.get(f"/api/v1/ledger/bundles/{ids['firm']}").json()
    assert b["record"]["subject_id"] == _subject_of(c, ids["firm"])
    report = verify_bundle(b, trusted_vkey=ledger.checkpoint(c)["vkey"])
    assert report.disclosed["CF_XDR_MC"] == FIRM
    assert report.disclosed["CF_XDR_SHXYM"] == FIRM_CODE
    assert report.disclosed["CF_WSH"] == WSH.format(1)
    assert report.disclosed == _feed_fields(c, ids["firm"])  # every public field, unchanged
    # a firm's free text with a phone in it is scrubbed publicly, so it is not disclosed raw
    other = client.get(f"/api/v1/ledger/bundles/{ids['phone_firm']}").json()
    assert FIRM_PHONE not in json.dumps(other, ensure_ascii=False)
    assert "CF_WFXW" not in other["disclosed"]
    assert other["disclosed"]["CF_XDR_MC"]["value"] == OTHER_FIRM
    assert verify_bundle(other).ref == f"{ids['phone_firm']}/1"


def test_a_repaired_record_has_no_bundle_for_anyone(container: Container, tmp_path: Path) -> None:
    c = container
    ids = _seed(c, tmp_path)
    rid = ids["firm"]
    client = TestClient(create_app(c, scheduler=False))
    tax = _tax(c)
    assert client.get(f"/api/v1/ledger/bundles/{rid}").status_code == 200
    assert ledger.bundle(c, tax, rid, purpose="纳税信用评价")["record"]["record_id"] == rid
    # 信用修复, approved by the deciding department (一般, decided 2026-06-01: 3 months passed)
    v = repairs.file_repair(
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
    repairs.accept(c, CLERK, v["id"])
    v = repairs.decide(
        c, department_principal(c, SAMR), v["id"], approve=True, reason="已履行法定义务"
    )
    assert v["status"]["code"] == "approved"
    ledger.integrate_now(c)
    anonymous = client.get(f"/api/v1/ledger/bundles/{rid}")
    missing = client.get("/api/v1/ledger/bundles/r-no-such-record")
    assert anonymous.status_code == missing.status_code == 404
    assert anonymous.json()["error"] == missing.json()["error"] == "record_not_found"
    with pytest.raises(NotFound) as refused:  # 停止共享和使用: staff get none either
        ledger.bundle(c, tax, rid, purpose="纳税信用评价")
    assert refused.value.code == "record_not_shared"


def test_a_withdrawn_record_has_no_bundle(container: Container, tmp_path: Path) -> None:
    c = container
    ids = _seed(c, tmp_path)
    rid = ids["firm"]
    withdraw_record(c, department_principal(c, SAMR), rid, "复议撤销")
    ledger.integrate_now(c)
    client = TestClient(create_app(c, scheduler=False))
    assert client.get(f"/api/v1/ledger/bundles/{rid}").status_code == 404
    with pytest.raises(NotFound, match="停止共享"):
        ledger.bundle(c, _tax(c), rid, purpose="纳税信用评价")


def test_minors_and_expired_records_have_no_anonymous_bundle(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    ids = _seed(c, tmp_path)
    client = TestClient(create_app(c, scheduler=False))
    tax = _tax(c)
    # a minor's penalty is never published: no anonymous bundle; the authorised view shares it
    assert client.get(f"/api/v1/ledger/bundles/{ids['minor']}").status_code == 404
    assert ledger.bundle(c, tax, ids["minor"], purpose="纳税信用评价")["disclosed"]
    # after the publication period the public bundle ends, sharing does not
    with c.uow() as uow:
        row = uow.session.get(RecordRow, ids["firm"])
        assert row is not None and row.publication_end is not None
        days = (row.publication_end - clock.now().date()).days + 1
    assert client.get(f"/api/v1/ledger/bundles/{ids['firm']}").status_code == 200
    clock.advance(days=days)
    assert client.get(f"/api/v1/ledger/bundles/{ids['firm']}").status_code == 404
    assert ledger.bundle(c, tax, ids["firm"], purpose="纳税信用评价")["record"]["record_id"]


def _resigned(c: Container, b: dict[str, Any], origin: str, extensions: tuple[str, ...]) -> str:
    """The bundle's checkpoint with another origin line or other extension lines, signed again
    with the log's own key (an operator, or another log sharing the key, could do that)."""
    cp = parse_checkpoint(open_note(b["checkpoint"], [verifier_from_vkey(b["vkey"])]).text)
    root = base64.b64encode(cp.root).decode()
    text = f"{origin}\n{cp.size}\n{root}\n" + "".join(e + "\n" for e in extensions)
    return sign_note(text, [c.ledger_signer])


def test_the_verifier_requires_the_keys_origin_and_one_suite_line(
    container: Container, tmp_path: Path
) -> None:
    c = container
    ids = _seed(c, tmp_path)
    b = ledger.bundle(c, ANONYMOUS, ids["firm"])
    vkey = b["vkey"]
    origin = c.settings.ledger_origin
    line = suite_extension_line(Suite(c.settings.ledger_suite))
    assert (
        verify_bundle(copy.deepcopy(b), trusted_vkey=vkey, trusted_origin=origin).origin == origin
    )
    # another log's checkpoint under the same key: refused, even when the bundle says so too
    staging = copy.deepcopy(b)
    staging["origin"] = "staging.citycredit/ledger"
    staging["checkpoint"] = _resigned(c, b, "staging.citycredit/ledger", (line,))
    for pinned in (vkey, None):
        with pytest.raises(
            BundleError, match=r"与数据链公钥的名称 yulin\.citycredit/ledger 不一致"
        ):
            verify_bundle(copy.deepcopy(staging), trusted_vkey=pinned)
    # no suite line, or two: refused
    bare = {**copy.deepcopy(b), "checkpoint": _resigned(c, b, origin, ())}
    with pytest.raises(BundleError, match="检查点没有算法套件行"):
        verify_bundle(bare, trusted_vkey=vkey)
    twice = {**copy.deepcopy(b), "checkpoint": _resigned(c, b, origin, (line, line))}
    with pytest.raises(BundleError, match="多个套件行"):
        verify_bundle(twice, trusted_vkey=vkey)
    # another extension line beside the suite line is fine (tlog-checkpoint allows it)
    extra = {**copy.deepcopy(b), "checkpoint": _resigned(c, b, origin, (line, "note x"))}
    assert verify_bundle(extra, trusted_vkey=vkey).size == b["proof"]["size"]
    # a pinned origin must match as well
    with pytest.raises(BundleError, match="您信任的数据链来源"):
        verify_bundle(copy.deepcopy(b), trusted_vkey=vkey, trusted_origin="other.example/log")


def test_the_log_refuses_a_key_not_named_its_origin(container: Container) -> None:
    c = container
    other = generate_signer("staging.citycredit/ledger", Suite(c.settings.ledger_suite))
    settings = c.settings.model_copy(update={"ledger_skey": SecretStr(signer_to_skey(other))})
    with pytest.raises(LedgerConfigError, match=r"与配置的来源 yulin\.citycredit/ledger 不一致"):
        load_signer(settings)
    with c.uow() as uow, pytest.raises(LedgerConfigError, match="不一致"):
        ensure_log(uow.session, c.settings, other, now=c.clock.now())
    gm = generate_signer(c.settings.ledger_origin, Suite.sm3_sm2)
    if c.settings.ledger_suite != Suite.sm3_sm2.value:
        with c.uow() as uow, pytest.raises(LedgerConfigError, match="算法套件"):
            ensure_log(uow.session, c.settings, gm, now=c.clock.now())
    assert load_signer(c.settings).name == c.settings.ledger_origin  # the dev key: named right
