"""The synthetic Yulin city: subjects of every type, built deterministically from a seed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from citycredit.shared.divisions import Division, towns, villages
from citycredit.subjects.model import SubjectType
from citycredit.synth import names as nm
from citycredit.synth.assemble import assemble
from citycredit.synth.codes import CodeBook, phone
from citycredit.synth.departments import DEPARTMENTS
from citycredit.synth.files import Manifest, write_all
from citycredit.synth.records import build_records

__all__ = ["DEFAULT_AS_OF", "Subject", "build_subjects", "generate_city"]

DEFAULT_AS_OF = date(2026, 11, 1)
MIN_SUBJECTS = 40
ST = SubjectType

# Population-like weights of the 12 counties.
COUNTY_WEIGHTS: dict[str, int] = {
    "610802": 80,
    "610881": 50,
    "610822": 26,
    "610803": 30,
    "610824": 35,
    "610825": 33,
    "610826": 30,
    "610827": 17,
    "610828": 20,
    "610829": 8,
    "610830": 16,
    "610831": 23,
}
TYPE_WEIGHTS: tuple[tuple[SubjectType, int], ...] = (
    (ST.enterprise, 38),
    (ST.individual_business, 22),
    (ST.natural_person, 14),
    (ST.farm_household, 8),
    (ST.farmer_cooperative, 5),
    (ST.public_institution, 4),
    (ST.government_body, 2),
    (ST.social_group, 2),
    (ST.private_non_enterprise, 3),
    (ST.other_organisation, 2),
)
# USCC positions 1–2 (registration authority + organisation type) per subject type.
_PREFIX = {
    ST.government_body: "11",
    ST.public_institution: "12",
    ST.enterprise: "91",
    ST.individual_business: "92",
    ST.farmer_cooperative: "93",
    ST.social_group: "51",
    ST.private_non_enterprise: "52",
}
_USCC_START = date(2015, 10, 1)


@dataclass
class Subject:
    """One generated credit subject with every code and attribute the department files need."""

    seq: int
    type: SubjectType
    name: str
    county: str  # current county code of its address
    address: str
    registrar: str  # slug of the department sending its registration row ("" for none)
    authority: str  # DJ_DJJG, the registering authority
    uscc: str = ""
    reg_no: str = ""
    org_code: str = ""
    id_number: str = ""
    legal_rep: str = ""
    established: date | None = None
    industry: nm.Industry | None = None
    industry_label: str = ""
    capital: float | None = None
    status: str = "存续"
    professions: tuple[str, ...] = ()
    phone: str = ""
    birth: date | None = None
    minor: bool = False

    @property
    def is_person(self) -> bool:
        """True for subjects identified by an ID number."""
        return self.type in (ST.natural_person, ST.farm_household)

    @property
    def active_since(self) -> date:
        """The earliest date a record about the subject may carry."""
        return self.established or self.birth or date(2000, 1, 1)


def apportion(n: int) -> dict[SubjectType, int]:
    """Split n subjects over the types by TYPE_WEIGHTS (at least one each)."""
    total = sum(w for _, w in TYPE_WEIGHTS)
    counts = {t: max(1, n * w // total) for t, w in TYPE_WEIGHTS}
    counts[ST.enterprise] += n - sum(counts.values())
    return counts


class CityBuilder:
    """Holds the random source and the uniqueness books while subjects are made."""

    def __init__(self, rng: random.Random, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.codes = CodeBook()
        self.used_names: set[str] = set()
        self.subjects: list[Subject] = []
        self._towns: dict[str, list[Division]] = {}
        self._villages: dict[str, list[Division]] = {}

    # --- places ---------------------------------------------------------------------------
    def county(self) -> str:
        """A county code weighted by population."""
        return self.rng.choices(list(COUNTY_WEIGHTS), weights=list(COUNTY_WEIGHTS.values()))[0]

    def town(self, county: str) -> Division:
        """A random town or street of the county."""
        if county not in self._towns:
            self._towns[county] = towns(county)
        return self.rng.choice(self._towns[county])

    def village(self, town: Division) -> str:
        """Address form of a random village of the town."""
        if town.code not in self._villages:
            self._villages[town.code] = villages(town.code)
        vs = self._villages[town.code]
        return nm.village_stem(self.rng.choice(vs).name) if vs else ""

    def address(self, county: str, town: Division | None = None, rural: bool = False) -> str:
        """陕西省榆林市{county}{town}{village or road + number}."""
        rng = self.rng
        town = town or self.town(county)
        if rural or (not town.name.endswith("街道") and rng.random() < 0.6):
            tail = self.village(town) + (f"{rng.randint(1, 150)}号" if rng.random() < 0.4 else "")
        else:
            tail = f"{rng.choice(nm.ROAD_WORDS)}{rng.randint(1, 399)}号"
        return f"陕西省榆林市{nm.COUNTY_NAMES[county]}{town.name}{tail}"

    # --- helpers --------------------------------------------------------------------------
    def unique(self, make: Callable[[], str]) -> str:
        """A name not used before: retry `make`, then number it."""
        name = make()
        for _ in range(30):
            if name not in self.used_names:
                break
            name = make()
        base, attempt = name, 1
        while name in self.used_names:
            attempt += 1
            name = f"{base}{attempt}"
        self.used_names.add(name)
        return name

    def founded(self, mean_years: float, max_years: int, min_days: int = 60) -> date:
        """A founding date: exponential age with the given mean, capped."""
        days = int(self.rng.expovariate(1 / (mean_years * 365)))
        days = min(max(days, min_days), max_years * 365)
        return self.as_of - timedelta(days=days)

    def division(self, county: str, founded: date, city_level: bool) -> str:
        """The registering division of a USCC: city, county, or a retired county code."""
        if city_level:
            return "610800"
        if county == "610881" and founded < date(2017, 4, 10) and self.rng.random() < 0.5:
            return "610821"
        if county == "610803" and founded < date(2015, 12, 1) and self.rng.random() < 0.5:
            return "610823"
        return county

    def add(self, s: Subject) -> Subject:
        """Append a subject (its seq is its position)."""
        s.seq = len(self.subjects)
        self.subjects.append(s)
        return s

    def org(
        self,
        kind: SubjectType,
        name: str,
        county: str,
        *,
        city_level: bool,
        founded: date,
        registrar: str,
        authority: str,
        body: str = "MA",
        prefix: str = "",
        **extra: object,
    ) -> Subject:
        """An organisation with a USCC (and, when registered before 2015, a 组织机构代码).

        `body` gives the letters of post-2015 bodies ("MA", "MJ" …) or "legacy" for old codes.
        """
        division = self.division(county, founded, city_level)
        modern = body != "legacy" and (founded >= _USCC_START or kind is ST.individual_business)
        uscc = self.codes.uscc(self.rng, prefix or _PREFIX[kind], division, body if modern else "")
        s = Subject(
            seq=0,
            type=kind,
            name=name,
            county=county,
            uscc=uscc,
            established=founded,
            address=self.address(county),
            registrar=registrar,
            authority=authority,
            legal_rep=nm.person_name(self.rng, self.rng.random() < 0.8),
            phone=phone(self.rng),
        )
        for key, value in extra.items():
            setattr(s, key, value)
        if not modern:
            s.org_code = uscc[8:17]
        return self.add(s)


def build_subjects(
    rng: random.Random, n: int, as_of: date, progress: Callable[[int], None] | None = None
) -> list[Subject]:
    """All subjects of a city of n subjects: the departments first, then every type."""
    from citycredit.synth import makers as people  # makers imports this module

    if n < MIN_SUBJECTS:
        raise ValueError(f"subjects must be at least {MIN_SUBJECTS}")
    b = CityBuilder(rng, as_of)
    for dept in DEPARTMENTS:
        b.used_names.add(dept.name)
        b.codes.issued.add(dept.code)
        kind = dept.kind
        b.add(
            Subject(
                seq=0,
                type=kind,
                name=dept.name,
                county="610802",
                uscc=dept.code,
                org_code=dept.code[8:17],
                address=b.address("610802", rural=False),
                registrar="scjg" if kind is ST.enterprise else "bb",
                authority="榆林市市场监督管理局"
                if kind is ST.enterprise
                else "中共榆林市委机构编制委员会办公室",
                established=date(1990 + len(b.subjects) % 20, 1 + len(b.subjects) % 12, 15),
                legal_rep=nm.person_name(rng, True),
                phone=phone(rng),
                industry_label="电力、热力生产和供应业"
                if kind is ST.enterprise
                else "公共管理、社会保障和社会组织",
            )
        )
    counts = apportion(n - len(b.subjects))
    makers: dict[SubjectType, Callable[[CityBuilder, int], None]] = {
        ST.government_body: people.government_bodies,
        ST.public_institution: people.public_institutions,
        ST.social_group: people.social_groups,
        ST.private_non_enterprise: people.private_non_enterprises,
        ST.other_organisation: people.other_organisations,
        ST.farmer_cooperative: people.cooperatives,
        ST.farm_household: people.farm_households,
        ST.natural_person: people.natural_persons,
        ST.individual_business: people.individual_businesses,
    }
    for kind, make in makers.items():
        before = len(b.subjects)
        make(b, counts[kind])
        counts[ST.enterprise] += counts[kind] - (len(b.subjects) - before)  # pool shortfall
        if progress:
            progress(len(b.subjects))
    people.enterprises(b, counts[ST.enterprise], progress)
    return b.subjects


def generate_city(
    out_dir: Path,
    *,
    subjects: int,
    seed: int,
    bad_share: float = 0.05,
    as_of: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Generate a city and write its department files and manifest.json into out_dir.

    `progress` is called with the number of subjects generated so far.
    """
    if not 0 <= bad_share < 0.5:
        raise ValueError("bad_share must be in [0, 0.5)")
    as_of = as_of or DEFAULT_AS_OF
    rng = random.Random(seed)
    city = build_subjects(rng, subjects, as_of, progress)
    records = build_records(random.Random(rng.getrandbits(64)), city, as_of)
    planned = assemble(random.Random(rng.getrandbits(64)), city, records, as_of, bad_share)
    return write_all(
        Path(out_dir), planned, seed=seed, subjects=city, as_of=as_of, bad_share=bad_share
    )
