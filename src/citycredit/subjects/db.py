"""Tables: the subject registry and its identifier aliases."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


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

__all__ = ["SubjectAliasRow", "SubjectRow"]
