"""The 信用中国 layout of a 公共信用信息报告 (企业版), as the domain notes' formats.md §5 gives it.

A report's content keeps the public archive as issued (``sections`` = the archive's groups by
catalog item, ``lists`` = the public list memberships, ``evaluation``, …); this module arranges
that content into 信用中国's fixed categories, in its order, every category present — an empty
one says 查询期内无相关信息 and counts 0 条, so a reader can tell "nothing" from "not looked at":

- overview counts (总览), in 信用中国's order: 行政管理, 严重失信主体名单, 信用承诺, 司法判决,
  诚实守信, 经营异常, 信用评价, 其他;
- sections: 1 行政管理 (1.1 行政许可, 1.2 行政处罚) · 2 诚实守信 · 3 严重失信主体名单 ·
  4 经营异常 · 5 信用承诺 · 6 信用评价 · 7 司法判决 · 8 其他信息 · 9 信用状况提升建议 ·
  10 公共信用信息地方补充内容.

Records go by their catalog item's category (catalog/items/*.yaml ``category``), list
memberships by the kind of list: 守信激励对象 (红名单) → 诚实守信, serious-dishonesty lists →
严重失信主体名单, 经营异常名录 → 经营异常; anything not placed goes to 其他信息. A record that an
external list's membership mirrors is shown once, as that list entry, and its own subsection
says where (so 7.1 失信被执行人 does not read 0 条 "nothing" beside the entry in 3). The layout is
computed from the content alone (pure), so the page and the PDF of one report agree, and a
report issued before this layout is shown in it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CATEGORIES", "EMPTY", "OVERVIEW_ORDER", "overview", "report_layout"]

EMPTY = "查询期内无相关信息"


@dataclass(frozen=True)
class Category:
    """One of 信用中国's report categories and what goes into it."""

    code: str
    title: str  # the section's heading
    label: str  # its name in the overview
    item_categories: tuple[str, ...] = ()  # catalog item categories placed here
    list_kinds: tuple[str, ...] = ()  # lists.model.ListKind values placed here
    list_types: tuple[str, ...] = ()  # list type codes placed here (whatever their kind)
    parts: tuple[tuple[str, str], ...] = ()  # fixed subsections: (catalog item code, title)


# Section order (formats.md §5 "Sections", 1-8; 9 and 10 are not counted in the overview).
CATEGORIES: tuple[Category, ...] = (
    Category(
        "admin",
        "行政管理",
        "行政管理",
        item_categories=("行政管理信息",),
        parts=(("licence", "行政许可"), ("penalty", "行政处罚")),
    ),
    Category(
        "honest",
        "诚实守信",
        "诚实守信",
        item_categories=("诚实守信相关荣誉信息",),
        list_kinds=("red_list",),
    ),
    Category(
        "serious",
        "严重失信主体名单",
        "严重失信主体名单",
        item_categories=("严重失信主体名单信息",),
        list_kinds=("serious_dishonesty",),
    ),
    Category(
        "abnormal",
        "经营异常",
        "经营异常",
        item_categories=("经营（活动）异常名录（状态）信息",),
        list_types=("abnormal_operation",),
    ),
    Category("commitment", "信用承诺", "信用承诺", item_categories=("信用承诺及履行情况信息",)),
    Category("evaluation", "信用评价", "信用评价", item_categories=("信用评价结果信息",)),
    Category("judicial", "司法判决", "司法判决", item_categories=("司法裁判及执行信息",)),
    Category("other", "其他信息", "其他"),
)
# Overview order (formats.md §5 "Overview counts").
OVERVIEW_ORDER = (
    "admin",
    "serious",
    "commitment",
    "judicial",
    "honest",
    "abnormal",
    "evaluation",
    "other",
)
ADVICE_SECTION = "信用状况提升建议"
LOCAL_SECTION = "公共信用信息地方补充内容"
ADVICE = (
    "对报告所列的失信信息（行政处罚、严重失信主体名单、经营异常等），信用主体在履行相关义务、"
    "纠正失信行为并满足最短公示期限后，可向认定单位或通过信用榆林申请信用修复；"
    "修复后相关信息停止公示和共享。对信息有异议的，可申请异议处理。"
)
NO_ADVICE = "查询期内无失信信息，请继续保持良好的信用状况。"


def _list_kind(list_type: str) -> str:
    """The kind of a list type (lists catalog); "other" when the type is unknown."""
    from citycredit.lists.service import lists_catalog

    lt = lists_catalog().list_types.get(list_type)
    return lt.kind.value if lt is not None else "other"


def _category_of_list(entry: dict[str, Any]) -> str:
    kind = _list_kind(str(entry.get("list_type")))
    for cat in CATEGORIES:
        if entry.get("list_type") in cat.list_types or kind in cat.list_kinds:
            return cat.code
    return "other"


def _category_of_group(group: dict[str, Any]) -> str:
    for cat in CATEGORIES:
        if group.get("category") in cat.item_categories:
            return cat.code
    return "other"


def report_layout(content: dict[str, Any]) -> dict[str, Any]:
    """The report's content in 信用中国's categories and order.

    ``sections``: one per category (1-8), each ``{"no", "code", "title", "count", "parts"}``;
    a part is ``{"title", "count", "records", "lists", "evaluation", "notes"}`` — records as the
    archive shows them, lists as ``(index in content["lists"], entry)``, notes saying where its
    records shown as list entries are (「1 条已列入名单，见 3.2 严重失信主体名单（名单）」).
    Then 9 信用状况提升建议 and 10 公共信用信息地方补充内容 (``advice``, ``local``).
    ``overview``: the counts in 信用中国's overview order, ``{"section", "count"}``.
    """
    memberships = list(content.get("lists") or [])
    # A membership mirroring an intake record (an external list: 失信被执行人, 经营异常名录 …)
    # and the record itself are one fact: it is shown and counted once, as the list entry; the
    # record's own subsection says where (``moved``), so it does not read as "nothing".
    mirrored = {m["record_id"]: m for m in memberships if m.get("record_id")}
    groups = []
    for g in content.get("sections") or []:
        records = g.get("records", [])
        moved: dict[str, int] = {}
        for r in records:
            if r.get("record_id") in mirrored:
                code = _category_of_list(mirrored[r["record_id"]])
                moved[code] = moved.get(code, 0) + 1
        kept = [r for r in records if r.get("record_id") not in mirrored]
        groups.append({**g, "records": kept, "moved": moved})
    evaluation = content.get("evaluation")
    sections = []
    for no, cat in enumerate(CATEGORIES, start=1):
        parts: list[dict[str, Any]] = []
        mine = [g for g in groups if _category_of_group(g) == cat.code]
        by_item = {g.get("item"): g for g in mine}
        for item, title in cat.parts:  # fixed subsections, present even when empty
            g = by_item.pop(item, None)
            records = list(g["records"]) if g else []
            parts.append(
                {"title": title, "count": len(records), "records": records, "moved": _moved(g)}
            )
        for g in mine:
            if g.get("item") in by_item:
                records = list(g["records"])
                parts.append(
                    {
                        "title": g["item_name"],
                        "count": len(records),
                        "records": records,
                        "moved": _moved(g),
                    }
                )
        listed = [(i, m) for i, m in enumerate(memberships) if _category_of_list(m) == cat.code]
        if listed:
            parts.append({"title": f"{cat.title}（名单）", "count": len(listed), "lists": listed})
        if cat.code == "evaluation" and evaluation and evaluation.get("shown"):
            parts.append({"title": "公共信用综合评价", "count": 1, "evaluation": evaluation})
        for p in parts:
            p.setdefault("records", [])
            p.setdefault("lists", [])
            p.setdefault("evaluation", None)
            p.setdefault("moved", {})
        sections.append(
            {
                "no": str(no),
                "code": cat.code,
                "title": cat.title,
                "count": sum(p["count"] for p in parts),
                "parts": parts,
            }
        )
    # where each category's list entries are printed: "3.2 严重失信主体名单（名单）"
    where = {
        s["code"]: f"{s['no']}.{n} {p['title']}"
        for s in sections
        for n, p in enumerate(s["parts"], start=1)
        if p["lists"]
    }
    for s in sections:
        for p in s["parts"]:
            p["notes"] = [
                f"{n} 条已列入名单，见 {where[code]}"
                for code, n in p.pop("moved").items()
                if code in where
            ]
    adverse = any(r.get("adverse") for g in groups for r in g.get("records", [])) or any(
        _category_of_list(m) in ("serious", "abnormal") for m in memberships
    )
    by_code = {s["code"]: s for s in sections}
    label = {c.code: c.label for c in CATEGORIES}
    return {
        "overview": [{"section": label[k], "count": by_code[k]["count"]} for k in OVERVIEW_ORDER],
        "sections": sections,
        "advice": {"no": str(len(CATEGORIES) + 1), "title": ADVICE_SECTION},
        "advice_text": ADVICE if adverse else NO_ADVICE,
        "local": {
            "no": str(len(CATEGORIES) + 2),
            "title": LOCAL_SECTION,
            "voluntary_registration": content.get("voluntary_registration"),
        },
    }


def _moved(group: dict[str, Any] | None) -> dict[str, int]:
    """Of a catalog item's group: how many of its records are shown as list entries, by the
    category they are shown in."""
    return dict(group.get("moved") or {}) if group else {}


def overview(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The overview counts of a report's content (信用中国's eight categories, in its order)."""
    out: list[dict[str, Any]] = report_layout(content)["overview"]
    return out
