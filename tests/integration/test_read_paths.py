"""The one-statement read paths of credit checks and the public archive (both databases).

lists.service.subject_with_memberships must answer exactly what active_memberships answers
(same memberships, same order); the public archive must show only current versions of records
that are public today, whatever else the subject has.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.lists.service import active_memberships, subject_with_memberships
from citycredit.subjects import archive
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS, department, membership_row, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

TODAY = date(2026, 11, 25)  # the FixedClock's day in Asia/Shanghai
COMPANY = "榆阳区读取路径商贸有限公司"
CODE = uscc("91", "610802", "MA6R0001")


def _ingest(c: Container, samr: Principal, path: Path, rows: list[list[object]]) -> str:
    """Ingest penalty rows as SAMR; the company's subject id."""
    ingest_submission(c, samr, path=write_csv(path, PENALTY_COLUMNS, rows), item_code="penalty")
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == CODE))
    assert sid is not None
    return sid


def _membership(
    c: Container, mid: str, sid: str, status: str, minute: int, expires: date | None = None
) -> None:
    with c.uow() as uow:
        uow.session.add(membership_row(sid, mid, status, minute, expires))
        uow.commit()


def test_subject_with_memberships_matches_active_memberships(
    container: Container, tmp_path: Path
) -> None:
    c = container
    row = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕31号")
    sid = _ingest(c, department(c), tmp_path / "p.csv", [row])
    # created out of order, so the ORDER BY is what puts them in order
    _membership(c, "mread000000000000003", sid, "published", 30)
    _membership(c, "mread000000000000001", sid, "decided", 10)
    _membership(c, "mread000000000000002", sid, "proposed", 20)
    _membership(c, "mread000000000000004", sid, "expired", 40, TODAY)
    _membership(c, "mread000000000000005", sid, "published", 50, TODAY)  # ends today
    _membership(c, "mread000000000000006", sid, "published", 5, TODAY + timedelta(days=1))
    with c.uow() as uow:
        s = uow.session
        expected = active_memberships(s, sid, TODAY)
        head, found = subject_with_memberships(s, sid, TODAY)
        assert head is not None
        assert (head.subject_id, head.name, head.subject_type) == (sid, COMPANY, "enterprise")
        assert found == expected
        assert [m.status.value for m in found] == ["published", "decided", "published"]
        assert [m.decision_no for m in found][1] == "榆市监严列〔2026〕9号"
        assert subject_with_memberships(s, "s-no-such-subject", TODAY) == (None, [])
        # a subject without memberships still comes back, with none
        s.add(
            SubjectRow(
                subject_id="sreadnomembership000",
                subject_type="enterprise",
                name="无名单企业",
                name_norm="无名单企业",
                origin="registration",
                professions=[],
                created_at=datetime(2026, 11, 1, tzinfo=UTC),
                updated_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )
        s.flush()
        head2, none = subject_with_memberships(s, "sreadnomembership000", TODAY)
        assert head2 is not None and head2.name == "无名单企业" and none == []


def test_public_archive_shows_current_public_versions_only(
    container: Container, tmp_path: Path
) -> None:
    c = container
    first = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕41号")
    other = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕42号")
    # a warning is 轻微 (minor): kept and shown to staff, never published
    minor = penalty_row(
        CF_XDR_MC=COMPANY,
        CF_XDR_SHXYM=CODE,
        CF_WSH="榆市监罚〔2026〕43号",
        CF_CFLB="警告",
        CF_NR="警告",
        CF_NR_FK="",
    )
    samr = department(c)
    sid = _ingest(c, samr, tmp_path / "p.csv", [first, other, minor])
    # correct the first (new version), withdraw the second
    corrected = penalty_row(
        CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕41号", CF_NR="罚款3万元"
    )
    _ingest(c, samr, tmp_path / "p2.csv", [corrected])
    with c.uow() as uow:
        records = {
            r.key_text.rsplit("|", 1)[1]: r
            for r in uow.session.scalars(select(RecordRow).where(RecordRow.subject_id == sid))
        }
    withdraw_record(c, samr, records["榆市监罚〔2026〕42号"].id, "报送有误，撤回")
    view = archive.public_archive(c, ANONYMOUS, sid)
    shown = [e for g in view["groups"] for e in g["records"]]
    assert [(e["record_id"], e["version"]) for e in shown] == [
        (records["榆市监罚〔2026〕41号"].id, 2)
    ]
    values = {f["code"]: f["value"] for f in shown[0]["fields"]}
    assert values["CF_NR"] == "罚款3万元"
    assert view["total"] == 1
    # the authorised view reads current versions of every active record the same way
    staff = archive.authorised_archive(c, SYSTEM, sid, purpose="读取路径测试")
    versions = sorted((e["record_id"], e["version"]) for g in staff["groups"] for e in g["records"])
    assert versions == sorted(
        [(records["榆市监罚〔2026〕41号"].id, 2), (records["榆市监罚〔2026〕43号"].id, 1)]
    )
