"""Table: blind index of natural persons' ID and phone numbers (exact lookup, never clear)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base


class PersonalIndexRow(Base):
    """One indexed personal value of one record version: HMAC under the blind-index key."""

    __tablename__ = "personal_index"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), comment="id_number | phone")
    digest: Mapped[str] = mapped_column(
        String(64), comment="HMAC of the normalised value under the blind-index key"
    )
    index_kid: Mapped[str] = mapped_column(String(40), comment="blind-index key id")
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    version: Mapped[int] = mapped_column()
    field: Mapped[str] = mapped_column(String(40), comment="catalog field code")


Index("ix_personal_index_kind_digest", PersonalIndexRow.kind, PersonalIndexRow.digest)
Index("ix_personal_index_record_version", PersonalIndexRow.record_id, PersonalIndexRow.version)
