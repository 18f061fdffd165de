"""A database dump does not let anyone rebuild a natural person's ID number (ADR 0014).

An ID number is division (6) + birth date (8) + sequence (3) + check character (1). The subject
row keeps the birth date (minors' protection) and the county in clear, so any stored masked
form that shows a sequence digit or the check character narrows the number to a handful of
candidates: the old `6108**********5474` on `subjects` (and in the sharing feed) gave it back
exactly. Here natural persons go through the real intake (row path and fast path), a masked and
a clear subscription receive their records, then an attacker holding the database reads every
table, collects every masked-looking fragment tied to a subject, and enumerates the numbers
consistent with all of it. Each person must keep ≥ 1000 candidates (none of the last four
characters known), while the subject's own view and the authorised view still show the last
four, and a minor's penalty is still withheld to the day.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import MetaData, select, text, update

from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.db.migrate import alembic_config, upgrade
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.deliveries import deliver_all
from citycredit.shared.ids import id_check_char, mask_id_number, mask_id_number_at_rest
from citycredit.sharing import service as sharing
from citycredit.sharing.db import FeedEntryRow
from citycredit.sharing.service import NewSubscription, pull_feed
from citycredit.subjects.archive import authorised_archive, own_archive
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS_WITH_ID, SAMR, department, penalty_row, write_csv

pytestmark = pytest.mark.db

TAX = "榆林市税务局"
BASIS = "《陕西省公共信用信息条例》第二十条；榆林市政务数据共享协议 YL-2026-07"
DECISION = "2026-11-02"


def _person(division: str, birth: str, *, check_x: bool = False, start: int = 271) -> str:
    """A valid ID number; with check_x the first sequence from `start` whose check char is X."""
    for n in range(start, 1000):
        first17 = f"{division}{birth}{n:03d}"
        if not check_x or id_check_char(first17) == "X":
            return first17 + id_check_char(first17)
    raise AssertionError("no sequence")


# (name, ID number, penalised?) — the ID's first 6 digits are the subject's county, the case
# where the audit rebuilt the number exactly.
PEOPLE = [
    ("张一", _person("610802", "19850314"), False),
    ("李二", _person("610881", "19790921", check_x=True), True),
    ("王三", _person("610824", "19921111", start=538), True),
    ("赵四", _person("610825", "20081102", start=415), True),  # 18 on the decision date
    ("孙五", _person("610802", "20081103", start=626), True),  # 18 the day after: a minor
]
MINOR = PEOPLE[4][1]
COUNTY = {"610802": "榆阳区", "610881": "神木市", "610824": "靖边县", "610825": "定边县"}

REG_HEADER = ["DJ_MC", "DJ_ZTLX", "DJ_SHXYM", "DJ_ZJHM", "DJ_CLRQ", "DJ_ZS", "DJ_LXDH", "DJ_ZT"]


def _load(c: Container, tmp: Path, *, fast: bool) -> None:
    actor = department(c)
    reg = write_csv(
        tmp / "reg.csv",
        REG_HEADER,
        [
            [name, "自然人", "", idn, "", f"陕西省榆林市{COUNTY[idn[:6]]}测试巷", "", "存续"]
            for name, idn, _ in PEOPLE
        ],
    )
    pen = write_csv(
        tmp / "pen.csv",
        PENALTY_COLUMNS_WITH_ID,
        [
            penalty_row(
                PENALTY_COLUMNS_WITH_ID,
                CF_XDR_MC=name,
                CF_XDR_LB="自然人",
                CF_XDR_ZJHM=idn,
                CF_WSH=f"榆市监罚〔2026〕{400 + i}号",
                CF_JDRQ=DECISION,
            )
            for i, (name, idn, penalised) in enumerate(PEOPLE)
            if penalised
        ],
    )
    r = ingest_submission(c, actor, path=reg, item_code="registration", fast=fast)
    assert r.counts.new == len(PEOPLE) and r.counts.rejected == 0, r.notes
    r = ingest_submission(c, actor, path=pen, item_code="penalty", fast=fast)
    assert r.counts.new == 4 and r.counts.rejected == 0, r.notes
    deliver_all(c)


def _subscribe(c: Container) -> dict[str, str]:
    department(c, TAX, "MA0TAX01")
    tax = department_principal(c, TAX)
    common = {"items": ["penalty"], "purpose": "纳税信用评价", "legal_basis": BASIS}
    masked = sharing.subscribe(c, tax, NewSubscription(name="脱敏", personal="masked", **common))
    clear = sharing.subscribe(
        c,
        SYSTEM,
        NewSubscription(name="明文", personal="clear", department=TAX, **common),
    )
    deliver_all(c)
    return {"masked": str(masked["id"]), "clear": str(clear["id"])}


@pytest.fixture(params=[False, True], ids=["row-path", "fast-path"])
def city(
    request: pytest.FixtureRequest, container: Container, tmp_path: Path
) -> tuple[Container, dict[str, str]]:
    _load(container, tmp_path, fast=request.param)
    return container, _subscribe(container)


# -- the attacker ------------------------------------------------------------------------------

# A masked ID number as it could sit in any text: known characters, at least two '*', 18 long.
_MASKED = re.compile(r"(?<![0-9A-Za-z*])[0-9X*]{18}(?![0-9A-Za-z*])")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        if value[:1] in "{[":
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            yield from _strings(parsed)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _fragments(value: Any) -> list[str]:
    return [m for s in _strings(value) for m in _MASKED.findall(s) if m.count("*") >= 2]


def read_everything(c: Container) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the database (reflected: no model needed)."""
    meta = MetaData()
    with c.engine.connect() as conn:
        meta.reflect(conn)
        return {
            name: [dict(r._mapping) for r in conn.execute(select(t))]
            for name, t in meta.tables.items()
        }


def candidates(tables: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """For each natural person: the ID numbers consistent with everything a dump holds.

    Division code → positions 1–6, birth date → 7–14, every masked fragment in any row tied to
    the subject (its own row, rows naming it, rows of its records) → the characters it shows;
    then every sequence left is tried and the check character must match.
    """
    record_subject = {r["id"]: r["subject_id"] for r in tables["records"]}
    found: dict[str, list[str]] = defaultdict(list)
    for rows in tables.values():
        for row in rows:
            sid = row.get("subject_id") or record_subject.get(row.get("record_id"))  # type: ignore[arg-type]
            if sid:
                found[sid] += _fragments(list(row.values()))
    out: dict[str, set[str]] = {}
    for s in tables["subjects"]:
        if s["subject_type"] != "natural_person":
            continue
        known: list[str | None] = [None] * 18
        born = s["birth_date"]
        born = born if isinstance(born, str) else born.isoformat() if born else ""
        for i, ch in enumerate((s["division_code"] or "")[:6] + born.replace("-", "")):
            known[i] = ch
        for frag in found[s["subject_id"]]:
            shown = [None if ch == "*" else ch for ch in frag]
            if all(a is None or b is None or a == b for a, b in zip(known, shown, strict=True)):
                known = [a if a is not None else b for a, b in zip(known, shown, strict=True)]
        assert all(ch is not None for ch in known[:14]), (s["subject_id"], known)
        free = [i for i in range(14, 17) if known[i] is None]
        cands = set()
        for digits in product("0123456789", repeat=len(free)):
            first = list(known[:17])
            for i, d in zip(free, digits, strict=True):
                first[i] = d
            first17 = "".join(ch or "" for ch in first)
            check = id_check_char(first17)
            if known[17] in (None, check):
                cands.add(first17 + check)
        out[s["subject_id"]] = cands
    return out


def subject_of(c: Container, idn: str) -> str:
    digest = c.digester.digest("id-number", idn)
    with c.uow() as uow:
        sid = uow.session.scalar(
            select(SubjectRow.subject_id).where(SubjectRow.id_digest == digest)
        )
        assert sid is not None
        return sid


def assert_not_rebuildable(c: Container) -> None:
    tables = read_everything(c)
    # the dump holds fragments at all (else the search proves nothing)
    assert any(_fragments(list(r.values())) for r in tables["subjects"])
    assert any(_fragments(list(r.values())) for r in tables["sharing_feed_entries"])
    got = candidates(tables)
    for name, idn, _ in PEOPLE:
        cands = got[subject_of(c, idn)]
        assert idn in cands, name  # the attacker's model is right …
        assert len(cands) >= 1000, f"{name}: a dump narrows the ID number to {len(cands)}"


def dump_text(c: Container) -> str:
    """The database as text, as a backup holds it (iterdump / pg_dump)."""
    url = c.settings.effective_database_url
    if c.settings.is_sqlite:
        con = c.engine.raw_connection()
        try:
            return "\n".join(con.driver_connection.iterdump())  # type: ignore[union-attr]
        finally:
            con.close()
    libpq = "postgresql://" + url.split("://", 1)[1]
    out = subprocess.run(
        ["pg_dump", "--no-owner", "--dbname", libpq], capture_output=True, check=True, timeout=120
    )
    return out.stdout.decode()


def assert_no_tail_in_dump(c: Container) -> None:
    """No masked-looking token in the dump shows any of the last four characters."""
    blob = dump_text(c)
    for name, idn, _ in PEOPLE:
        tokens = [m for m in _MASKED.findall(blob) if m[:4] == idn[:4] and "*" in m]
        assert tokens, name  # the masked forms are there …
        assert all(set(t[4:]) == {"*"} for t in tokens), (name, tokens)  # … and show no tail


# -- the tests ---------------------------------------------------------------------------------


def test_a_dump_does_not_narrow_any_id_number(city: tuple[Container, dict[str, str]]) -> None:
    assert_not_rebuildable(city[0])
    assert_no_tail_in_dump(city[0])


def test_views_still_show_the_last_four_and_minors_stay_protected(
    city: tuple[Container, dict[str, str]],
) -> None:
    check_views(*city)


def check_views(c: Container, subs: dict[str, str]) -> None:
    samr = department_principal(c, SAMR)
    for name, idn, _ in PEOPLE:
        sid = subject_of(c, idn)
        me = Principal(role=Role.natural_person, label=name, subject_ids=frozenset({sid}))
        own = own_archive(c, me, sid)
        assert (
            own["subject"]["id_number_masked"]
            == mask_id_number(idn)
            == idn[:4] + "*" * 10 + idn[-4:]
        )
        view = authorised_archive(c, samr, sid, purpose="案件核查")
        assert view["subject"]["id_number_masked"] == mask_id_number(idn)
        assert idn not in json.dumps([own, view], ensure_ascii=False)
    # the sharing feed: masked form at rest, clear only when pulled by a clear subscription
    tax = department_principal(c, TAX)
    masked = pull_feed(c, tax, subs["masked"], after=0, limit=100)["entries"]
    clear = pull_feed(c, tax, subs["clear"], after=0, limit=100)["entries"]
    by_name = {e["data"]["fields"]["CF_XDR_MC"]: e for e in masked}
    clear_by_name = {e["data"]["fields"]["CF_XDR_MC"]: e for e in clear}
    for name, idn, penalised in PEOPLE:
        if not penalised:
            continue
        entry = by_name[name]["data"]
        assert entry["fields"]["CF_XDR_ZJHM"] == mask_id_number_at_rest(idn) == idn[:4] + "*" * 14
        assert entry["subject"]["id_number_masked"] == idn[:4] + "*" * 14
        assert clear_by_name[name]["data"]["fields"]["CF_XDR_ZJHM"] == idn
    # minors' protection still works to the day from the stored birth date
    with c.uow() as uow:
        rows = {
            r.subject_id: r
            for r in uow.session.scalars(select(RecordRow).where(RecordRow.item_code == "penalty"))
        }
    assert rows[subject_of(c, MINOR)].published is False
    assert rows[subject_of(c, MINOR)].unpublished_reason == "minor"
    assert rows[subject_of(c, PEOPLE[3][1])].published is True  # 18 that very day


def test_the_migration_rewrites_what_older_versions_stored(
    city: tuple[Container, dict[str, str]],
) -> None:
    """A database written before 0020 (subjects and feed entries with the last four shown) is
    rebuildable; after `db upgrade` it is not, and nothing needs the key to get there."""
    c, subs = city
    old = {subject_of(c, idn): mask_id_number(idn) for _, idn, _ in PEOPLE}
    with c.engine.begin() as conn:  # what 0019 and earlier wrote
        for sid, masked in old.items():
            conn.execute(
                update(SubjectRow).where(SubjectRow.subject_id == sid).values(id_masked=masked)
            )
    with c.uow() as uow:
        entries = list(uow.session.scalars(select(FeedEntryRow)))
        for e in entries:
            if e.payload and e.subject_id in old:
                payload = json.loads(json.dumps(e.payload))
                payload["subject"]["id_number_masked"] = old[e.subject_id]
                if "CF_XDR_ZJHM" in payload["fields"]:
                    payload["fields"]["CF_XDR_ZJHM"] = old[e.subject_id]
                uow.session.execute(
                    update(FeedEntryRow)
                    .where(FeedEntryRow.subscription_id == e.subscription_id)
                    .where(FeedEntryRow.seq == e.seq)
                    .values(payload=payload)
                )
        uow.commit()
    with pytest.raises(AssertionError, match=r"narrows the ID number to 1\b"):
        assert_not_rebuildable(c)  # the audit's finding, reproduced
    url = c.engine.url.render_as_string(hide_password=False)
    with c.engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0019"
    upgrade(c.engine)
    assert_not_rebuildable(c)
    assert_no_tail_in_dump(c)
    check_views(c, subs)
