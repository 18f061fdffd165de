"""How personal data is shown on public views (rules.md §13.4): names, free text, and which
catalog fields a natural person's record never shows there."""

from __future__ import annotations

from typing import Any

from citycredit.shared.ids import scrub_personal


def display_person_name(name: str, rule: str) -> str:
    """Apply a display-name rule: full, surname_masked ("张*" / "欧阳*"), or hidden."""
    name = (name or "").strip()
    if rule == "full" or not name:
        return name
    if rule == "hidden":
        return "（已隐去）"
    # Common two-character compound surnames keep both characters.
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return surname + "*" * max(1, len(name) - len(surname))


COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "西门",
        "南宫",
        "独孤",
        "呼延",
    }
)


def scrub_value(value: Any, *, addresses: bool = False) -> Any:
    """Remove ID, phone and bank account numbers from any string inside a value (public
    responses); with ``addresses`` also street-level address detail (`shared.ids.scrub_address`):
    for the text of a natural person's or 农户's record on a public view."""
    if isinstance(value, str):
        return scrub_personal(value, addresses=addresses)
    if isinstance(value, list):
        return [scrub_value(v, addresses=addresses) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v, addresses=addresses) for k, v in value.items()}
    return value


def mask_name_in_text(value: Any, name: str, shown: str) -> Any:
    """A person's name inside free text (违法事实 …) shown as masked as the name field is."""
    if isinstance(value, str) and name and shown != name:
        return value.replace(name, shown)
    return value


# Catalog roles a public view never shows on the record of a natural person or 农户 (G30): the
# person's home address and phone (sealed at intake anyway, privacy.records.PERSON_ROLES) and
# a legal representative — a person has none, so a name there is a third party's (a guardian,
# an agent). An organisation's and a 个体工商户's 住所 and 法定代表人/经营者 stay public.
PERSON_HIDDEN_ROLES = frozenset({"address", "phone", "legal_rep"})


def hidden_on_person_record(role: str | None) -> bool:
    """True if a field with this catalog role is left out of a person's public record."""
    return role in PERSON_HIDDEN_ROLES
