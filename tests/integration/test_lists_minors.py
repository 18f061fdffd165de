"""名单 and minors (security G31, rules.md §13.4): a court listing of a person who was under 18
on the decision date, or one whose source record is not public, stays in force for authorised
credit checks but never reaches a public surface (public lists, subject lists, pages); the
membership follows corrections of the record both ways."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.checks import service as checks
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.outbox import deliver
from citycredit.lists import service as lists
from citycredit.lists.consumer import sync_record
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.lists.matching import minor_on, public_entry
from citycredit.shared.clock import FixedClock
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import id_number, uscc, write_csv

pytestmark = pytest.mark.db

COURT = "榆林市中级人民法院"
SX = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_ZJHM", "SX_AH", "SX_ZXFY", "SX_YW", "SX_SXQX"]
SX += ["SX_FBRQ", "SX_YCRQ"]
LISTED_ON = "2026-11-02"
MINOR = ("王小明", id_number("610802", "20100304", "123"), "(2026)陕0802执100号")  # 16
ADULT = ("张大山", id_number("610802", "19800304", "456"), "(2026)陕0802执101号")
# around the boundary: 18 on the decision day itself, and one day short of it
EIGHTEEN = ("赵成年", id_number("610802", "20081102", "789"), "(2026)陕0802执102号")
ONE_DAY_SHORT = ("钱差一", id_number("610802", "20081103", "135"), "(2026)陕0802执103号")
HIDDEN_NAMES = (MINOR[0], ONE_DAY_SHORT[0])
JD = "judgment_defaulter"


def court_row(person: tuple[str, str, str], listed: str = LISTED_ON) -> list[Any]:
    name, idn, case = person
    return [name, "自然人", "", idn, case, COURT, "偿还借款", "有履行能力而拒不履行", listed, ""]


def send(c: Container, tmp: Path, name: str, rows: list[list[Any]]) -> None:
    """A court file through intake, then the `lists` consumer."""
    ingest_submission(
        c, department_principal(c, COURT), path=write_csv(tmp / name, SX, rows), item_code=JD
    )
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())


def court(c: Container) -> None:
    add_department(c, SYSTEM, name=COURT, code=uscc("11", "610800", "MA0CRT01"), kind="court")


def subject_of(c: Container, idn: str) -> str:
    """The subject id of the person with this ID number (its birth date identifies it)."""
    birth = date(int(idn[6:10]), int(idn[10:12]), int(idn[12:14]))
    with c.uow() as uow:
        sid = uow.session.scalar(
            select(SubjectRow.subject_id).where(SubjectRow.birth_date == birth)
        )
    assert sid is not None
    return sid


def record_of(c: Container, sid: str) -> RecordRow:
    with c.uow() as uow:
        rec = uow.session.scalar(select(RecordRow).where(RecordRow.subject_id == sid))
        assert rec is not None
        uow.session.expunge(rec)
        return rec


def memberships_of(c: Container, sid: str) -> list[MembershipRow]:
    with c.uow() as uow:
        rows = list(
            uow.session.scalars(
                select(MembershipRow)
                .where(MembershipRow.subject_id == sid)
                .order_by(MembershipRow.created_at, MembershipRow.id)
            )
        )
        for r in rows:
            uow.session.expunge(r)
        return rows


def actions(c: Container, mid: str) -> list[str]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(MembershipEventRow.action)
                .where(MembershipEventRow.membership_id == mid)
                .order_by(MembershipEventRow.id)
            )
        )


def public_names(c: Container) -> list[str]:
    return sorted(e["name"] for e in lists.public_list(c, ANONYMOUS, JD)["entries"])


def test_minor_is_off_every_public_list_and_an_adult_in_the_same_file_is_on(
    container: Container, tmp_path: Path
) -> None:
    c = container
    court(c)
    send(c, tmp_path, "sx.csv", [court_row(p) for p in (MINOR, ADULT, EIGHTEEN, ONE_DAY_SHORT)])
    minor_sid = subject_of(c, MINOR[1])
    rec = record_of(c, minor_sid)
    assert (rec.published, rec.unpublished_reason) == (False, "minor")
    assert record_of(c, subject_of(c, ONE_DAY_SHORT[1])).unpublished_reason == "minor"
    assert record_of(c, subject_of(c, EIGHTEEN[1])).published is True
    # the court's listing is kept (in force for authorised checks), its trail says why it is
    # not public
    [m] = memberships_of(c, minor_sid)
    assert (m.status, m.origin, m.decision_no) == ("published", "external", MINOR[2])
    assert actions(c, m.id) == ["ingest", "conceal"]
    # redelivery adds no step
    with c.uow() as uow:
        sync_record(c, uow.session, rec.id)
        uow.commit()
    assert actions(c, m.id) == ["ingest", "conceal"]
    [adult] = memberships_of(c, subject_of(c, ADULT[1]))
    assert actions(c, adult.id) == ["ingest"]
    # public list: the adults (18 on the decision day included), never the minors
    data = lists.public_list(c, ANONYMOUS, JD)
    assert sorted(e["name"] for e in data["entries"]) == sorted([ADULT[0], EIGHTEEN[0]])
    assert data["count"] == data["total"] == 2
    assert lists.public_subject_lists(c, ANONYMOUS, minor_sid)["lists"] == []
    assert lists.public_subject_lists(c, ANONYMOUS, minor_sid)["measures"] == []
    # over HTTP: API JSON, the list page and the subject's public lists
    client = TestClient(create_app(c, scheduler=False))
    api = client.get(f"/api/v1/lists/{JD}")
    assert api.status_code == 200
    page = client.get(f"/lists/{JD}")
    assert page.status_code == 200
    for text in (api.text, page.text):
        assert ADULT[0] in text and EIGHTEEN[0] in text
        for hidden in (*HIDDEN_NAMES, MINOR[1], MINOR[2], ONE_DAY_SHORT[2]):
            assert hidden not in text
    assert api.json()["count"] == 2
    mine = client.get(f"/api/v1/subjects/{minor_sid}/lists")
    assert mine.status_code == 200 and mine.json()["lists"] == []
    archive = client.get(f"/subjects/{minor_sid}")
    assert archive.status_code == 200
    assert MINOR[2] not in archive.text and "失信被执行人" not in archive.text


def test_authorised_credit_check_still_sees_the_minors_listing(
    container: Container, tmp_path: Path
) -> None:
    c = container
    court(c)
    send(c, tmp_path, "sx.csv", [court_row(MINOR), court_row(ADULT)])
    minor_sid = subject_of(c, MINOR[1])
    res = checks.run_check(c, SYSTEM, subject_id=minor_sid, matter="road_transport_licence")
    [listed] = res["memberships"]
    assert (listed["list_type"], listed["decision_no"]) == (JD, MINOR[2])
    assert "defaulter_public_restrictions" in [m["code"] for m in res["measures"]]
    assert res["fast_approval"]["eligible"] is False
    assert res["subject"]["name"] == "王**"  # checks mask persons' names as before
    assert MINOR[0] not in public_names(c)


def test_correction_to_an_adult_decision_date_publishes_and_back_conceals(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    court(c)
    person = ("孙十七", id_number("610802", "20080615", "246"), "(2026)陕0802执110号")
    send(c, tmp_path, "sx1.csv", [court_row(person, "2026-05-02")])  # 17 on that day
    sid = subject_of(c, person[1])
    [m] = memberships_of(c, sid)
    assert actions(c, m.id) == ["ingest", "conceal"]
    assert person[0] not in public_names(c)
    # the court corrects the listing date: the person was 18 by then
    send(c, tmp_path, "sx2.csv", [court_row(person, "2026-07-01")])
    rec = record_of(c, sid)
    assert (rec.current_version, rec.published, rec.unpublished_reason) == (2, True, None)
    [same] = memberships_of(c, sid)
    assert same.id == m.id and same.decided_on == date(2026, 7, 1)
    assert actions(c, m.id) == ["ingest", "conceal", "update", "reveal"]
    assert public_names(c) == [person[0]]
    # and corrected back: off the public list again, still one membership in force
    send(c, tmp_path, "sx3.csv", [court_row(person, "2026-05-02")])
    assert record_of(c, sid).unpublished_reason == "minor"
    [again] = memberships_of(c, sid)
    assert again.id == m.id and again.status == "published"
    assert actions(c, m.id)[-2:] == ["update", "conceal"]
    assert public_names(c) == []
    with c.uow() as uow:
        active = lists.active_memberships(uow.session, sid, date(2026, 11, 25))
    assert [x.list_type for x in active] == [JD]


def test_corrected_id_number_lists_the_adult_and_keeps_the_minor_off(
    container: Container, tmp_path: Path
) -> None:
    c = container
    court(c)
    send(c, tmp_path, "sx1.csv", [court_row(MINOR)])
    assert public_names(c) == []
    # the court resends the case with the right (an adult's) ID number: another subject
    adult_id = id_number("610802", "19900304", "321")
    send(c, tmp_path, "sx2.csv", [court_row((MINOR[0], adult_id, MINOR[2]))])
    [adult] = memberships_of(c, subject_of(c, adult_id))
    assert adult.status == "published" and actions(c, adult.id) == ["ingest"]
    [entry] = lists.public_list(c, ANONYMOUS, JD)["entries"]
    assert (entry["name"], entry["decision_no"]) == (MINOR[0], MINOR[2])
    # the minor's own listing stays off the public surfaces
    minor_sid = subject_of(c, MINOR[1])
    assert lists.public_subject_lists(c, ANONYMOUS, minor_sid)["lists"] == []
    assert lists.public_list(c, ANONYMOUS, JD)["count"] == 1


def test_public_views_hide_older_minor_memberships_and_non_public_sources(
    container: Container, tmp_path: Path
) -> None:
    """Second guard at read time: memberships stored before intake flagged minors (the record
    still published), and records later hidden for personal privacy or made non-public."""
    c = container
    court(c)
    send(c, tmp_path, "sx.csv", [court_row(MINOR), court_row(ADULT)])
    minor_sid, adult_sid = subject_of(c, MINOR[1]), subject_of(c, ADULT[1])
    with c.uow() as uow:  # as stored before the minor rule: record published, no conceal step
        rec = uow.session.scalar(select(RecordRow).where(RecordRow.subject_id == minor_sid))
        assert rec is not None
        rec.published, rec.unpublished_reason = True, None
        for ev in uow.session.scalars(
            select(MembershipEventRow).where(MembershipEventRow.action == "conceal")
        ):
            uow.session.delete(ev)
        uow.commit()
    assert public_names(c) == [ADULT[0]]  # the subject's age on the decision date
    assert lists.public_list(c, ANONYMOUS, JD)["count"] == 1
    assert lists.public_subject_lists(c, ANONYMOUS, minor_sid)["lists"] == []
    # the adult's record hidden for personal privacy (涉及个人隐私), then made non-public
    with c.uow() as uow:
        rec = uow.session.scalar(select(RecordRow).where(RecordRow.subject_id == adult_sid))
        assert rec is not None
        rec.published, rec.unpublished_reason = False, "privacy"
        uow.commit()
        record_id = rec.id
    assert public_names(c) == []
    assert lists.public_subject_lists(c, ANONYMOUS, adult_sid)["lists"] == []
    with c.uow() as uow:  # the consumer's trail follows on the next sync
        sync_record(c, uow.session, record_id)
        uow.commit()
    [adult] = memberships_of(c, adult_sid)
    assert actions(c, adult.id) == ["ingest", "conceal"]
    with c.uow() as uow:
        rec = uow.session.get(RecordRow, record_id)
        assert rec is not None
        rec.published, rec.unpublished_reason, rec.openness = True, None, "authorised"
        uow.commit()
    assert public_names(c) == []
    with c.uow() as uow:
        rec = uow.session.get(RecordRow, record_id)
        assert rec is not None
        rec.openness = "public"
        sync_record(c, uow.session, record_id)
        uow.commit()
    assert public_names(c) == [ADULT[0]]
    assert actions(c, adult.id) == ["ingest", "conceal", "reveal"]
    # credit checks see both listings throughout
    for sid in (minor_sid, adult_sid):
        res = checks.run_check(c, SYSTEM, subject_id=sid, matter="road_transport_licence")
        assert [m["list_type"] for m in res["memberships"]] == [JD]


def test_minor_rule_of_public_entries() -> None:
    """The pure rule (matching.minor_on / public_entry): 18 on the 18th birthday; born on
    29 February, adult on 1 March."""
    assert minor_on(date(2008, 11, 3), date(2026, 11, 2))
    assert not minor_on(date(2008, 11, 2), date(2026, 11, 2))
    assert minor_on(date(2008, 2, 29), date(2026, 2, 28))
    assert not minor_on(date(2008, 2, 29), date(2026, 3, 1))
    assert not minor_on(None, date(2026, 3, 1)) and not minor_on(date(2008, 1, 1), None)
    from citycredit.lists import Membership, MembershipStatus, Origin, default_lists

    lt = default_lists().list_type(JD)
    m = Membership(
        list_type=JD, subject_id="s1", origin=Origin.external, status=MembershipStatus.published,
        decision_no=MINOR[2], decided_on=date(2026, 11, 2), published_on=date(2026, 11, 2),
    )  # fmt: skip
    kw: dict[str, Any] = {"subject_name": MINOR[0], "today": date(2026, 11, 25)}
    assert public_entry(m, lt, is_person=True, birth_date=date(2010, 3, 4), **kw) is None
    shown = public_entry(m, lt, is_person=True, birth_date=date(1980, 3, 4), **kw)
    assert shown is not None and shown["name"] == MINOR[0]
    assert public_entry(m, lt, is_person=True, **kw) is not None  # no birth date known


def test_the_court_hears_once_of_a_minor_it_listed(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """数据质量反馈: a minor in a court file → one notice to the court per record, naming the
    record and the rule, never the person; adults and repeated runs send nothing more."""
    from citycredit.ingest.feedback import send_source_feedback
    from citycredit.kernel.jobs import registered_jobs
    from citycredit.rights.notices import inbox

    c = container
    court(c)
    send(c, tmp_path, "sx.csv", [court_row(MINOR), court_row(ADULT)])
    minor_record = record_of(c, subject_of(c, MINOR[1]))
    assert minor_record.unpublished_reason == "minor"
    assert "source_feedback" in {j.name for j in registered_jobs()}
    assert send_source_feedback(c)["sent"] == {"quality.minor_listed": 1}
    assert send_source_feedback(c)["sent"] == {"quality.minor_listed": 0}
    court_id = department_principal(c, COURT).department_id
    with c.uow() as uow:
        notices = inbox(uow.session, "department", str(court_id))
    [notice] = [n for n in notices if n["topic"] == "quality.minor_listed"]
    assert minor_record.id in notice["body"] and "法释〔2017〕7号" in notice["body"]
    assert MINOR[0] not in notice["body"] and MINOR[1] not in notice["body"]
    assert MINOR[0] not in notice["title"]
