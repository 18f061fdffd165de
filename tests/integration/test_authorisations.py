"""查询授权 on both databases: grant, read under it (logged), revocation and expiry effective
at once, refusal with the reason, only authorised items, no personal fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from citycredit.accounts.model import Principal, Role
from citycredit.bootstrap import Container
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import DisclosureRow
from citycredit.rights import authorisations as auth
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

COMPANY, CODE = "榆阳区授权商贸有限公司", uscc("91", "610802", "MA6AU001")
BANK, BANK_CODE = "榆林农村商业银行股份有限公司", uscc("91", "610800", "MA6BK001")


def setup(c: Container, tmp: Path) -> tuple[str, str]:
    samr = department(c)
    rows = [
        penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕1号"),
        penalty_row(CF_XDR_MC=BANK, CF_XDR_SHXYM=BANK_CODE, CF_WSH="榆市监罚〔2026〕2号"),
    ]
    path = write_csv(tmp / "p.csv", PENALTY_COLUMNS, rows)
    ingest_submission(c, samr, path=path, item_code="penalty")
    with c.uow() as uow:
        ids = {s.uscc: s.subject_id for s in uow.session.scalars(select(SubjectRow))}
    return ids[CODE], ids[BANK_CODE]


def agent(sid: str) -> Principal:
    return Principal(
        role=Role.enterprise_agent, label="企业经办人", user_id=None, subject_ids=frozenset({sid})
    )


def bank(bank_sid: str) -> Principal:
    return Principal(
        role=Role.financial_institution, label="榆林农商行信贷部", subject_ids=frozenset({bank_sid})
    )


def test_grant_read_revoke(container: Container, tmp_path: Path) -> None:
    c = container
    sid, bank_sid = setup(c, tmp_path)
    with pytest.raises(PermissionDenied) as err:
        auth.institution_query(c, bank(bank_sid), sid)
    assert err.value.code == "no_authorisation"
    with pytest.raises(PermissionDenied):  # only the subject's own side may grant
        auth.grant(
            c,
            agent(bank_sid),
            subject_id=sid,
            grantee=BANK_CODE,
            purpose="贷款审批",
            valid_until=date(2026, 12, 31),
        )
    a = auth.grant(
        c,
        agent(sid),
        subject_id=sid,
        grantee=BANK_CODE,
        purpose="贷款审批",
        valid_until=date(2026, 12, 31),
        items=["penalty"],
    )
    assert a["state"] == "active" and a["grantee"]["name"] == BANK
    view = auth.institution_query(c, bank(bank_sid), sid)
    assert view["authorisation"]["id"] == a["id"] and view["total"] == 1
    assert [g["item"] for g in view["groups"]] == ["penalty"]
    with c.uow() as uow:
        log = uow.session.scalars(
            select(DisclosureRow).where(DisclosureRow.subject_id == sid)
        ).all()
    assert len(log) == 1 and log[0].purpose == "贷款审批" and log[0].channel == "institution"
    assert (
        log[0].detail["authorisation"] == a["id"] and log[0].actor_role == "financial_institution"
    )
    # Another bank (not the grantee) is refused; a department-style role too.
    other = Principal(
        role=Role.financial_institution, label="其他银行", subject_ids=frozenset({sid + "x"})
    )
    with pytest.raises(PermissionDenied):
        auth.institution_query(c, other, sid)
    # Revocation takes effect for the very next read.
    auth.revoke(c, agent(sid), a["id"])
    with pytest.raises(PermissionDenied) as err:
        auth.institution_query(c, bank(bank_sid), sid)
    assert "撤回" in err.value.message
    assert auth.list_authorisations(c, agent(sid), sid)[0]["state"] == "revoked"


def test_valid_until_is_the_last_valid_day(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """有效期至 2026-11-27: valid until 23:59 Beijing that day, refused from 00:00 the next."""
    c = container
    sid, bank_sid = setup(c, tmp_path)
    a = auth.grant(
        c,
        agent(sid),
        subject_id=sid,
        grantee=BANK_CODE,
        purpose="贷后管理",
        valid_until=date(2026, 11, 27),
    )
    assert a["valid_until"] == "2026-11-27" and a["state"] == "active"
    clock.current = datetime(2026, 11, 27, 15, 59, tzinfo=UTC)  # 23:59 Beijing, the last day
    assert auth.institution_query(c, bank(bank_sid), sid)["total"] >= 1
    assert auth.list_authorisations(c, bank(bank_sid))[0]["state"] == "active"
    clock.current = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 00:00 Beijing, 11-28
    with pytest.raises(PermissionDenied) as err:
        auth.institution_query(c, bank(bank_sid), sid)
    assert err.value.code == "authorisation_invalid"
    assert "已于 2026-11-27 到期" in err.value.message
    listed = auth.list_authorisations(c, bank(bank_sid))[0]
    assert listed["state"] == "expired" and listed["valid_until"] == "2026-11-27"


def test_a_one_day_grant_is_valid_today_only(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    sid, bank_sid = setup(c, tmp_path)
    clock.current = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # 23:30 Beijing
    base = {"subject_id": sid, "grantee": BANK_CODE, "purpose": "贷款审批"}
    with pytest.raises(FieldError) as err:  # yesterday (Beijing) is refused
        auth.grant(c, agent(sid), **base, valid_until=date(2026, 11, 24))
    assert (err.value.field, err.value.value, err.value.code) == (
        "valid_until",
        "2026-11-24",
        "past",
    )
    assert "不能早于今天（2026-11-25）" in err.value.message
    a = auth.grant(c, agent(sid), **base, valid_until=date(2026, 11, 25))  # today
    assert a["valid_until"] == "2026-11-25" and a["state"] == "active"
    assert auth.institution_query(c, bank(bank_sid), sid)["authorisation"]["id"] == a["id"]
    clock.current = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 00:00 Beijing, 11-26
    with pytest.raises(PermissionDenied) as denied:
        auth.institution_query(c, bank(bank_sid), sid)
    assert "已于 2026-11-25 到期" in denied.value.message
    # at most 12 months counting today: 2027-11-25 is the last day a grant may name
    clock.current = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert auth.grant(c, agent(sid), **base, valid_until=date(2027, 11, 25))["state"] == "active"
    with pytest.raises(FieldError) as err:
        auth.grant(c, agent(sid), **base, valid_until=date(2027, 11, 26))
    assert err.value.code == "too_long" and "2027-11-25" in err.value.message


def test_grant_validation(container: Container, tmp_path: Path) -> None:
    c = container
    sid, _ = setup(c, tmp_path)
    base = {"subject_id": sid, "grantee": BANK_CODE, "purpose": "贷款审批"}
    for kw, field in (
        ({"valid_until": date(2026, 11, 24)}, "valid_until"),
        ({"valid_until": date(2026, 11, 25) + timedelta(days=400)}, "valid_until"),
        ({"valid_until": date(2026, 12, 31), "items": ["bogus"]}, "items"),
        ({"valid_until": date(2026, 12, 31), "grantee": "91610800MA6ZZZZZZZ"}, "grantee"),
        ({"valid_until": date(2026, 12, 31), "purpose": " "}, "purpose"),
    ):
        with pytest.raises(FieldError) as err:
            auth.grant(c, agent(sid), **{**base, **kw})  # type: ignore[arg-type]
        assert err.value.field == field
