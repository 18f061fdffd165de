"""The credit check's one-statement standing read answers what the areas' own functions answer
(both databases): memberships in force (lists), recent breaches (commitments), the current
grade (evaluation) and open objections and repairs (rights), each in the same order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from citycredit.bootstrap import Container
from citycredit.checks.service import run_check
from citycredit.checks.standing import subject_standing
from citycredit.commitments.db import CommitmentRow
from citycredit.commitments.service import breach_window, recent_breaches
from citycredit.evaluation.views import current_grade
from citycredit.lists.service import active_memberships, subject_with_memberships
from citycredit.rights.db import ObjectionRow, RepairRow
from citycredit.rights.pending import pending_cases
from citycredit.subjects.db import SubjectRow
from evaluation_support import COMPANY, TODAY, deliver, licence, subject_id
from support import department, membership_row

pytestmark = pytest.mark.db

AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _membership(sid: str, mid: str, status: str, minute: int, expires: date | None) -> Any:
    return membership_row(
        sid,
        mid,
        status,
        minute,
        expires,
        decision_no=f"榆市监严列〔2026〕{minute}号",
        objection_pending=minute % 2 == 0,
    )


def _commitment(sid: str, cid: str, dept: int, status: str, checked: date | None) -> Any:
    return CommitmentRow(
        id=cid,
        subject_id=sid,
        kind="approval_substitute",
        matter="food_business_licence",
        text="本单位承诺所填报信息真实有效",
        made_on=date(2022, 1, 1),
        department_id=dept,
        public=True,
        status=status,
        false_commitment=False,
        checked_on=checked,
        recorded_by="测试",
        created_at=AT,
        updated_at=AT,
    )


def _objection(sid: str, oid: str, status: str, filed: date) -> Any:
    return ObjectionRow(
        id=oid,
        subject_id=sid,
        target_type="record",
        target_id=f"r-{oid}",
        ground="inaccurate",
        reasons="处罚金额有误",
        evidence=[],
        channel="online",
        filed_by="测试",
        status=status,
        filed_on=filed,
        accept_due=filed + timedelta(days=3),
        created_at=AT,
        updated_at=AT,
    )


def _repair(sid: str, rid: str, status: str, filed: date) -> Any:
    return RepairRow(
        id=rid,
        subject_id=sid,
        target_type="membership",
        target_id=f"m-{rid}",
        channel="window",
        reasons="已整改",
        commitment_text="本单位承诺今后依法经营",
        materials=[],
        eligibility={},
        status=status,
        filed_by="测试",
        filed_on=filed,
        accept_due=filed + timedelta(days=3),
        created_at=AT,
        updated_at=AT,
    )


def _areas(c: Container, sid: str, today: date) -> dict[str, Any]:
    """What each area's own function answers."""
    with c.uow() as uow:
        s = uow.session
        head, _ = subject_with_memberships(s, sid, today)
        return {
            "subject": head,
            "memberships": tuple(active_memberships(s, sid, today)),
            "breaches": tuple(recent_breaches(s, sid, today)),
            "grade": current_grade(s, sid),
            "pending": pending_cases(s, sid),
        }


def _combined(c: Container, sid: str, today: date) -> dict[str, Any]:
    with c.uow() as uow:
        found = subject_standing(uow.session, sid, today)
    assert found is not None
    return {
        "subject": found.subject,
        "memberships": found.memberships,
        "breaches": found.breaches,
        "grade": found.grade,
        "pending": found.pending,
    }


def test_standing_agrees_with_each_area(container: Container, tmp_path: Path) -> None:
    c = container
    samr = department(c)
    licence(c, tmp_path, COMPANY)
    deliver(c)  # evaluated: grade B (605)
    sid = subject_id(c, COMPANY)
    window = breach_window(TODAY)
    assert window is not None
    since, _ = window
    assert samr.department_id is not None
    with c.uow() as uow:
        s = uow.session
        # memberships created out of id order; some in force, some not
        s.add_all(
            [
                _membership(sid, "mstand00000000000003", "published", 30, None),
                _membership(sid, "mstand00000000000001", "decided", 10, None),
                _membership(sid, "mstand00000000000002", "proposed", 20, None),
                _membership(sid, "mstand00000000000004", "expired", 40, TODAY),
                _membership(sid, "mstand00000000000005", "published", 50, TODAY),  # ends today
                _membership(sid, "mstand00000000000006", "published", 5, TODAY + timedelta(1)),
                _membership(sid, "mstand00000000000007", "decided", 30, None),  # same minute
            ]
        )
        d = samr.department_id
        s.add_all(
            [
                _commitment(sid, "cstand00000000000001", d, "breached", TODAY - timedelta(10)),
                _commitment(sid, "cstand00000000000002", d, "breached", since),  # first day in
                _commitment(sid, "cstand00000000000003", d, "breached", since - timedelta(1)),
                _commitment(sid, "cstand00000000000004", d, "breached", TODAY + timedelta(1)),
                _commitment(sid, "cstand00000000000005", d, "fulfilled", TODAY - timedelta(5)),
                _commitment(sid, "cstand00000000000006", d, "breached", None),
                _commitment(sid, "cstand00000000000007", d, "breached", TODAY),
            ]
        )
        s.add_all(
            [
                _objection(sid, "ostand00000000000003", "submitted", date(2026, 11, 20)),
                _objection(sid, "ostand00000000000001", "accepted", date(2026, 11, 20)),
                _objection(sid, "ostand00000000000002", "decided", date(2026, 11, 1)),
                _objection(sid, "ostand00000000000004", "rejected", date(2026, 11, 2)),
                _objection(sid, "ostand00000000000005", "submitted", date(2026, 11, 3)),
                _repair(sid, "pstand00000000000002", "submitted", date(2026, 11, 21)),
                _repair(sid, "pstand00000000000001", "accepted", date(2026, 11, 21)),
                _repair(sid, "pstand00000000000003", "approved", date(2026, 11, 2)),
                _repair(sid, "pstand00000000000004", "accepted", date(2026, 11, 4)),
            ]
        )
        uow.commit()
    areas = _areas(c, sid, TODAY)
    assert _combined(c, sid, TODAY) == areas
    # the data exercised every part (not an agreement between empty answers)
    assert [m.decision_no for m in areas["memberships"]] == [
        "榆市监严列〔2026〕5号",
        "榆市监严列〔2026〕10号",
        "榆市监严列〔2026〕30号",
        "榆市监严列〔2026〕30号",
    ]
    assert areas["breaches"] == (since, TODAY - timedelta(10), TODAY)
    assert areas["grade"] is not None and areas["grade"]["grade"] == "B"
    assert [o["objection_id"] for o in areas["pending"]["objections"]] == [
        "ostand00000000000005",
        "ostand00000000000001",
        "ostand00000000000003",
    ]
    assert [r["repair_id"] for r in areas["pending"]["repairs"]] == [
        "pstand00000000000004",
        "pstand00000000000001",
        "pstand00000000000002",
    ]
    # on another day the windows move: both still agree
    later = TODAY + timedelta(days=1)
    assert _combined(c, sid, later) == _areas(c, sid, later)
    # a check shows exactly that standing
    result = run_check(c, samr, subject_id=sid, matter="food_business_licence")
    assert result["pending"] == areas["pending"]
    assert result["evaluation"] == areas["grade"]
    assert result["commitment_breaches"] == [d.isoformat() for d in areas["breaches"]]
    assert len(result["memberships"]) == 4


def _bare_subject(c: Container, subject_id: str, name: str) -> None:
    """An enterprise with nothing on record."""
    with c.uow() as uow:
        uow.session.add(
            SubjectRow(
                subject_id=subject_id,
                subject_type="enterprise",
                name=name,
                name_norm=name,
                origin="registration",
                professions=[],
                created_at=AT,
                updated_at=AT,
            )
        )
        uow.commit()


def test_standing_of_a_bare_subject_and_of_no_subject(container: Container) -> None:
    c = container
    _bare_subject(c, "sstandbare0000000000", "无记录企业")
    assert _combined(c, "sstandbare0000000000", TODAY) == _areas(c, "sstandbare0000000000", TODAY)
    found = _combined(c, "sstandbare0000000000", TODAY)
    assert found["grade"] is None and found["memberships"] == () and found["breaches"] == ()
    assert found["pending"] == {"objections": [], "repairs": [], "tracked": True}
    with c.uow() as uow:
        assert subject_standing(uow.session, "s-no-such-subject", TODAY) is None


def test_a_check_reads_and_writes_without_a_transaction_around_them(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the check reads its standing, then writes the check, its disclosure row and
    its outbox event in one statement (outbox.commit_with_event), in autocommit mode — no
    transaction stays open after the read (no BEGIN / COMMIT round trips), and the write, one
    statement, is its own transaction. The pooled connection is handed back in its default
    mode. SQLite keeps its transaction around the check's inserts."""
    from sqlalchemy import func, select

    from citycredit.checks import service as checks_service
    from citycredit.checks.db import CreditCheckRow
    from citycredit.kernel.db import DisclosureRow, OutboxEventRow

    c = container
    samr = department(c, "榆林市市场监督管理局")
    sid = "sstandauto0000000000"
    _bare_subject(c, sid, "自动提交企业")
    seen: list[tuple[bool, str]] = []
    real = checks_service.subject_standing

    def observed(s: Any, subject_id: str, today: date) -> Any:
        found = real(s, subject_id, today)
        raw = s.connection().connection.dbapi_connection
        if c.engine.dialect.name == "postgresql":
            seen.append((raw.autocommit, raw.info.transaction_status.name))
        return found

    monkeypatch.setattr(checks_service, "subject_standing", observed)
    result = run_check(c, samr, subject_id=sid, matter="food_business_licence")
    with c.uow() as uow:
        s = uow.session
        assert s.get(CreditCheckRow, result["check_id"]) is not None
        events = select(func.count()).select_from(OutboxEventRow)
        assert s.scalar(events.where(OutboxEventRow.aggregate_id == result["check_id"])) == 1
        logged = select(func.count()).select_from(DisclosureRow)
        assert s.scalar(logged.where(DisclosureRow.subject_id == sid)) == 1
    if c.engine.dialect.name == "postgresql":
        assert seen == [(True, "IDLE")]
        with c.engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False  # reset on release
