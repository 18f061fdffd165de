"""What a notice calls the information it is about, in the words its reader knows it by: the
subject's name, the catalog item or list, and the record's own key (its 文号) — not internal ids
alone (a department looks a case up in its own case system by the decision number)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.lists.db import MembershipRow
from citycredit.lists.service import lists_catalog
from citycredit.shared.errors import NotFound
from citycredit.shared.masking import display_person_name
from citycredit.subjects.archive import PERSON_TYPES
from citycredit.subjects.db import SubjectRow


def subject_label(s: Session, subject_id: str) -> str:
    """An organisation's name; a person's with the given name masked (张*): a notice is a
    stored text, read by more people than the case needs."""
    subject = s.get(SubjectRow, subject_id)
    if subject is None:
        return subject_id
    if subject.subject_type in PERSON_TYPES:
        return display_person_name(subject.name, "surname_masked")
    return subject.name


def record_label(c: Container, s: Session, record_id: str) -> str:
    """「榆林某公司 行政处罚 榆市监罚〔2026〕101号」: subject, item, the record's key fields."""
    record = s.get(RecordRow, record_id)
    if record is None:
        return f"信用记录 {record_id}"
    try:
        item = c.catalog.item(record.item_code).name
    except NotFound:
        item = record.item_code
    # key_text is "item|subject_id|key fields…" (ingest.keys.record_key)
    key = "，".join(part for part in record.key_text.split("|")[2:] if part)
    return f"{subject_label(s, record.subject_id)} {item} {key}".strip()


def target_label(c: Container, s: Session, target_type: str, target_id: str) -> str:
    """The disputed information of an objection or a repair (a record, a list entry, a grade)."""
    if target_type == "record":
        return record_label(c, s, target_id)
    if target_type == "membership":
        m = s.get(MembershipRow, target_id)
        if m is None:
            return f"名单列入 {target_id}"
        try:
            name = lists_catalog().list_type(m.list_type).name
        except NotFound:
            name = m.list_type
        return f"{subject_label(s, m.subject_id)} {name}"
    if target_type == "evaluation":
        return f"{subject_label(s, target_id)} 公共信用综合评价"
    return f"{target_type} {target_id}"
