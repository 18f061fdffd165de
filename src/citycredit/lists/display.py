"""How a list entry's end is shown: 公示截止 on the archive page, the list page and reports.

A membership stores ``expires_on`` as the first day off the list (exclusive, like every stored
period end); pages and reports show the **last** day on the list (docs/rights.md "Publication
periods"), as records already are. An entry without an end date is not permanent: the source
gave none, so it stays until the deciding authority removes it, by the list's own rule (its
``period.basis`` in lists/data/list_types.yaml, e.g. 列入之日起满三年移出).

Works on the public entry dicts (lists.matching.public_entry) as served now and as stored in
reports issued before ``last_day`` was added (those only hold ``expires_on``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from citycredit.shared.calendar import last_day

__all__ = ["NO_END", "entry_last_day", "listed_until"]

NO_END = "以认定机关移出为准"


def entry_last_day(entry: Mapping[str, Any]) -> str | None:
    """The last day on the list (ISO) of a public entry, or None when no end is set."""
    shown = entry.get("last_day")
    if shown:
        return str(shown)
    ends = entry.get("expires_on")
    if not ends:
        return None
    return last_day(date.fromisoformat(str(ends)[:10])).isoformat()


def listed_until(entry: Mapping[str, Any], *, rule: bool = True) -> str:
    """公示截止 as printed: the last day on the list, or — no end date from the source —
    「以认定机关移出为准」 followed by the list's rule when the lists catalog knows one
    (``rule=False``: the page already states the rule, e.g. the list page's header)."""
    day = entry_last_day(entry)
    if day is not None:
        return day
    if not rule:
        return NO_END
    from citycredit.lists.service import lists_catalog  # the catalog, parsed once

    lt = lists_catalog().list_types.get(str(entry.get("list_type")))
    basis = lt.period.basis if lt is not None and lt.period is not None else None
    return f"{NO_END}（{basis}）" if basis else NO_END
