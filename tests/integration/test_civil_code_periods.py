"""Periods from a decision are counted as 民法典 201/202 say, and migration 0028 moves the ends
stored under the old count (the corresponding day was already off) one day later."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from citycredit.accounts.model import ANONYMOUS
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.db.migrate import alembic_config, upgrade
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.shared.calendar import SHANGHAI, add_months
from citycredit.subjects.archive import public_archive
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv


def _today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


def _row(n: int, decided: date, **over: object) -> list[object]:
    return penalty_row(
        CF_XDR_MC=f"榆阳区第{n}商贸有限公司",
        CF_XDR_SHXYM=uscc("91", "610802", f"MA6C{n:04d}"),
        CF_WSH=f"榆市监罚〔2026〕{n}号",
        CF_JDRQ=decided.isoformat(),
        **over,
    )


def _records(c: Container) -> dict[str, RecordRow]:
    with c.uow() as uow:
        rows = uow.session.scalars(select(RecordRow)).all()
        uow.session.expunge_all()
    return {r.key_text.split("|")[-1]: r for r in rows}


def test_general_penalty_is_published_through_the_corresponding_day(
    container: Container, tmp_path: Path
) -> None:
    """一般: one year from 2026-03-10 runs 03-11 … 2027-03-10; the archive shows that day as
    公示截止 and the record is on the public archive until it ends."""
    c = container
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, [_row(1, date(2026, 3, 10))])
    ingest_submission(c, department(c), path=path, item_code="penalty")
    [record] = _records(c).values()
    assert record.publication_end == date(2027, 3, 11)  # exclusive
    assert record.repair_from == date(2026, 6, 11)  # 3 months served on 06-10
    view = public_archive(c, ANONYMOUS, record.subject_id)
    [entry] = [e for g in view["groups"] for e in g["records"]]
    assert entry["publication_last_day"] == "2027-03-10"
    assert entry["publication_end"] == "2027-03-11"
    with TestClient(create_app(c, scheduler=False)) as client:
        page = client.get(f"/subjects/{record.subject_id}")
    assert page.status_code == 200
    assert "<dt>公示截止</dt><dd>2027-03-10</dd>" in page.text
    # when repair may be applied for: served already (as_of is after 2026-06-11) …
    assert view["as_of"] > "2026-06-11"
    assert "<dt>信用修复</dt><dd>最短公示期已满，符合条件的可申请信用修复" in page.text
    # … or from a day still to come, for a penalty decided today
    today = datetime.fromisoformat(view["as_of"]).date()
    path = write_csv(tmp_path / "q.csv", PENALTY_COLUMNS, [_row(2, today)])
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    fresh = next(r for r in _records(c).values() if r.decision_date == today)
    assert fresh.repair_from is not None and fresh.repair_from > today
    with TestClient(create_app(c, scheduler=False)) as client:
        later = client.get(f"/subjects/{fresh.subject_id}").text
    assert f"<dt>信用修复</dt><dd>自 {fresh.repair_from} 起符合条件的可申请信用修复" in later


def test_migration_0028_moves_ends_stored_under_the_old_count(
    container: Container, tmp_path: Path
) -> None:
    c = container
    today = _today()
    decided_today_last_year = add_months(today, -12)
    rows = [
        _row(1, date(2026, 3, 10)),  # 一般, still published
        _row(2, add_months(today, -30)),  # 一般, ended long ago
        _row(3, decided_today_last_year),  # 一般, the old count ended it today
        _row(4, date(2026, 3, 10), CF_CFLB="警告", CF_NR="警告", CF_NR_FK=""),  # 轻微
    ]
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, rows)
    ingest_submission(c, department(c), path=path, item_code="penalty")
    new = _records(c)
    key = {n: next(k for k in new if f"〔2026〕{n}号" in k) for n in (1, 2, 3, 4)}
    assert new[key[4]].published is False
    assert new[key[4]].publication_end == new[key[4]].decision_date

    url = c.engine.url.render_as_string(hide_password=False)
    with c.engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0027")
    old = _records(c)
    for n in (1, 2, 3):
        assert old[key[n]].publication_end == new[key[n]].publication_end - timedelta(days=1)
        assert old[key[n]].repair_from == new[key[n]].repair_from - timedelta(days=1)
    # 轻微, not published: end and repair date are the decision day under both counts.
    assert (old[key[4]].publication_end, old[key[4]].repair_from) == (
        new[key[4]].publication_end,
        new[key[4]].repair_from,
    )
    assert old[key[3]].publication_end == today
    # What the old daily sweep had done by now: records at or past their old end are ended.
    ended_at = datetime.now(UTC)
    with c.engine.begin() as conn:
        conn.execute(
            update(RecordRow)
            .where(RecordRow.publication_end <= today)
            .values(publication_ended_at=ended_at)
        )

    upgrade(c.engine)
    with c.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() != "0027"
    after = _records(c)
    assert after[key[1]].publication_end == new[key[1]].publication_end  # still published: moved
    assert after[key[2]].publication_end == new[key[2]].publication_end  # ended before: moved
    # Ended today and announced: kept, not republished for one day.
    assert after[key[3]].publication_end == today
    assert after[key[3]].publication_ended_at is not None
    for n in (1, 2, 3):
        assert after[key[n]].repair_from == new[key[n]].repair_from
    assert after[key[4]].publication_end == new[key[4]].publication_end
