"""Subject registry: create and update subjects, and resolve which subject a row is about.

Order of resolution (rules.md §1, issue "records without a USCC"): USCC → resident ID number
(as a keyed digest) → old registration numbers (工商注册号, 组织机构代码) → normalised name within
a division. What stays ambiguous goes to the clerk's queue; nothing is guessed.

A resident ID number identifies a natural person (or a subject known only by it), never a
subject with a USCC: a 个体工商户 row naming its operator's ID number (CF_XDR_ZJHM) creates the
shop without an ID digest, and the number stays a personal field of the record. A number masked
by its publisher (``3423011964****3224``, ``allow_masked``) identifies no one: such a row is
resolved as if it had no ID number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.kernel import outbox
from citycredit.shared.digest import Digester
from citycredit.shared.divisions import county_for_code, division_from_address
from citycredit.shared.errors import FieldError
from citycredit.shared.idgen import new_id
from citycredit.shared.ids import (
    allowed_subject_types,
    mask_id_number_at_rest,
    parse_id_number,
    parse_uscc,
    subject_type_for_uscc,
)
from citycredit.shared.text import normalise_name
from citycredit.subjects.db import SubjectAliasRow, SubjectRow
from citycredit.subjects.model import SUBJECT_TYPE_BY_LABEL, SubjectType

# 行政相对人类别 of the 双公示 standard (and its numeric codes) → what the subject may be.
CATEGORY_PERSON = "自然人"
CATEGORY_INDIVIDUAL_BUSINESS = "个体工商户"
CATEGORY_ORGANISATION = "法人及非法人组织"


@dataclass(frozen=True)
class SubjectFacts:
    """What a row says about its subject, by role (not by field code)."""

    name: str | None = None
    category: str | None = None  # 双公示 行政相对人类别 or a SubjectType label (登记)
    uscc: str | None = None
    id_number: str | None = None
    registration_no: str | None = None
    org_code: str | None = None
    address: str | None = None
    division_code: str | None = None
    authority_code: str | None = None  # the deciding authority's USCC: a division hint
    legal_rep: str | None = None
    industry: str | None = None
    registered_on: date | None = None
    status: str | None = None
    professions: tuple[str, ...] = ()


@dataclass
class Resolution:
    """Which subject a row is about, how that was decided, or why it could not be."""

    subject: SubjectRow | None
    how: str  # uscc | id_number | registration_no | org_code | name_division | created | unresolved
    created: bool = False
    candidates: list[dict[str, Any]] = field(default_factory=list)
    division_code: str | None = None


def declared_type(category: str | None) -> SubjectType | None:
    """A SubjectType from a registration type label (DJ_ZTLX); None for 双公示 categories."""
    return SUBJECT_TYPE_BY_LABEL.get(category or "")


def check_category(facts: SubjectFacts, *, category_field: str) -> list[FieldError]:
    """The declared category/type must agree with the USCC prefix (GB 32100 positions 1–2)."""
    cat = facts.category
    if not cat or not facts.uscc:
        return []
    declared = declared_type(cat)
    prefix_type = subject_type_for_uscc(facts.uscc)
    if declared is not None:
        ok = declared in allowed_subject_types(facts.uscc)
    elif cat == CATEGORY_INDIVIDUAL_BUSINESS:
        ok = prefix_type is SubjectType.individual_business
    elif cat == CATEGORY_ORGANISATION:
        ok = prefix_type is not SubjectType.individual_business
    else:  # 自然人 never holds a USCC
        ok = False
    if ok:
        return []
    return [
        FieldError(
            category_field,
            cat,
            "type_mismatch",
            f"字段 {category_field} 的值「{cat}」与统一社会信用代码 {facts.uscc} 的"
            f"登记管理部门和机构类别（前两位 {facts.uscc[:2]}）不符",
        )
    ]


class SubjectRegistry:
    """Registry operations inside one unit of work (the caller commits)."""

    def __init__(
        self, session: Session, digester: Digester, *, now: datetime, actor_label: str
    ) -> None:
        self.s = session
        self.digester = digester
        self.now = now
        self.actor_label = actor_label

    # -- lookups ------------------------------------------------------------------------------
    def by_uscc(self, uscc: str) -> SubjectRow | None:
        return self.s.scalar(select(SubjectRow).where(SubjectRow.uscc == uscc))

    def by_id_number(self, id_number: str) -> SubjectRow | None:
        """The subject known by this ID number — never one with a USCC (its operator's number)."""
        digest = self.digester.digest("id-number", id_number)
        return self.s.scalar(
            select(SubjectRow).where(SubjectRow.id_digest == digest, SubjectRow.uscc.is_(None))
        )

    def by_alias(self, kind: str, value: str) -> SubjectRow | None:
        sid = self.s.scalar(
            select(SubjectAliasRow.subject_id).where(
                SubjectAliasRow.kind == kind, SubjectAliasRow.value == value
            )
        )
        return self.s.get(SubjectRow, sid) if sid else None

    def division_for(self, facts: SubjectFacts) -> str | None:
        """Home county: explicit division code, then the USCC's, then the address, then the ID's."""
        for code in (facts.division_code, facts.uscc[2:8] if facts.uscc else None):
            if code and (county := county_for_code(code)):
                return county.code
        if facts.address and (county := division_from_address(facts.address)):
            return county.code
        if facts.id_number and (county := county_for_code(facts.id_number[:6])):
            return county.code
        return None

    # -- resolution ---------------------------------------------------------------------------
    def resolve(self, facts: SubjectFacts, *, create: bool, origin: str = "record") -> Resolution:
        """Find (or, for coded rows, create) the subject a row is about."""
        if facts.uscc:
            found = self.by_uscc(facts.uscc)
            if found:
                return Resolution(found, "uscc")
            return self._create(facts, origin) if create else Resolution(None, "unresolved")
        if id_number := identifying_id_number(facts.id_number):
            found = self.by_id_number(id_number)
            if found:
                return Resolution(found, "id_number")
            return self._create(facts, origin) if create else Resolution(None, "unresolved")
        if facts.registration_no and (
            found := self.by_alias("registration_no", facts.registration_no)
        ):
            return Resolution(found, "registration_no")
        if facts.org_code and (found := self.by_alias("org_code", facts.org_code)):
            return Resolution(found, "org_code")
        return self._by_name(facts)

    def _by_name(self, facts: SubjectFacts) -> Resolution:
        if not facts.name or facts.category == CATEGORY_PERSON:
            # A natural person is never matched by name alone: names are not unique.
            return Resolution(None, "unresolved")
        division = None
        if (facts.address and (county := division_from_address(facts.address))) or (
            facts.authority_code and (county := county_for_code(facts.authority_code[2:8]))
        ):
            division = county.code
        person_types = (SubjectType.natural_person.value, SubjectType.farm_household.value)
        rows = list(
            self.s.scalars(
                select(SubjectRow)
                .where(SubjectRow.name_norm == normalise_name(facts.name))
                .where(SubjectRow.subject_type.not_in(person_types))
                .limit(20)
            )
        )
        candidates = [
            {
                "subject_id": r.subject_id,
                "name": r.name,
                "division_code": r.division_code,
                "uscc": r.uscc,
            }
            for r in rows
        ]
        pool = [r for r in rows if r.division_code == division] if division else rows
        if len(pool) == 1:
            return Resolution(pool[0], "name_division", division_code=division)
        return Resolution(None, "unresolved", candidates=candidates, division_code=division)

    # -- creation and registration --------------------------------------------------------------
    def _create(self, facts: SubjectFacts, origin: str) -> Resolution:
        row = self.create(facts, origin=origin)
        return Resolution(row, "created", created=True)

    def create(self, facts: SubjectFacts, *, origin: str) -> SubjectRow:
        """Create a subject from a coded row."""
        stype = self._type_for(facts)
        birth = None
        digest = masked = None
        # A subject with a USCC keeps nothing of an ID number (its operator's); a masked number
        # cannot be parsed and identifies no one.
        if not facts.uscc and (number := identifying_id_number(facts.id_number)):
            idn = parse_id_number(number)
            birth = idn.birth_date
            digest = self.digester.digest("id-number", idn.value)
            masked = mask_id_number_at_rest(idn.value)  # no sequence digit: docs/adr/0014
        row = SubjectRow(
            subject_id=new_id("s"),
            subject_type=stype.value,
            name=(facts.name or "").strip() or "（未提供名称）",
            name_norm=normalise_name(facts.name or ""),
            uscc=facts.uscc,
            id_digest=digest,
            id_masked=masked,
            birth_date=birth,
            division_code=self.division_for(facts),
            professions=list(facts.professions),
            legal_rep=facts.legal_rep,
            industry=facts.industry,
            registered_on=facts.registered_on,
            status=facts.status,
            origin=origin,
            created_at=self.now,
            updated_at=self.now,
        )
        self.s.add(row)
        self.s.flush()  # the subject row must exist before its aliases reference it
        self._add_aliases(row, facts)
        outbox.emit(
            self.s,
            event_type="subject.created",
            aggregate_type="subject",
            aggregate_id=row.subject_id,
            subject_id=row.subject_id,
            at=self.now,
            payload={"subject_type": stype.value, "origin": origin},
        )
        return row

    def register(self, subject: SubjectRow, facts: SubjectFacts) -> bool:
        """Apply a basic-registration row (登记基本信息) to an existing subject; True if changed."""
        changes: dict[str, Any] = {}
        stype = self._type_for(facts)
        wanted = {
            "name": (facts.name or "").strip() or subject.name,
            "subject_type": stype.value,
            "division_code": self.division_for(facts) or subject.division_code,
            "legal_rep": facts.legal_rep or subject.legal_rep,
            "industry": facts.industry or subject.industry,
            "registered_on": facts.registered_on or subject.registered_on,
            "status": facts.status or subject.status,
            "professions": sorted(set(subject.professions or []) | set(facts.professions)),
        }
        for key, value in wanted.items():
            if getattr(subject, key) != value:
                changes[key] = value
                setattr(subject, key, value)
        if "name" in changes:
            subject.name_norm = normalise_name(subject.name)
        self._add_aliases(subject, facts)
        if changes:
            subject.updated_at = self.now
            outbox.emit(
                self.s,
                event_type="subject.updated",
                aggregate_type="subject",
                aggregate_id=subject.subject_id,
                subject_id=subject.subject_id,
                at=self.now,
                payload={"changed": sorted(changes)},
            )
        return bool(changes)

    def _type_for(self, facts: SubjectFacts) -> SubjectType:
        declared = declared_type(facts.category)
        if declared is not None:
            return declared
        if facts.uscc:
            return subject_type_for_uscc(facts.uscc)
        if facts.category == CATEGORY_INDIVIDUAL_BUSINESS:
            return SubjectType.individual_business
        if facts.id_number:
            return SubjectType.natural_person
        return SubjectType.other_organisation

    def _add_aliases(self, row: SubjectRow, facts: SubjectFacts) -> None:
        aliases: list[tuple[str, str]] = []
        if facts.registration_no:
            aliases.append(("registration_no", facts.registration_no))
        org_code = facts.org_code or (parse_uscc(facts.uscc).org_code if facts.uscc else None)
        if org_code:
            aliases.append(("org_code", org_code))
        for kind, value in aliases:
            if self.by_alias(kind, value) is None:
                self.s.add(SubjectAliasRow(subject_id=row.subject_id, kind=kind, value=value))
                self.s.flush()


def identifying_id_number(value: str | None) -> str | None:
    """The ID number if it can identify a subject: None when absent or masked by its publisher."""
    return value if value and "*" not in value else None


def facts_from_roles(
    values: Mapping[str, Any], roles: Mapping[str, str], *, registration: bool = False
) -> SubjectFacts:
    """Build SubjectFacts from a parsed row, given the item's role → field-code mapping.

    Only a basic-registration row (登记基本信息) speaks for the subject's own attributes
    (status, industry, registration date, professions); other items only identify it.
    """

    def get(role: str) -> Any:
        code = roles.get(role)
        return values.get(code) if code else None

    professions = get("professions") or () if registration else ()
    if isinstance(professions, str):
        professions = tuple(p for p in professions.replace("；", ";").split(";") if p)
    return SubjectFacts(
        name=get("subject_name"),
        category=get("subject_category"),
        uscc=get("uscc"),
        id_number=get("id_number"),
        registration_no=get("registration_no"),
        org_code=get("org_code"),
        address=get("address"),
        division_code=get("division_code"),
        authority_code=get("authority_code"),
        legal_rep=get("legal_rep"),
        industry=get("industry") if registration else None,
        registered_on=get("decision_date") if registration else None,
        status=get("status") if registration else None,
        professions=tuple(professions),
    )
