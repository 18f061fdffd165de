"""Paging of the public lists (lists.paging, G28): pages by offset and by cursor cover every
entry once in the list's order, other lists and entries the public view keeps out stay out, and
the kept count follows the list — at once for the changes its stamp sees (added, withdrawn,
expired, withheld), within PUBLIC_COUNT_TTL_SECONDS by the injected clock for the others."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from citycredit.accounts.model import ANONYMOUS, SYSTEM
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.db.migrate import drift
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.ingest.withhold import withhold_record
from citycredit.kernel.outbox import deliver
from citycredit.lists import service as lists
from citycredit.lists.db import MembershipRow
from citycredit.lists.paging import PUBLIC_COUNT_TTL_SECONDS, Cursor
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import id_number, uscc, write_csv

pytestmark = pytest.mark.db

SAMR_LIST = "market_supervision_serious"
SERIAL = itertools.count(1)
AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
# publication days of the visible entries: several share a day (ties go by id)
DAYS = [date(2026, 10, d) for d in (3, 3, 3, 9, 9, 12, 15, 15, 15, 15, 20, 21, 21, 22)]


def subject(c: Container, sid: str, *, person: bool = False, born: date | None = None) -> None:
    with c.uow() as uow:
        uow.session.execute(
            insert(SubjectRow),
            [
                {
                    "subject_id": sid,
                    "subject_type": "natural_person" if person else "enterprise",
                    "name": f"榆林{sid}有限公司" if not person else "王某某",
                    "name_norm": sid,
                    "uscc": None if person else uscc("91", "610802", f"MA{next(SERIAL):06d}"),
                    "birth_date": born,
                    "professions": [],
                    "origin": "record",
                    "created_at": AT,
                    "updated_at": AT,
                }
            ],
        )
        uow.commit()


def entry(
    c: Container,
    mid: str,
    sid: str,
    published: date,
    *,
    list_type: str = SAMR_LIST,
    status: str = "published",
    expires: date | None = None,
) -> None:
    """A stored local membership (decided the day before publication); decision_no = id."""
    with c.uow() as uow:
        uow.session.execute(
            insert(MembershipRow),
            [
                {
                    "id": mid,
                    "list_type": list_type,
                    "subject_id": sid,
                    "origin": "local",
                    "status": status,
                    "reasons": "销售不合格食品，情节严重",
                    "decision_no": mid,
                    "decided_on": date.fromordinal(published.toordinal() - 1),
                    "published_on": published,
                    "expires_on": expires,
                    "notice": {},
                    "objection_pending": False,
                    "created_at": AT,
                    "updated_at": AT,
                }
            ],
        )
        uow.commit()


def city(c: Container) -> list[str]:
    """Visible entries on the SAMR list and, around them, what must not show; returns the
    visible decision numbers in the list's order (newest first, ties by id)."""
    visible = []
    for i, day in enumerate(DAYS):
        mid = f"m{(i * 5) % len(DAYS):02d}v"  # ids not in publication order
        subject(c, f"s{i:02d}v")
        entry(c, mid, f"s{i:02d}v", day)
        visible.append((day, mid))
    subject(c, "sminor", person=True, born=date(2010, 3, 4))  # 16 on the decision day
    entry(c, "mminor", "sminor", date(2026, 10, 15))
    subject(c, "sended")
    entry(c, "mexpired", "sended", date(2026, 10, 15), expires=date(2026, 11, 25))  # today
    entry(c, "mexited", "sended", date(2026, 10, 15), status="exited")
    entry(c, "mdecided", "sended", date(2026, 10, 15), status="decided")
    entry(c, "mred", "sended", date(2026, 10, 15), list_type="red_list")  # another list
    visible.sort(key=lambda x: (-x[0].toordinal(), x[1]))
    return [mid for _, mid in visible]


def by_offset(c: Container, limit: int) -> list[list[str]]:
    pages, offset = [], 0
    while True:
        data = lists.public_list(c, ANONYMOUS, SAMR_LIST, limit=limit, offset=offset)
        pages.append([e["decision_no"] for e in data["entries"]])
        if not data["more"]:
            assert data["next_after"] is None
            return pages
        offset += limit


def by_cursor(c: Container, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        data = lists.public_list(c, ANONYMOUS, SAMR_LIST, limit=limit, after=after)
        pages.append([e["decision_no"] for e in data["entries"]])
        if not data["more"]:
            assert data["next_after"] is None
            return pages
        after = data["next_after"]
        assert after is not None


@pytest.mark.parametrize("limit", [1, 3, 5, 14, 100])
def test_pages_by_offset_and_by_cursor_cover_every_entry_once_in_order(
    container: Container, limit: int
) -> None:
    c = container
    want = city(c)
    for pages in (by_offset(c, limit), by_cursor(c, limit)):
        assert [mid for page in pages for mid in page] == want  # none skipped, none repeated
        assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit
    first = lists.public_list(c, ANONYMOUS, SAMR_LIST, limit=limit)
    assert first["count"] == first["total"] == len(want) == len(DAYS)
    days = [e["published_on"] for e in lists.public_list(c, ANONYMOUS, SAMR_LIST)["entries"]]
    assert days == sorted(days, reverse=True)
    # the other list holds only its own entry
    assert [e["decision_no"] for e in lists.public_list(c, ANONYMOUS, "red_list")["entries"]] == [
        "mred"
    ]


def test_a_cursor_page_does_not_shift_when_an_entry_is_added_before_it(
    container: Container,
) -> None:
    c = container
    want = city(c)
    first = lists.public_list(c, ANONYMOUS, SAMR_LIST, limit=5)
    subject(c, "snew")
    entry(c, "mnew", "snew", date(2026, 11, 20))  # newest: page 1 would change
    second = lists.public_list(c, ANONYMOUS, SAMR_LIST, limit=5, after=first["next_after"])
    assert [e["decision_no"] for e in second["entries"]] == want[5:10]


def test_cursor_and_offset_errors_name_the_field(container: Container) -> None:
    c = container
    city(c)
    for bad in ("", "2026-10-21", "2026-13-01~m01", "2026-10-21~m 01", "x" * 81):
        with pytest.raises(FieldError) as err:
            lists.public_list(c, ANONYMOUS, SAMR_LIST, after=bad)
        assert (err.value.field, err.value.value) == ("after", bad)
    with pytest.raises(FieldError) as err:
        lists.public_list(c, ANONYMOUS, SAMR_LIST, offset=5, after="2026-10-21~m01v")
    assert err.value.field == "offset"
    assert Cursor.parse("2026-10-21~m01v") == Cursor(date(2026, 10, 21), "m01v")
    assert Cursor.parse(Cursor(None, "m01v").encode()) == Cursor(None, "m01v")


def test_http_api_and_portal_pages_walk_the_list(container: Container) -> None:
    c = container
    want = city(c)
    client = TestClient(create_app(c, scheduler=False))
    r = client.get(f"/api/v1/lists/{SAMR_LIST}", params={"limit": 10})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(want) and body["more"] is True
    r2 = client.get(f"/api/v1/lists/{SAMR_LIST}", params={"limit": 10, "after": body["next_after"]})
    assert [e["decision_no"] for e in body["entries"] + r2.json()["entries"]] == want
    assert client.get(f"/api/v1/lists/{SAMR_LIST}", params={"after": "nonsense"}).status_code in (
        400,
        422,
    )
    # the portal: 14 entries fit on page 1 (50 a page); no 下一页
    page = client.get(f"/lists/{SAMR_LIST}")
    assert page.status_code == 200
    assert all(mid in page.text for mid in want) and "下一页" not in page.text
    assert "mminor" not in page.text and "mred" not in page.text


def test_portal_pages_walk_the_list(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    from citycredit.web import pages

    c = container
    want = city(c)
    monkeypatch.setattr(pages, "PAGE_SIZE", 4)
    client = TestClient(create_app(c, scheduler=False))
    seen: list[list[str]] = []
    for n in range(1, 5):
        text = client.get(f"/lists/{SAMR_LIST}", params={"page": n}).text
        seen.append([mid for mid in want if f"<td>{mid}</td>" in text])
        assert f"第 {(n - 1) * 4 + 1}–{(n - 1) * 4 + len(seen[-1])} 条" in text
        assert (f'href="?page={n + 1}"' in text) is (n < 4)
    assert [mid for page in seen for mid in page] == want


# -- the kept count ------------------------------------------------------------------------------

COURT = "榆林市中级人民法院"
SX = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_ZJHM", "SX_AH", "SX_ZXFY", "SX_YW", "SX_SXQX"]
SX += ["SX_FBRQ", "SX_YCRQ"]
JD = "judgment_defaulter"


def court_file(c: Container, tmp: Path, name: str, people: list[tuple[str, str, str, str]]) -> None:
    """A court's 失信被执行人 file through intake and the lists consumer."""
    rows: list[list[Any]] = [
        [n, "自然人", "", idn, case, COURT, "偿还借款", "有履行能力而拒不履行", "2026-11-02", end]
        for n, idn, case, end in people
    ]
    ingest_submission(
        c, department_principal(c, COURT), path=write_csv(tmp / name, SX, rows), item_code=JD
    )
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())


def shown(c: Container) -> tuple[list[str], int]:
    data = lists.public_list(c, ANONYMOUS, JD)
    return sorted(e["name"] for e in data["entries"]), int(data["total"])


def record_of_case(c: Container, case: str) -> str:
    with c.uow() as uow:
        rid = uow.session.scalar(
            select(MembershipRow.record_id).where(MembershipRow.decision_no == case)
        )
    assert rid is not None
    return rid


def test_count_follows_added_withdrawn_withheld_and_expired_entries_at_once(
    container: Container, tmp_path: Path, clock: FixedClock
) -> None:
    c = container
    add_department(c, SYSTEM, name=COURT, code=uscc("11", "610800", "MA0CRT01"), kind="court")
    court = department_principal(c, COURT)
    people = [
        ("张大山", id_number("610802", "19800304", "456"), "(2026)陕0802执101号", ""),
        ("李四海", id_number("610802", "19750101", "111"), "(2026)陕0802执102号", ""),
        ("赵五岳", id_number("610802", "19700505", "222"), "(2026)陕0802执103号", "2026-11-27"),
    ]
    court_file(c, tmp_path, "a.csv", people)
    assert shown(c) == (["张大山", "李四海", "赵五岳"], 3)  # counted and kept
    # added
    court_file(
        c,
        tmp_path,
        "b.csv",
        [("钱六合", id_number("610802", "19900909", "333"), "(2026)陕0802执104号", "")],
    )
    assert shown(c) == (["张大山", "李四海", "赵五岳", "钱六合"], 4)
    # withheld (不予公示): off the list and the count before any consumer runs
    withhold_record(
        c, court, record_of_case(c, "(2026)陕0802执101号"), reason="privacy", basis="陕08执监1号"
    )
    assert shown(c) == (["李四海", "赵五岳", "钱六合"], 3)
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    # withdrawn by the source
    withdraw_record(c, court, record_of_case(c, "(2026)陕0802执102号"), "复议撤销")
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())
    assert shown(c) == (["赵五岳", "钱六合"], 2)
    # expired: 赵五岳's removal day (the 27th) comes — a new day, whatever was kept
    clock.advance(days=2)
    assert shown(c) == (["钱六合"], 1)


def test_a_change_the_stamp_cannot_see_reaches_the_count_within_the_ttl(
    container: Container, clock: FixedClock
) -> None:
    """A subject's birth date corrected in place (no step, no withholding): the entries change
    at once, the kept count within PUBLIC_COUNT_TTL_SECONDS by the container's clock."""
    c = container
    city(c)
    subject(c, "sperson", person=True, born=date(1980, 1, 1))
    entry(c, "mperson", "sperson", date(2026, 10, 30))
    before = lists.public_list(c, ANONYMOUS, SAMR_LIST)
    assert before["total"] == len(DAYS) + 1
    with c.uow() as uow:
        uow.session.execute(
            update(SubjectRow)
            .where(SubjectRow.subject_id == "sperson")
            .values(birth_date=date(2012, 1, 1))
        )
        uow.commit()
    clock.advance(seconds=PUBLIC_COUNT_TTL_SECONDS - 1)
    stale = lists.public_list(c, ANONYMOUS, SAMR_LIST)
    assert "mperson" not in [e["decision_no"] for e in stale["entries"]]
    assert stale["total"] == len(DAYS) + 1  # kept: documented lag
    clock.advance(seconds=1)
    assert lists.public_list(c, ANONYMOUS, SAMR_LIST)["total"] == len(DAYS)


def test_portal_list_page_counts_nothing(container: Container) -> None:
    c = container
    city(c)
    data = lists.public_list(c, ANONYMOUS, SAMR_LIST, limit=50, with_total=False)
    assert data["total"] is None and data["count"] is None and len(data["entries"]) == len(DAYS)


def test_models_and_migration_0030_agree(container: Container) -> None:
    assert [d for d in drift(container.engine) if "memberships" in repr(d)] == []
    with container.engine.connect() as conn:
        from sqlalchemy import inspect

        names = {i["name"] for i in inspect(conn).get_indexes("memberships")}
    assert "ix_memberships_public_order" in names
