"""Tables: the subject registry and its identifier aliases."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func, null
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime
from citycredit.subjects.model import SubjectType


class SubjectRow(Base):
    """信用主体. subject_id is opaque; codes are aliases; ID numbers are stored only as digests.

    A natural person's row keeps the birth date (minors' protection) and the county in clear, so
    it keeps no character of the sequence or check digit: `id_masked` is `6108**************`
    (docs/adr/0014).
    """

    __tablename__ = "subjects"

    subject_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_norm: Mapped[str] = mapped_column(String(200), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True, comment="统一社会信用代码")
    id_digest: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="HMAC of the resident ID number; the number is not kept"
    )
    id_masked: Mapped[str | None] = mapped_column(
        String(18), comment="first 4 characters only; views add the last 4 from sealed records"
    )
    birth_date: Mapped[date | None] = mapped_column(comment="natural persons: minors are protected")
    division_code: Mapped[str | None] = mapped_column(
        String(6), index=True, comment="current Yulin county code; NULL = outside Yulin / unknown"
    )
    professions: Mapped[list[str]] = mapped_column(JsonType, default=list)
    legal_rep: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(100))
    registered_on: Mapped[date | None] = mapped_column()
    status: Mapped[str | None] = mapped_column(String(20), comment="登记状态")
    origin: Mapped[str] = mapped_column(
        String(20), comment="registration | record: what first created the subject"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SubjectAliasRow(Base):
    """An old or secondary identifier of a subject (工商注册号, 组织机构代码)."""

    __tablename__ = "subject_aliases"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(40))


Index("ix_subjects_type_division", SubjectRow.subject_type, SubjectRow.division_code)
# The portal's search by part of a name (subjects.archive.search_subjects: name_norm LIKE
# '%…%'): a trigram index on PostgreSQL (pg_trgm; Chinese characters are word characters under
# a UTF-8 ctype), so a search reads the matching rows instead of every subject; migration 0036.
# SQLite has no such index: its embedded deployments are small.
Index(
    "ix_subjects_name_trgm",
    SubjectRow.name_norm,
    postgresql_using="gin",
    postgresql_ops={"name_norm": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")

# The same search, shortest names first (ORDER BY length(name), name LIMIT n), for words many
# names contain (榆林市, 有限公司, 榆): the trigram index hands over every match, each read and
# sorted before the limit (~0.2–0.6 s at 1,000,000 subjects). This index is in the search's
# order, so the planner walks it and stops after n matches; name_norm (the LIKE) and subject_id
# are carried in it, so the walk reads no table row until the n are found (an index-only scan:
# ~0.3 µs per name passed over — "有限公司" passes every shorter shop name first). Partial: the
# public search excludes natural persons, whose two- and three-character names would otherwise
# come first. `length` is what func.length compiles to on PostgreSQL (length(text), characters);
# the search orders by that very expression. Migration 0037.
Index(
    "ix_subjects_name_order",
    func.length(SubjectRow.name),
    SubjectRow.name,
    postgresql_include=["name_norm", "subject_id"],
    # archive.PERSON_TYPES: the planner uses the index only when the search's filter implies this
    postgresql_where=SubjectRow.subject_type.not_in(
        (SubjectType.natural_person.value, SubjectType.farm_household.value)
    ),
).ddl_if(dialect="postgresql")
# One or two characters have no trigram: the trigram index cannot answer them and a rare one
# ("茬", "鑫磊") read every subject. A GIN index over each name's characters finds the names
# holding all of them (string_to_array(s, NULL) splits into characters); the LIKE then keeps
# those where they stand together. Migration 0037.
Index(
    "ix_subjects_name_chars",
    func.string_to_array(SubjectRow.name_norm, null()),
    postgresql_using="gin",
).ddl_if(dialect="postgresql")

__all__ = ["SubjectAliasRow", "SubjectRow"]
