"""Which subject an ID number identifies: never a subject with a USCC, never a masked number.

A 个体工商户 row may name its operator's ID number (CF_XDR_ZJHM) next to the shop's USCC: the
shop is not its operator, and the number stays a personal field of the record. A number masked by
its publisher (失信被执行人, ``3423011964****3224``) identifies no one. Both intake paths give the
same results (test_fast_intake.test_shops_persons_and_masked_ids_resolve_alike_on_both_paths);
these tests hold the registry's rules and the migration that clears what older versions stored.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.db.migrate import alembic_config, upgrade
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.shared.ids import mask_id_number_at_rest
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.service import SubjectFacts, SubjectRegistry
from support import PENALTY_COLUMNS_WITH_ID, department, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

SHOP = uscc("92", "610802", "MA7DDDD4")
OTHER_SHOP = uscc("92", "610881", "MA7DDDE5")
MINOR = id_number("610881", "20120305", "022")
ADULT = id_number("610802", "19800101", "011")
MASKED = "3423011964****3224"


def registry(c: Container, s: Session) -> SubjectRegistry:
    return SubjectRegistry(s, c.digester, now=c.clock.now(), actor_label="test")


def shop_row(code: str, idn: str, wsh: str) -> list[object]:
    return penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="某个体户",
        CF_XDR_LB="个体工商户",
        CF_XDR_SHXYM=code,
        CF_XDR_ZJHM=idn,
        CF_WSH=wsh,
    )


def person_row(idn: str, wsh: str) -> list[object]:
    return penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="王某某",
        CF_XDR_LB="自然人",
        CF_XDR_SHXYM="",
        CF_XDR_ZJHM=idn,
        CF_WSH=wsh,
    )


def by_uscc(c: Container, code: str) -> SubjectRow:
    with c.uow() as uow:
        row = uow.session.scalar(select(SubjectRow).where(SubjectRow.uscc == code))
        assert row is not None
        uow.session.expunge(row)
        return row


def as_older_versions_stored(c: Container, code: str, idn: str) -> None:
    """What a 个体工商户 row with its operator's ID number left on the shop before 0021."""
    with c.engine.begin() as conn:
        conn.execute(
            update(SubjectRow)
            .where(SubjectRow.uscc == code)
            .values(
                id_digest=c.digester.digest("id-number", idn),
                id_masked=mask_id_number_at_rest(idn),
                birth_date=date(int(idn[6:10]), int(idn[10:12]), int(idn[12:14])),
            )
        )


def test_a_subject_with_a_uscc_keeps_nothing_of_its_operators_id_number(
    container: Container,
) -> None:
    c = container
    with c.uow() as uow:
        reg = registry(c, uow.session)
        facts = SubjectFacts(name="某个体户", category="个体工商户", uscc=SHOP, id_number=MINOR)
        shop = reg.resolve(facts, create=True)
        assert shop.created and shop.subject is not None
        assert (shop.subject.id_digest, shop.subject.id_masked, shop.subject.birth_date) == (
            None,
            None,
            None,
        )
        # the operator is another subject, a natural person (minors' protection applies)
        person = reg.resolve(
            SubjectFacts(name="李某", category="自然人", id_number=MINOR), create=True
        )
        assert person.created and person.subject is not None
        assert person.subject.subject_type == "natural_person"
        assert person.subject.birth_date == date(2012, 3, 5)
        assert reg.resolve(facts, create=True).subject is shop.subject
        uow.commit()


def test_an_id_number_never_finds_a_subject_with_a_uscc(
    container: Container, tmp_path: Path
) -> None:
    """Even where an older version left the operator's digest on the shop."""
    c = container
    path = write_csv(tmp_path / "a.csv", PENALTY_COLUMNS_WITH_ID, [shop_row(SHOP, MINOR, "罚1号")])
    assert ingest_submission(c, department(c), path=path, item_code="penalty").counts.new == 1
    as_older_versions_stored(c, SHOP, MINOR)
    with c.uow() as uow:
        reg = registry(c, uow.session)
        assert reg.by_id_number(MINOR) is None
        found = reg.resolve(SubjectFacts(category="自然人", id_number=MINOR), create=False)
        assert (found.subject, found.how) == (None, "unresolved")


def test_a_masked_id_number_never_creates_a_subject(container: Container) -> None:
    c = container
    with c.uow() as uow:
        reg = registry(c, uow.session)
        person = reg.resolve(
            SubjectFacts(name="张某", category="自然人", id_number=MASKED), create=True
        )
        assert (person.subject, person.how) == (None, "unresolved")  # the clerk's queue
        org = reg.resolve(
            SubjectFacts(name="某公司", category="法人及非法人组织", id_number=MASKED), create=True
        )
        assert (org.subject, org.how) == (None, "unresolved")
        coded = uscc("91", "610802", "MA6DFMK1")
        named = reg.resolve(
            SubjectFacts(name="某公司", category="法人及非法人组织", uscc=coded, id_number=MASKED),
            create=True,
        )
        assert named.created and named.subject is not None and named.subject.id_digest is None
        # … and is found again by its name in its division, the number ignored
        again = reg.resolve(
            SubjectFacts(name="某公司", id_number=MASKED, division_code="610802"), create=True
        )
        assert again.subject is named.subject
        assert (
            uow.session.scalar(select(SubjectRow).where(SubjectRow.id_digest.is_not(None))) is None
        )


@pytest.mark.parametrize("fast", [False, True], ids=["rows", "fast"])
def test_a_masked_id_number_goes_to_the_clerks_queue(
    container: Container, tmp_path: Path, fast: bool
) -> None:
    c = container
    court = department(c, "榆林市中级人民法院", "MA0CFY01")
    header = ["SX_MC", "SX_LB", "SX_ZJHM", "SX_AH", "SX_ZXFY", "SX_FBRQ"]
    rows = [["张某", "0", MASKED, "(2019)皖1122执1194号", "榆林市中级人民法院", "2019年07月13日"]]
    path = write_csv(tmp_path / "sx.csv", header, rows)
    r = ingest_submission(c, court, path=path, item_code="judgment_defaulter", fast=fast)
    assert (r.counts.received, r.counts.new, r.counts.unresolved) == (1, 0, 1)
    with c.uow() as uow:
        assert uow.session.scalar(select(SubjectRow)) is None


def test_the_migration_clears_id_numbers_older_versions_kept_on_uscc_subjects(
    container: Container, tmp_path: Path
) -> None:
    """Before 0021 the operator's digest on a shop made a later person row with that number fail
    (subjects.id_digest is unique); after `db upgrade` the person is created, on both paths."""
    c = container
    actor = department(c)
    shops = [shop_row(SHOP, MINOR, "罚1号"), shop_row(OTHER_SHOP, ADULT, "罚2号")]
    path = write_csv(tmp_path / "a.csv", PENALTY_COLUMNS_WITH_ID, shops)
    assert ingest_submission(c, actor, path=path, item_code="penalty").counts.new == 2
    as_older_versions_stored(c, SHOP, MINOR)
    as_older_versions_stored(c, OTHER_SHOP, ADULT)
    with c.engine.begin() as conn:
        cfg = alembic_config(c.engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        before = ScriptDirectory.from_config(cfg).get_revision("0021").down_revision
        assert isinstance(before, str)
        command.downgrade(cfg, before)
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == before
    upgrade(c.engine)
    for code in (SHOP, OTHER_SHOP):
        row = by_uscc(c, code)
        assert (row.id_digest, row.id_masked, row.birth_date) == (None, None, None)
    for n, (idn, fast) in enumerate([(MINOR, False), (ADULT, True)]):
        path = write_csv(
            tmp_path / f"p{n}.csv", PENALTY_COLUMNS_WITH_ID, [person_row(idn, f"P{n}")]
        )
        r = ingest_submission(c, actor, path=path, item_code="penalty", fast=fast)
        assert r.counts.new == 1
    with c.uow() as uow:
        s = uow.session
        persons = list(s.scalars(select(SubjectRow).where(SubjectRow.uscc.is_(None))))
        assert sorted(p.birth_date for p in persons if p.birth_date) == [
            date(1980, 1, 1),
            date(2012, 3, 5),
        ]
        minor = next(p for p in persons if p.birth_date == date(2012, 3, 5))
        record = s.scalar(select(RecordRow).where(RecordRow.subject_id == minor.subject_id))
        assert record is not None and record.unpublished_reason == "minor"
