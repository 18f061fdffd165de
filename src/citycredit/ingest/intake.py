"""The row pipeline of one submission: parse, check, resolve the subject, store or quarantine.

Used by the submission service and by the clerk's queue (attaching a codeless row runs the
same store step), so every path into the archive applies the same rules.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import Principal
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.catalog.publication import publication_for
from citycredit.catalog.values import check_order, check_required, parse_field
from citycredit.ingest.db import RecordRow, RecordVersionRow, RejectRow, UnresolvedRow
from citycredit.ingest.model import Counts, Reason, record_key
from citycredit.ingest.readers import EXTRA_KEY
from citycredit.ingest.withhold import WITHHELD_REASONS
from citycredit.kernel import outbox
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger.entries import record_version_entry
from citycredit.privacy.index import write_index
from citycredit.privacy.records import (
    content_digest,
    ledger_personal,
    reject_aad,
    split_fields,
    unresolved_aad,
    version_aad,
)
from citycredit.shared.calendar import local_date
from citycredit.shared.errors import FieldError
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType
from citycredit.subjects.service import SubjectRegistry, check_category, facts_from_roles

REGISTRATION_ITEM = "registration"
FLUSH_EVERY = 500
MAX_NOTES = 200
SUBJECT_UNRESOLVED = "subject_unresolved"
PERSON_TYPES = (SubjectType.natural_person.value, SubjectType.farm_household.value)


def shown_key(key_text: str) -> str:
    """A record's key as the department knows it: the key fields' values (e.g. the decision
    number), without the item code and the platform's subject id of ``item|subject|fields``."""
    parts = key_text.split("|", 2)
    return parts[2] if len(parts) == 3 else key_text


def revived_note(number: int, key_text: str, withdrawn_at: datetime | None) -> str:
    """The receipt's note on a row that brings a withdrawn record back (a correction of a
    tombstone): the row, when it was withdrawn and its key as the department knows it."""
    when = f"已于 {local_date(withdrawn_at).isoformat()} " if withdrawn_at else "已"
    return f"第 {number} 行恢复了{when}撤销的记录（{shown_key(key_text)}）"


def repeat_note(number: int | None, first: int | None, key_text: str) -> str:
    """The receipt's note on a row repeating an earlier row's key in the same file."""
    return f"第 {number} 行与第 {first} 行主键相同（{shown_key(key_text)}），保留后者"


def roles_of(item: CatalogItem) -> dict[str, str]:
    return {spec.role: spec.code for spec in item.fields if spec.role}


class Intake:
    """The state of one submission being processed inside one unit of work."""

    def __init__(
        self,
        c: Container,
        s: Session,
        item: CatalogItem,
        dept: DepartmentRow,
        submission_id: str | None,  # None for records the platform itself produces
        actor: Principal,
        now: datetime,
    ) -> None:
        self.c, self.s, self.item, self.dept = c, s, item, dept
        self.submission_id = submission_id
        self.actor = actor
        self.now = now
        self.today = local_date(now)  # "not in the future" is judged by the injected clock
        self.roles = roles_of(item)
        self.registry = SubjectRegistry(s, c.digester, now=now, actor_label=actor.label)
        self.counts = Counts()
        self.notes: list[str] = []
        obligations = [
            o
            for o in item.obligations
            if o.department == dept.name and o.frequency == "event" and o.due_working_days
        ]
        self.due_days = obligations[0].due_working_days if obligations else None
        # The obligation to this platform starts when the department is onboarded: decisions
        # taken before that are a backfill, stored but not counted in 归集率.
        self.onboarded = local_date(dept.created_at)

    def note(self, text: str) -> None:
        """Keep the first MAX_NOTES notes for the receipt (a bounded list: memory stays flat)."""
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    # -- one row ------------------------------------------------------------------------------
    def parse(self, mapped: dict[str, str | None]) -> tuple[dict[str, Any], list[Reason]]:
        values: dict[str, Any] = {}
        reasons: list[Reason] = []
        failed: set[str] = set()
        for code, raw in mapped.items():
            try:
                values[code] = parse_field(self.item.field(code), raw, today=self.today)
            except FieldError as e:
                failed.add(code)
                reasons.append(Reason(e.field, e.value, e.code, e.message))
        for err in check_required(self.item, values):
            if err.field not in failed:
                failed.add(err.field)
                reasons.append(Reason(err.field, err.value, err.code, err.message))
        for err in check_order(self.item, values, failed):  # 有效期至 before 有效期自 …
            failed.add(err.field)
            reasons.append(Reason(err.field, err.value, err.code, err.message))
        if not reasons and (cat := self.roles.get("subject_category")):
            facts = facts_from_roles(values, self.roles)
            for err in check_category(facts, category_field=cat):
                reasons.append(Reason(err.field, err.value, err.code, err.message))
        return values, reasons

    def process(self, number: int, raw: dict[str, Any], mapped: dict[str, str | None]) -> None:
        self.counts.received += 1
        values, reasons = self.parse(mapped)
        if reasons:
            self.reject(number, raw, reasons)
            return
        decision = self._decision_date(values)
        try:
            publication = publication_for(self.item, values, decision)
        except FieldError as e:
            self.reject(number, raw, [Reason(e.field, e.value, e.code, e.message)])
            return
        registration = self.item.code == REGISTRATION_ITEM
        facts = facts_from_roles(values, self.roles, registration=registration)
        resolution = self.registry.resolve(
            facts, create=True, origin="registration" if registration else "record"
        )
        if resolution.subject is None:
            self.unresolved(
                number, raw, mapped, values, resolution.candidates, resolution.division_code
            )
            return
        if self.item.code == REGISTRATION_ITEM and not resolution.created:
            self.registry.register(resolution.subject, facts)
        self.store(number, resolution.subject, values, decision, publication)

    def store_row(
        self, number: int | None, subject: SubjectRow, mapped: dict[str, str | None]
    ) -> tuple[str, str]:
        """Parse and store one row for a known subject (clerk's queue, platform records)."""
        values, reasons = self.parse(mapped)
        if reasons:
            r = reasons[0]
            raise FieldError(r.field, r.value, r.code, r.message)
        decision = self._decision_date(values)
        publication = publication_for(self.item, values, decision)
        return self.store(number, subject, values, decision, publication)

    def _decision_date(self, values: dict[str, Any]) -> date | None:
        code = self.item.decision_date_field
        value = values.get(code) if code else None
        if isinstance(value, datetime):
            return local_date(value)
        return value if isinstance(value, date) else None

    def catalog_cells(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The cells of a row that the catalog item defines (and cells beyond the header, which
        are the row's own misaligned values): a column the catalog does not list is not kept,
        even sealed (minimisation, security G34; PIPL 6)."""
        known = self.item.resolve_header
        return {h: v for h, v in raw.items() if h == EXTRA_KEY or known(h) is not None}

    def reject(self, number: int, raw: dict[str, Any], reasons: list[Reason]) -> RejectRow:
        assert self.submission_id is not None, "only submitted rows are quarantined"
        self.counts.rejected += 1
        # The row as sent and the reasons (which quote values) may hold ID numbers, phones and
        # addresses: both are sealed; only (field, code) stays clear, for the statistics.
        sealed = self.c.personal_codec.seal(
            {"raw": self.catalog_cells(raw), "reasons": [r.as_dict() for r in reasons]},
            aad=reject_aad(self.submission_id, number),
        )
        row = RejectRow(
            submission_id=self.submission_id,
            row_number=number,
            raw=sealed,
            reasons=[{"field": r.field, "code": r.code} for r in reasons],
            status="open",
            created_at=self.now,
        )
        self.s.add(row)
        return row

    def unresolved(
        self,
        number: int,
        raw: dict[str, Any],
        mapped: dict[str, str | None],
        values: dict[str, Any],
        candidates: list[dict[str, Any]],
        division: str | None,
    ) -> None:
        name_code = self.roles.get("subject_name")
        name = str(values.get(name_code) or "") if name_code else ""
        msg = (
            f"无法确定主体「{name}」：没有统一社会信用代码或证件号码，按注册号、组织机构代码和"
            f"名称+区划均未唯一匹配（候选 {len(candidates)} 个），已转入待认领队列"
        )
        reject = self.reject(
            number, raw, [Reason(name_code or "subject", name, SUBJECT_UNRESOLVED, msg)]
        )
        self.s.flush()
        assert self.submission_id is not None
        self.counts.unresolved += 1
        self.s.add(
            UnresolvedRow(
                submission_id=self.submission_id,
                reject_id=reject.id,
                department_id=self.dept.id,
                item_code=self.item.code,
                row_number=number,
                name=name,
                division_code=division,
                values=self.c.personal_codec.seal(
                    dict(mapped), aad=unresolved_aad(self.submission_id, number)
                ),
                candidates=candidates,
                status="open",
                created_at=self.now,
            )
        )

    def store(
        self,
        number: int | None,
        subject: SubjectRow,
        values: dict[str, Any],
        decision: date | None,
        publication: Any,
    ) -> tuple[str, str]:
        """Store a valid row as new, correction or duplicate; returns (outcome, record id)."""
        key_hash, key_text = record_key(
            self.item.code, subject.subject_id, self.item.key_of(values)
        )
        payload, personal = split_fields(
            self.item, values, natural_person=subject.subject_type in PERSON_TYPES
        )
        digest = content_digest(self.c.personal_codec, payload, personal)
        published, unpublished_reason = (
            publication.published,
            None if publication.published else "severity",
        )
        if published and _minor_at(subject, decision) and self.item.is_adverse(values):
            # Penalties against a person who was a minor at the decision date are never published.
            published, unpublished_reason = False, "minor"
        derived = {
            "decision_date": decision,
            "severity": publication.severity.value if publication.severity else None,
            "severity_inferred": publication.severity_inferred,
            "severity_rule": publication.rule_id,
            "published": published,
            "unpublished_reason": unpublished_reason,
            "publication_end": publication.publication_end,
            "repair_from": publication.repair_from,
            "openness": self.item.openness_for(values).value,
        }
        record = self.s.scalar(select(RecordRow).where(RecordRow.record_key == key_hash))
        if record is not None and record.unpublished_reason in WITHHELD_REASONS:
            # 不予公示 (ingest/withhold.py) outlives a correction: only a release publishes it.
            derived["published"], derived["unpublished_reason"] = False, record.unpublished_reason
        if record is None:
            record = RecordRow(
                id=new_id("r"),
                record_key=key_hash,
                key_text=key_text,
                item_code=self.item.code,
                subject_id=subject.subject_id,
                department_id=self.dept.id,
                current_version=1,
                status="active",
                first_submitted_at=self.now,
                updated_at=self.now,
                **derived,
            )
            if decision and self.due_days and decision >= self.onboarded:
                due = self.c.calendar.add_working_days(decision, self.due_days).due
                record.due_date, record.on_time = due, local_date(self.now) <= due
            self.s.add(record)
            self.s.flush()
            self._add_version(record, 1, "original", payload, personal, digest, number)
            self.counts.new += 1
            event, outcome = "record.accepted", "new"
        else:
            current = self.s.scalar(
                select(RecordVersionRow).where(
                    RecordVersionRow.record_id == record.id,
                    RecordVersionRow.version == record.current_version,
                )
            )
            if (
                current is not None
                and self.submission_id is not None
                and current.submission_id == self.submission_id
                and current.kind != "withdrawal"
            ):
                # The same key earlier in this file: the later row is kept (it replaces the
                # version this file created), and the row counts as a duplicate. Looking the
                # key up in the database instead of a dict keeps memory flat on large files.
                first = current.row_number
                self.note(repeat_note(number, first, key_text))
                self.counts.duplicate += 1
                if current.content_hash != digest:
                    current.payload = payload
                    current.personal = self._seal_version(
                        record.id, current.version, personal, replace=True
                    )
                    current.content_hash, current.row_number = digest, number
                    for k, v in derived.items():
                        setattr(record, k, v)
                    # The version's event (and its pending leaf) is still in this transaction.
                    self._replace_event(record, subject, payload, personal, digest)
                return "duplicate", record.id
            if record.status == "active" and current is not None and current.content_hash == digest:
                self.counts.duplicate += 1
                return "duplicate", record.id
            if record.status == "withdrawn" and number is not None:
                # Re-sending a withdrawn record brings it back (a correction): never silently.
                withdrawn_at = current.created_at if current is not None else None
                self.note(revived_note(number, record.key_text, withdrawn_at))
            record.current_version += 1
            record.status = "active"
            record.updated_at = self.now
            for k, v in derived.items():
                setattr(record, k, v)
            self._add_version(
                record, record.current_version, "correction", payload, personal, digest, number
            )
            self.counts.corrected += 1
            event, outcome = "record.corrected", "corrected"
        outbox.emit(
            self.s,
            event_type=event,
            aggregate_type="record",
            aggregate_id=record.id,
            subject_id=subject.subject_id,
            at=self.now,
            payload=self._event_payload(record, subject, payload, personal, digest),
        )
        return outcome, record.id

    def _event_payload(
        self,
        record: RecordRow,
        subject: SubjectRow,
        payload: dict[str, Any],
        personal: dict[str, Any],
        digest: str,
    ) -> dict[str, Any]:
        """The outbox payload of a new version, with its pending ledger leaf."""
        entry = record_version_entry(
            self.c.settings.ledger_suite,
            record_id=record.id,
            version=record.current_version,
            kind="original" if record.current_version == 1 else "correction",
            item=self.item.code,
            subject_id=subject.subject_id,
            department_id=self.dept.id,
            record_key=record.record_key,
            fields={**payload, **ledger_personal(self.c.personal_codec, personal)},
            at=self.now,
        )
        return {
            "item": self.item.code,
            "version": record.current_version,
            "content_hash": digest,
            "submission_id": self.submission_id,
            "ledger": entry.as_payload(),
        }

    def _replace_event(
        self,
        record: RecordRow,
        subject: SubjectRow,
        payload: dict[str, Any],
        personal: dict[str, Any],
        digest: str,
    ) -> None:
        self.s.flush()  # the event was added by this submission, maybe not yet flushed
        event = self.s.scalar(
            select(OutboxEventRow)
            .where(
                OutboxEventRow.aggregate_type == "record", OutboxEventRow.aggregate_id == record.id
            )
            .order_by(OutboxEventRow.id.desc())
            .limit(1)
        )
        assert event is not None, "a version created by this submission has its event"
        event.payload = self._event_payload(record, subject, payload, personal, digest)

    def _add_version(
        self,
        record: RecordRow,
        version: int,
        kind: str,
        payload: dict[str, Any],
        personal: dict[str, Any],
        digest: str,
        number: int | None,
    ) -> RecordVersionRow:
        row = RecordVersionRow(
            record_id=record.id,
            version=version,
            kind=kind,
            submission_id=self.submission_id,
            row_number=number,
            payload=payload,
            personal=self._seal_version(record.id, version, personal),
            content_hash=digest,
            created_by=self.actor.label,
            created_at=self.now,
        )
        self.s.add(row)
        self.s.flush()
        return row

    def _seal_version(
        self, record_id: str, version: int, personal: dict[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """The version's personal fields sealed to (record, version), and their blind index."""
        codec = self.c.personal_codec
        write_index(self.s, codec, self.item, record_id, version, personal, replace=replace)
        return codec.seal(personal, aad=version_aad(record_id, version))


def _minor_at(subject: SubjectRow, decision: date | None) -> bool:
    if (
        subject.subject_type != SubjectType.natural_person.value
        or not subject.birth_date
        or not decision
    ):
        return False
    b = subject.birth_date
    age = decision.year - b.year - ((decision.month, decision.day) < (b.month, b.day))
    return age < 18
