"""Good records about the city's subjects, per (department, item), before any dirt is added."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from citycredit.subjects.model import SubjectType
from citycredit.synth.codes import random_date
from citycredit.synth.departments import BY_SLUG, COUNTY_BUREAU, Department
from citycredit.synth.names import COUNTY_NAMES

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

ST = SubjectType
Value = str | date


@dataclass
class Record:
    """One good row: the department that sends it, its item, its subject and its field values."""

    dept: str
    item: str
    subject: Subject | None
    values: dict[str, Value]
    minor: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Book:
    """Random source, subjects by type, document-number counters and the records made so far."""

    def __init__(self, rng: random.Random, subjects: list[Subject], as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.subjects = subjects
        self.by_type: dict[SubjectType, list[Subject]] = defaultdict(list)
        for s in subjects:
            self.by_type[s.type].append(s)
        self.by_name = {s.name: s for s in subjects if not s.is_person}
        self.out: dict[tuple[str, str], list[Record]] = defaultdict(list)
        self._counters: dict[str, int] = defaultdict(int)

    def counter(self, key: str) -> int:
        """The next number of a document series (1, 2, 3 …)."""
        self._counters[key] += 1
        return self._counters[key]

    def docno(self, abbr: str, kind: str, year: int) -> str:
        """A unique document number such as 榆市监处罚〔2024〕17号."""
        return f"{abbr}{kind}〔{year}〕{self.counter(abbr + kind + str(year))}号"

    def when(self, s: Subject | None, years: int = 4, start: date | None = None) -> date:
        """A decision date in the `years` before as_of, after the subject came into being."""
        low = self.as_of - timedelta(days=365 * years)
        if s is not None:
            low = max(low, s.active_since + timedelta(days=30))
        if start is not None:
            low = max(low, start)
        return random_date(
            self.rng, min(low, self.as_of - timedelta(days=2)), self.as_of - timedelta(days=1)
        )

    def later(self, d: date, low: int, high: int) -> date | None:
        """A date low..high days after d, or None if that is not before as_of."""
        out = d + timedelta(days=self.rng.randint(low, high))
        return out if out < self.as_of else None

    def pick(self, text: str) -> str:
        """One of "a:3 b:1 …" by weight."""
        pairs = [p.rsplit(":", 1) for p in text.split()]
        return self.rng.choices([a for a, _ in pairs], weights=[int(w) for _, w in pairs])[0]

    def after(self, d: date, low: int, high: int) -> date:
        """A date low..high days after d, but before as_of (never before d)."""
        out = d + timedelta(days=self.rng.randint(low, high))
        return max(d, min(out, self.as_of - timedelta(days=1)))

    def sample(
        self,
        kinds: tuple[SubjectType, ...],
        share: float,
        where: Callable[[Subject], bool] | None = None,
    ) -> list[Subject]:
        """About `share` of the subjects of the given types (in generation order)."""
        pool = [s for k in kinds for s in self.by_type[k] if not s.minor]
        if where is not None:
            pool = [s for s in pool if where(s)]
        pool.sort(key=lambda s: s.seq)
        return [s for s in pool if self.rng.random() < share]

    def authority(self, dept: Department, s: Subject | None) -> tuple[str, str]:
        """The deciding authority: the department, or half the time its county bureau."""
        suffix = COUNTY_BUREAU.get(dept.slug)
        if suffix and s is not None and self.rng.random() < 0.5:
            bureau = self.by_name.get(COUNTY_NAMES[s.county] + suffix)
            if bureau is not None:
                return bureau.name, bureau.uscc
        return dept.name, dept.code

    def emit(
        self, dept: str, item: str, s: Subject | None, values: dict[str, Value], minor: bool = False
    ) -> Record:
        """Store a record."""
        rec = Record(dept, item, s, values, minor)
        self.out[(dept, item)].append(rec)
        return rec


def alive(s: Subject) -> bool:
    """True for a subject still in business (存续)."""
    return s.status == "存续"


def party(item: str, s: Subject) -> dict[str, Value]:
    """The subject columns of a licence or penalty row (XK_XDR_… / CF_XDR_…)."""
    p = "XK" if item == "licence" else "CF"
    if s.is_person:
        lb = "自然人"
    elif s.type is ST.individual_business:
        lb = "个体工商户"
    else:
        lb = "法人及非法人组织"
    return {
        f"{p}_XDR_MC": s.name,
        f"{p}_XDR_LB": lb,
        f"{p}_XDR_SHXYM": s.uscc,
        f"{p}_XDR_GSZC": s.reg_no,
        f"{p}_XDR_ZZJG": s.org_code,
        f"{p}_FRDB": "" if s.is_person else s.legal_rep,
        f"{p}_XDR_ZJLX": "身份证" if s.is_person else "",
        f"{p}_XDR_ZJHM": s.id_number,
    }


def registration(book: Book) -> None:
    """One registration row per registered subject, sent by its registering department."""
    for s in book.subjects:
        if not s.registrar:
            continue
        book.emit(
            s.registrar,
            "registration",
            s,
            {
                "DJ_MC": s.name,
                "DJ_ZTLX": s.type.label,
                "DJ_SHXYM": s.uscc,
                "DJ_GSZC": s.reg_no,
                "DJ_ZZJG": s.org_code,
                "DJ_ZJHM": s.id_number,
                "DJ_FRDB": s.legal_rep,
                "DJ_CLRQ": s.established or "",
                "DJ_ZS": s.address,
                "DJ_XZQH": s.county,
                "DJ_HY": s.industry_label,
                "DJ_ZCZB": "" if s.capital is None else f"{s.capital:g}",
                "DJ_DJJG": s.authority,
                "DJ_ZT": s.status,
                "DJ_ZYBQ": ";".join(s.professions),
                "DJ_LXDH": s.phone,
            },
        )


def build_records(rng: random.Random, subjects: list[Subject], as_of: date) -> Book:
    """Every good record of the city, grouped by (department slug, item)."""
    from citycredit.synth import lists, obligations, penalties, templates

    book = Book(rng, subjects, as_of)
    registration(book)
    templates.licences(book)
    penalties.penalties(book)
    lists.tax_grades(book)
    lists.red_list(book)
    lists.judgment_defaulters(book)
    lists.serious(book)
    lists.commitments(book)
    lists.honours(book)
    lists.abnormal(book)
    obligations.arrears(book)
    obligations.contracts(book)
    return book


def dept(slug: str) -> Department:
    """The department with this slug."""
    return BY_SLUG[slug]
