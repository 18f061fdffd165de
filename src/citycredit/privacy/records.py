"""Which fields of a row are sealed, what each envelope is bound to, and their blind indexes.

One place for the rules every writer applies (intake row by row, the bulk intake, the
rotation command), so the same row is always split and sealed the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citycredit.catalog.model import CatalogItem, FieldSpec, FieldType
from citycredit.shared.canonical import canonical_bytes, json_value
from citycredit.shared.digest import content_hash
from citycredit.shared.ids import mask_id_number, mask_id_number_at_rest, mask_phone
from citycredit.shared.personal import PersonalCodec

# Roles whose values are a natural person's personal data when the row is about a person
# (rules.md §13.4: a natural person's home address and contact details are never published).
PERSON_ROLES = frozenset({"address", "phone"})


def version_aad(record_id: str, version: int) -> str:
    """What a record version's envelope is bound to."""
    return f"record_versions:{record_id}/{version}"


def reject_aad(submission_id: str, row_number: int) -> str:
    """What a quarantined row's envelope is bound to (one reject per row of a submission)."""
    return f"rejects:{submission_id}/{row_number}"


def unresolved_aad(submission_id: str, row_number: int) -> str:
    """What a queued row's envelope is bound to."""
    return f"unresolved:{submission_id}/{row_number}"


def is_sealed_field(
    item: CatalogItem, spec: FieldSpec, values: Mapping[str, Any], *, natural_person: bool
) -> bool:
    """Catalog-marked personal fields, and addresses/phones of a natural person."""
    if spec.personal:
        return True
    if spec.role in PERSON_ROLES:
        return natural_person or not item.is_public_field(spec.code, values)
    return False


def split_fields(
    item: CatalogItem, values: Mapping[str, Any], *, natural_person: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, personal): JSON-safe non-empty values; `personal` is what gets sealed."""
    payload: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    for code, value in values.items():
        if value is None:
            continue
        sealed = is_sealed_field(item, item.field(code), values, natural_person=natural_person)
        (personal if sealed else payload)[code] = json_value(value)
    return payload, personal


LEDGER_LABEL = b"ledger"


def ledger_personal(codec: PersonalCodec, personal: Mapping[str, Any]) -> dict[str, str]:
    """Personal values as a ledger leaf commits to them (leaf version 2): the keyed digest of
    each value's canonical bytes under the blind-index key, which is kept outside the database.

    The leaf's field digest is H(field_salt ‖ canonical(value)) and the record salt is in the
    database, so over a raw ID number (a few hundred million candidates) a dump would be enough
    to brute-force it; over this keyed digest it is not. The ingest fast path computes the same
    column-wise (`ingest.fast.merge`), verification recomputes it (`ledger.verify`).
    """
    return {
        code: codec.keyed_digest(canonical_bytes(json_value(value)), label=LEDGER_LABEL)
        for code, value in personal.items()
        if value is not None
    }


def content_digest(
    codec: PersonalCodec, payload: Mapping[str, Any], personal: Mapping[str, Any]
) -> str:
    """The duplicate-detection hash of a version.

    With personal values it is keyed (HMAC under the blind-index key): a plain SHA-256 over a
    public payload plus an ID number could be brute-forced from a dump. Without them it is the
    plain SHA-256 it always was.
    """
    data = canonical_bytes({"payload": dict(payload), "personal": dict(personal)})
    return codec.keyed_digest(data) if personal else content_hash(data)


def index_kind(spec: FieldSpec) -> str | None:
    """'id_number' or 'phone' for fields looked up exactly; None for the rest (addresses)."""
    if spec.type is FieldType.id_number or "证件号码" in spec.label:
        return "id_number"
    if spec.role == "phone" or "电话" in spec.label or "手机" in spec.label:
        return "phone"
    return None


def index_entries(
    codec: PersonalCodec, item: CatalogItem, personal: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(field code, kind, blind index) of the indexable clear values of one row."""
    out = []
    for code, value in sorted(personal.items()):
        if value in (None, "") or code not in item.codes:
            continue
        kind = index_kind(item.field(code))
        if kind is not None:
            out.append((code, kind, codec.blind_index(kind, str(value))))
    return out


def mask_personal(spec: FieldSpec, value: Any, *, at_rest: bool = False) -> str:
    """The masked form shown on the authorised view; ``at_rest``: one that may be stored (an
    ID number keeps its first 4 characters only, docs/adr/0014)."""
    text = str(value)
    kind = index_kind(spec)
    if kind == "id_number":
        return mask_id_number_at_rest(text) if at_rest else mask_id_number(text)
    if kind == "phone":
        return mask_phone(text)
    if spec.role == "address":
        # Keep the place (区县/乡镇) and hide the house: enough for staff to tell persons apart.
        keep = min(len(text) // 2, 9)
        return text[:keep] + "*" * max(len(text) - keep, 0)
    return mask_phone(text)
