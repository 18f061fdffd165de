"""Plan the department files: format rows, add bad rows, duplicates, codeless rows, corrections."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from citycredit.shared.text import to_halfwidth
from citycredit.synth import dirty, industry
from citycredit.synth import names as nm
from citycredit.synth.codes import CodeBook
from citycredit.synth.departments import DEPARTMENTS, Department
from citycredit.synth.files import PlannedFile
from citycredit.synth.records import Book, Record
from citycredit.synth.schema import ITEM_FIELDS, ROLES, WITHDRAWABLE

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

CODELESS_SHARE = 0.03
DUPLICATE_SHARE = 0.01
_XLSX = ("mz", "registration")
_JSON = ("fy", "judgment_defaulter")


@dataclass
class _Entry:
    """A row being planned, with its anomaly tag (None for a plain good row)."""

    row: dirty.Row
    tag: dict[str, object] | None = None
    rec: Record | None = None
    of: _Entry | None = None  # the original of a duplicate
    extra: dict[str, object] = field(default_factory=dict)


class _Ctx:
    """Random source, the names and codes in use, and the date of the snapshot."""

    def __init__(self, rng: random.Random, subjects: list[Subject], as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.names = {s.name for s in subjects}
        self.codes = CodeBook()
        self.codes.issued |= {c for s in subjects for c in (s.uscc, s.id_number, s.reg_no) if c}

    def phantom_name(self, base: str) -> str:
        """A name nobody in the city has, shaped like `base` (another trade name)."""
        prefix = next(
            (
                p
                for p in ("榆林市", *nm.COUNTY_NAMES.values(), "陕西省", "陕西")
                if base.startswith(p)
            ),
            "",
        )
        rest = base[len(prefix) + 2 :]
        while True:
            name = f"{prefix}{nm.trade_name(self.rng)}{rest}"
            if name not in self.names:
                self.names.add(name)
                return name

    def phantom_registration(self, base: dirty.Row) -> dirty.Row:
        """A registration row of a subject that does not exist (basis for a bad row)."""
        rng = self.rng
        row = dict(base)
        uscc = to_halfwidth(row["DJ_SHXYM"])
        if uscc:
            letters = uscc[8:10] if uscc[8:10].isalpha() else ""
            new = self.codes.uscc(rng, uscc[:2], uscc[2:8], letters)
            row["DJ_SHXYM"] = new
            row["DJ_ZZJG"] = new[8:17] if row["DJ_ZZJG"] else ""
            if row["DJ_GSZC"][:1].isdigit():
                row["DJ_GSZC"] = self.codes.registration_no(rng, uscc[2:8], uscc[:2] == "92")
            row["DJ_MC"] = self.phantom_name(row["DJ_MC"])
        else:
            old = row["DJ_ZJHM"]
            birth = date(int(old[6:10]), int(old[10:12]), int(old[12:14]))
            male = int(old[16]) % 2 == 1
            row["DJ_ZJHM"] = self.codes.id_number(rng, old[:6], birth, male)
            row["DJ_MC"] = nm.person_name(rng, male)
            row["DJ_FRDB"] = row["DJ_MC"] if row["DJ_FRDB"] else ""
        return row

    def codeless_registration(self, row: dirty.Row) -> str:
        """A second registration row without USCC, matchable by 注册号 or by name + address."""
        row["DJ_SHXYM"] = row["DJ_ZZJG"] = ""
        if row["DJ_GSZC"][:1].isdigit():
            return "codeless_regno"
        row["DJ_GSZC"] = ""
        if self.rng.random() < 0.85:
            return "codeless_name_address"
        row["DJ_MC"] = self.phantom_name(row["DJ_MC"])
        return "codeless_unmatchable"

    def codeless(self, item: str, entry: _Entry, s: Subject) -> str:
        """Drop the USCC of a record row; returns how it can (or cannot) still be matched."""
        roles = ROLES[item]
        row = entry.row
        row[roles.uscc] = ""
        roll = self.rng.random()
        if roll < 0.4 and roles.reg_no and s.reg_no:
            row[roles.reg_no] = s.reg_no
            if roles.org_code:
                row[roles.org_code] = ""
            return "codeless_regno"
        if roll < 0.7 and roles.org_code and s.org_code:
            row[roles.org_code] = s.org_code
            if roles.reg_no:
                row[roles.reg_no] = ""
            return "codeless_orgcode"
        for f in (roles.reg_no, roles.org_code):
            if f:
                row[f] = ""
        if roll < 0.88:
            return "codeless_name"
        old, new = row[roles.name], self.phantom_name(row[roles.name])
        for f, v in row.items():
            row[f] = v.replace(old, new)
        for f in ("CF_FRDB", "XK_FRDB"):
            if f in row:
                row[f] = ""
        return "codeless_unmatchable"


def _initial(
    ctx: _Ctx, d: Department, item: str, recs: list[Record], bad_share: float
) -> tuple[PlannedFile, list[_Entry]]:
    """The first file a department sends for an item, with all its planted anomalies."""
    rng = ctx.rng
    roles = ROLES[item]
    fields = ITEM_FIELDS[item]
    style = dirty.pick_style(rng)
    recs = list(recs)
    rng.shuffle(recs)
    entries: list[_Entry] = []
    for rec in recs:
        row = dirty.format_row(rng, rec.values, fields, style)
        dirty.dirty_valid(rng, item, row)
        entries.append(_Entry(row, {"kind": "minor"} if rec.minor else None, rec))
    if item == "registration":
        for e in [e for e in entries if e.row["DJ_SHXYM"] and e.tag is None]:
            if rng.random() < CODELESS_SHARE / 3:
                row = dict(e.row)
                copy = _Entry(row, {"kind": ctx.codeless_registration(row)})
                at = entries.index(e) + 1
                entries.insert(rng.randint(at, len(entries)), copy)
    else:
        for e in entries:
            s = e.rec.subject if e.rec else None
            old = 3 if s is not None and (s.reg_no or s.org_code) else 1  # old systems
            if (
                e.tag is None
                and s is not None
                and not s.is_person
                and e.row.get(roles.uscc)
                and rng.random() < CODELESS_SHARE * old
            ):
                e.tag = {"kind": ctx.codeless(item, e, s)}
    n_bad = round(len(entries) * bad_share)
    if item == "registration":
        plain = [e for e in entries if e.tag is None]
        for _ in range(n_bad):
            row = ctx.phantom_registration(rng.choice(plain).row)
            entries.insert(rng.randrange(len(entries) + 1), _Entry(row, {}))
    targets = (
        [e for e in entries if e.tag == {}]
        if item == "registration"
        else rng.sample(
            [e for e in entries if e.tag is None], min(n_bad, sum(e.tag is None for e in entries))
        )
    )
    for e in targets:
        kind = rng.choice(dirty.defect_kinds(item, e.row))
        bad_field = dirty.apply_defect(rng, item, e.row, kind, style, ctx.as_of)
        e.tag = {"kind": kind, "field": bad_field, "bad": True}
    goods = [e for e in entries if e.tag is None]
    n_dup = round(len(entries) * DUPLICATE_SHARE) or (1 if len(entries) >= 20 else 0)
    for e in rng.sample(goods, min(n_dup, len(goods))):
        at = entries.index(e) + 1
        entries.insert(
            rng.randint(at, len(entries)), _Entry(dict(e.row), {"kind": "duplicate"}, of=e)
        )
    return _plan(d, item, "initial", fields, entries), entries


def _plan(
    d: Department, item: str, kind: str, fields: tuple[str, ...], entries: list[_Entry]
) -> PlannedFile:
    """A PlannedFile with anomalies (1-based data row numbers) and expected counts."""
    index = {id(e): i + 1 for i, e in enumerate(entries)}
    anomalies: list[dict[str, object]] = []
    expected = dict.fromkeys(
        (
            "bad",
            "duplicate",
            "codeless_matchable",
            "codeless_unmatchable",
            "minors",
            "corrections",
            "withdrawals",
        ),
        0,
    )
    for e in entries:
        if e.tag is None:
            continue
        tag = {k: v for k, v in e.tag.items() if k != "bad"}
        k = str(tag["kind"])
        item_anomaly: dict[str, object] = {"row": index[id(e)], **tag}
        if e.of is not None:
            item_anomaly["of_row"] = index[id(e.of)]
        item_anomaly.update(e.extra)
        anomalies.append(item_anomaly)
        if e.tag.get("bad"):
            expected["bad"] += 1
        elif k == "codeless_unmatchable":
            expected["codeless_unmatchable"] += 1
        elif k.startswith("codeless"):
            expected["codeless_matchable"] += 1
        elif k == "minor":
            expected["minors"] += 1
        elif k in ("duplicate",):
            expected["duplicate"] += 1
        elif k in ("correction", "withdrawal"):
            expected[k + "s"] += 1
    return PlannedFile(
        dept=d,
        item=item,
        kind=kind,
        headers=fields,
        rows=[e.row for e in entries],
        anomalies=anomalies,
        expected=expected,
    )


def _corrections(
    ctx: _Ctx, d: Department, item: str, source: PlannedFile, entries: list[_Entry]
) -> PlannedFile | None:
    """The department's later file: corrected rows (same key) and, for some items, withdrawals."""
    rng = ctx.rng
    goods = [e for e in entries if e.tag is None]
    if not goods:
        return None
    n_corr = max(1, min(40, round(len(goods) * 0.02)))
    n_wd = max(1, min(20, round(len(goods) * 0.01))) if item in WITHDRAWABLE else 0
    chosen = rng.sample(goods, min(n_corr + n_wd, len(goods)))
    out: list[_Entry] = []
    src_index = {id(e): i + 1 for i, e in enumerate(entries)}
    for i, e in enumerate(chosen):
        extra: dict[str, object] = {"source_row": src_index[id(e)]}
        if i < n_corr or item not in WITHDRAWABLE:
            out.append(_Entry(dirty.correct(rng, item, e.row), {"kind": "correction"}, extra=extra))
        else:
            reason = rng.choice(dirty.WITHDRAWAL_REASONS[item])
            row = dict(e.row)
            row["BZ"] = f"撤销：{reason}"
            out.append(_Entry(row, {"kind": "withdrawal", "reason": reason}, extra=extra))
    planned = _plan(d, item, "correction", source.headers, out)
    planned.source = source
    return planned


def assemble(
    rng: random.Random, subjects: list[Subject], book: Book, as_of: date, bad_share: float
) -> list[PlannedFile]:
    """Every file of the city in sequence order: registrations, other items, corrections."""
    ctx = _Ctx(rng, subjects, as_of)
    industry.register()  # 行业信用评价 (synth/industry.py): its own records and files
    industry.evaluations(book)
    order = [(d, "registration") for d in DEPARTMENTS if "registration" in d.items]
    order += [(d, i) for d in DEPARTMENTS for i in d.items if i != "registration"]
    order += [(d, industry.ITEM) for d in DEPARTMENTS if (d.slug, industry.ITEM) in book.out]
    planned: list[PlannedFile] = []
    firsts: dict[tuple[str, str], tuple[PlannedFile, list[_Entry]]] = {}
    for d, item in order:
        recs = book.out.get((d.slug, item))
        if recs:
            pf, entries = _initial(ctx, d, item, recs, bad_share)
            planned.append(pf)
            firsts[(d.slug, item)] = (pf, entries)
    for d in DEPARTMENTS:
        sent = [i for i in d.items if (d.slug, i) in firsts]
        if not sent:
            continue
        item = next((i for i in ("penalty", "licence") if i in sent), sent[-1])
        fixes = _corrections(ctx, d, item, *firsts[(d.slug, item)])
        if fixes is not None:
            planned.append(fixes)
    _formats(rng, planned)
    return planned


def _formats(rng: random.Random, planned: list[PlannedFile]) -> None:
    """One XLSX and one JSON file; of the CSV files ~20% GBK, ~20% UTF-8 with BOM."""
    initial = [p for p in planned if p.kind == "initial"]
    xlsx = next((p for p in initial if (p.dept.slug, p.item) == _XLSX), initial[0])
    json_file = next(
        (p for p in initial if (p.dept.slug, p.item) == _JSON and p is not xlsx),
        next(p for p in initial if p is not xlsx),
    )
    xlsx.fmt, xlsx.encoding = "xlsx", None
    json_file.fmt, json_file.encoding = "json", "utf-8"
    csvs = [p for p in planned if p.fmt == "csv"]
    order = list(range(len(csvs)))
    rng.shuffle(order)
    k = max(1, round(len(csvs) * 0.2))
    for n, i in enumerate(order):
        csvs[i].encoding = "gbk" if n < k else "utf-8-sig" if n < 2 * k else "utf-8"
