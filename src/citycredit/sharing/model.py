"""共享调度 rules: what a subscription may receive and how a record looks to it — pure.

A subscription belongs to one department. Its *access* decides which records and fields it may
receive; it is fixed when the subscription is created, from the creator's role and the stated
purpose and legal basis:

- ``public``: 公开 records inside their publication period, public fields only, persons' names
  masked and ID/phone numbers scrubbed, exactly as the public archive shows them. Never logged.
- ``authorised``: every active record of the subscribed items (公开, 授权查询 and 仅政务共享),
  all non-personal fields; personal fields masked, or in clear only for subscriptions set up by
  the credit office. Each delivery of something not public is written to the disclosure log with
  the subscription's purpose and legal basis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from citycredit.accounts.model import Permission, Principal, Role
from citycredit.catalog.model import GOVERNMENT_DEPARTMENT_KINDS, CatalogItem, Openness
from citycredit.privacy.records import mask_personal
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.shared.masking import (
    display_person_name,
    hidden_on_person_record,
    mask_name_in_text,
    scrub_value,
)
from citycredit.shared.person_names import (
    mask_person_names,
    masks_free_text,
    names_shown_anyway,
)


class Access(StrEnum):
    """What a subscription may receive."""

    public = "public"
    authorised = "authorised"


class Channel(StrEnum):
    """How the department receives its feed."""

    pull = "pull"  # GET /api/v1/feeds/{subscription}?after=…
    file = "file"  # files written to data_dir/feeds/<subscription>/ by `sharing write-files`


class FileFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


class PersonalMode(StrEnum):
    """How personal fields (ID and phone numbers) of natural persons are delivered."""

    none = "none"
    masked = "masked"
    clear = "clear"


class Status(StrEnum):
    """active: receives changes; suspended (by the credit office): nothing can be pulled;
    cancelled (by the department or the office): no new records, but corrections,
    withdrawals and repairs of records it already holds still arrive and can be pulled."""

    active = "active"
    suspended = "suspended"
    cancelled = "cancelled"


TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.active: frozenset({Status.suspended, Status.cancelled}),
    Status.suspended: frozenset({Status.active, Status.cancelled}),
    Status.cancelled: frozenset(),
}


class Kind(StrEnum):
    """What a feed entry tells the consumer."""

    original = "original"  # a new record (version 1), or the current version at initial load
    correction = "correction"  # a new version of a record
    withdrawal = "withdrawal"  # the source department withdrew the record: delete it
    repair = "repair"  # 信用修复: stop using and sharing the record (NDRC Order 36 art. 3)
    publication_ended = "publication_ended"  # 公示期满: no longer public; stop publishing it
    repair_revoked = "repair_revoked"  # the repair was revoked (虚假材料): shared again, with data
    withheld = "publication_withheld"  # 不予公示 (ingest/withhold.py): no longer public
    released = "publication_released"  # 恢复公示: public again, with data

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.original: "新增",
    Kind.correction: "更正",
    Kind.withdrawal: "撤销",
    Kind.repair: "信用修复",
    Kind.publication_ended: "公示期满",
    Kind.repair_revoked: "撤销信用修复",
    Kind.withheld: "不予公示",
    Kind.released: "恢复公示",
}

CONTENT_KINDS = frozenset({Kind.original, Kind.correction})
# Entries that carry the record's fields (the others are notices without data).
WITH_DATA_KINDS = CONTENT_KINDS | {Kind.repair_revoked, Kind.released}
# Kinds after which earlier entries of the record lose their payload in every feed: a consumer
# replaying its feed from the start must not receive again what it was told to stop using.
REDACTING_KINDS = frozenset({Kind.withdrawal, Kind.repair})

# Outbox event types the fan-out listens to. `record.repaired` and `record.repair_revoked` are
# the contract with the rights area: aggregate_type "record", aggregate_id the record id,
# payload {"item", optionally "version" and "reason"}. After `record.repaired` the record is not
# shared again until `record.repair_revoked`.
EVENT_KINDS: Mapping[str, Kind] = {
    "record.accepted": Kind.original,
    "record.corrected": Kind.correction,
    "record.withdrawn": Kind.withdrawal,
    "record.publication_ended": Kind.publication_ended,
    "record.repaired": Kind.repair,
    "record.repair_revoked": Kind.repair_revoked,
    "record.withheld": Kind.withheld,  # ingest.withhold: public feeds lose the record
    "record.released": Kind.released,
}

# Why earlier entries of a record lost their data, as the department reads it.
REDACTION_MESSAGES: Mapping[str, str] = {
    Kind.withdrawal.value: "该记录已被报送单位撤销，此前内容不再共享",
    Kind.repair.value: "该记录已信用修复，此前内容不再共享",
    Kind.publication_ended.value: "该记录公示期已届满，此前内容不再公开共享",
    Kind.withheld.value: "该记录依规定不予公示，此前内容不再公开共享",
    "withheld": "该记录已不在本订阅的访问范围内，此前内容不再共享",
}

# Roles that may set up a subscription delivering personal fields in clear.
CLEAR_PERSONAL_ROLES = frozenset({Role.credit_office_admin})

MAX_SUBJECTS = 10_000
MAX_PULL = 1000
DEFAULT_PULL = 100


def check_transition(current: Status, new: Status) -> None:
    """Raise unless the status change is allowed."""
    from citycredit.shared.errors import InvalidTransition

    if new not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"订阅状态不能从「{current.value}」变为「{new.value}」",
            code="invalid_subscription_transition",
        )


def access_for(actor: Principal, purpose: str | None, legal_basis: str | None) -> Access:
    """The access of a new subscription: authorised needs the permission, a purpose and a basis."""
    purpose = (purpose or "").strip()
    if not purpose:
        return Access.public
    if len(purpose) < 2:
        raise FieldError("purpose", purpose, "too_short", "共享用途（purpose）至少两个字")
    if len((legal_basis or "").strip()) < 2:
        raise FieldError(
            "legal_basis",
            legal_basis or "",
            "required",
            "共享非公开信息必须写明依据（legal_basis），如法规条款或共享协议编号",
        )
    if not actor.can(Permission.read_authorised):
        raise PermissionDenied(
            f"角色「{actor.role.label}」不能订阅非公开信息", code="forbidden_authorised"
        )
    return Access.authorised


def is_government(department_kind: str | None) -> bool:
    """The department is a government body (may receive 仅政务共享 records).

    A utility (供电、供水 …) holds a department token to submit its records, but it is an
    enterprise: it gets no government-only data, whatever its role.
    """
    return department_kind in GOVERNMENT_DEPARTMENT_KINDS


def check_item_access(
    item: CatalogItem, access: Access, department: str, department_kind: str | None
) -> None:
    """仅政务共享 items go to government bodies only; public access takes what may be public."""
    if item.openness is Openness.government_only and not is_government(department_kind):
        raise FieldError(
            "items",
            item.code,
            "government_only",
            f"信息项「{item.name}」仅政务共享，「{department}」不是政务部门，不能订阅",
        )
    if (
        access is Access.public
        and item.openness is not Openness.public
        and not (
            item.openness_overrides
            and any(o.openness is Openness.public for o in item.openness_overrides)
        )
    ):
        raise FieldError(
            "items",
            item.code,
            "not_public",
            f"信息项「{item.name}」为「{item.openness.label}」，订阅须写明用途（purpose）和依据",
        )


def check_fields(item: CatalogItem, wanted: Sequence[str], access: Access) -> tuple[str, ...]:
    """Validate the fields a subscription asks for (empty = every field it may receive)."""
    out = []
    for code in wanted:
        try:
            spec = item.field(code)
        except KeyError:
            raise FieldError(
                f"fields.{item.code}",
                code,
                "unknown_field",
                f"信息项「{item.name}」没有字段 {code}；可用字段：{'、'.join(item.codes)}",
            ) from None
        if access is Access.public and (spec.personal or not spec.public):
            raise FieldError(
                f"fields.{item.code}",
                code,
                "not_public",
                f"字段 {code}（{spec.label}）不公开，订阅须写明用途（purpose）和依据",
            )
        out.append(code)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class View:
    """How a record version looks to one subscription."""

    fields: dict[str, Any]
    public: bool  # True when nothing in it is non-public (no disclosure log entry needed)
    clear_personal: tuple[str, ...] = ()  # personal codes to fill in clear at delivery


@dataclass(frozen=True)
class RecordFacts:
    """What the projection needs to know about a record beside its values."""

    openness: str
    public_now: bool  # 公开, published and inside its publication period today
    is_person: bool
    government: bool = False  # the subscribing department is a government body
    # settings.mask_names_in_public_text: other persons' names in free text masked (G30)
    mask_names: bool = True


def project(
    item: CatalogItem,
    payload: Mapping[str, Any],
    personal: Mapping[str, Any],
    facts: RecordFacts,
    *,
    access: Access,
    personal_mode: PersonalMode,
    wanted: Sequence[str] = (),
) -> View | None:
    """The fields of one version as the subscription may see them; None if it may see nothing.

    Clear personal values are never put into the feed table: their codes are returned in
    ``clear_personal`` and filled from the (encrypted) version at delivery time.
    """
    if access is Access.public and not facts.public_now:
        return None
    if facts.openness == Openness.government_only.value and not facts.government:
        return None  # 仅政务共享: never to a non-government department, whatever it subscribed
    keep = set(wanted) if wanted else None
    name_spec = item.field_by_role("subject_name")
    # a person's name, in its field and inside free text, as masked as on the public archive
    raw_name = str(payload.get(name_spec.code) or "") if name_spec is not None else ""
    mask_name = access is Access.public and facts.is_person and bool(raw_name)
    shown_name = display_person_name(raw_name, item.display_name_rule.value) if mask_name else ""
    public_keep: tuple[str, ...] = ()  # names a public view shows anyway (subjects.archive)
    if access is Access.public and facts.mask_names and not facts.is_person:
        rep = item.field_by_role("legal_rep")
        public_keep = names_shown_anyway(
            False, raw_name, payload.get(rep.code) if rep is not None else None
        )
    elif mask_name and shown_name == raw_name.strip():
        public_keep = (raw_name.strip(),)  # the item shows the person's name in full
    out: dict[str, Any] = {}
    all_public = facts.public_now
    clear: list[str] = []
    for spec in item.fields:
        code = spec.code
        if keep is not None and code not in keep:
            continue
        if code in payload:
            public_field = spec.is_public(payload)
            if access is Access.public and not public_field:
                continue
            if access is Access.public and facts.is_person and hidden_on_person_record(spec.role):
                continue  # a person's address, phone, a third party's name (G30)
            value = payload[code]
            is_name = name_spec is not None and code == name_spec.code
            if mask_name:
                value = shown_name if is_name else mask_name_in_text(value, raw_name, shown_name)
            if (
                access is Access.public
                and facts.mask_names
                and masks_free_text(spec.type.value, spec.role)
            ):
                value = mask_person_names(value, keep=public_keep)  # third parties' names (G30)
            out[code] = value
            all_public = all_public and public_field
        elif code in personal and access is Access.authorised:
            if personal_mode is PersonalMode.none:
                continue
            out[code] = mask_personal(spec, personal[code], at_rest=True)
            if personal_mode is PersonalMode.clear:
                clear.append(code)
            all_public = False
    if access is Access.public:
        out = scrub_value(out, addresses=facts.is_person)
    return View(out, all_public, tuple(clear))
