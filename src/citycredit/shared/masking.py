"""How personal names are shown on public views (rules.md §13.4)."""

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


def scrub_value(value: Any) -> Any:
    """Remove ID and phone numbers from any string inside a value (public responses)."""
    if isinstance(value, str):
        return scrub_personal(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    return value
