"""Administrative divisions (GB/T 2260 codes) of Yulin (榆林市, 610800) and its towns and villages.

County codes follow GB/T 2260; town (9-digit) and village (12-digit) codes follow the NBS
统计用区划代码 (2023). Data files are read lazily on first use (see data/divisions/README.md).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "RETIRED_CODES",
    "YULIN_CITY",
    "YULIN_CITY_CODE",
    "YULIN_COUNTIES",
    "Division",
    "county_for_code",
    "county_name",
    "division_from_address",
    "is_known_code",
    "is_yulin_code",
    "towns",
    "villages",
]

_DATA = Path(__file__).parent / "data" / "divisions"


@dataclass(frozen=True)
class Division:
    """A division: code, Chinese name and level ("city", "county", "town" or "village")."""

    code: str
    name: str
    level: str


YULIN_CITY_CODE = "610800"
YULIN_CITY = Division(YULIN_CITY_CODE, "榆林市", "city")

# The 12 current county-level units (rules.md §2): 2 districts, 9 counties, 1 county-level city.
YULIN_COUNTIES: tuple[Division, ...] = (
    Division("610802", "榆阳区", "county"),
    Division("610803", "横山区", "county"),  # since 2015; was 610823 横山县
    Division("610822", "府谷县", "county"),
    Division("610824", "靖边县", "county"),
    Division("610825", "定边县", "county"),
    Division("610826", "绥德县", "county"),
    Division("610827", "米脂县", "county"),
    Division("610828", "佳县", "county"),
    Division("610829", "吴堡县", "county"),
    Division("610830", "清涧县", "county"),
    Division("610831", "子洲县", "county"),
    Division("610881", "神木市", "county"),  # since 2017; was 610821 神木县
)

# Retired code → current code. USCCs and ID numbers issued under them stay valid for life.
RETIRED_CODES: dict[str, str] = {"610821": "610881", "610823": "610803"}
_RETIRED_NAMES: dict[str, str] = {"610821": "神木县", "610823": "横山县"}

_BY_CODE: dict[str, Division] = {d.code: d for d in YULIN_COUNTIES}

# Names used in addresses. Full names include the retired ones; short names are unique in China.
_FULL_NAMES: dict[str, str] = {d.name: d.code for d in YULIN_COUNTIES} | {
    name: RETIRED_CODES[code] for code, name in _RETIRED_NAMES.items()
}
_SHORT_NAMES: dict[str, str] = {
    "榆阳": "610802",
    "横山": "610803",
    "府谷": "610822",
    "靖边": "610824",
    "定边": "610825",
    "绥德": "610826",
    "米脂": "610827",
    "吴堡": "610829",
    "清涧": "610830",
    "子洲": "610831",
    "神木": "610881",
}
_FULL_RE = re.compile("|".join(sorted(_FULL_NAMES, key=len, reverse=True)))
# A short name directly followed by a street word names a road (e.g. "神木路"), not the county;
# "街道" (a town-level street office) is kept.
_SHORT_RE = re.compile(f"({'|'.join(_SHORT_NAMES)})(?!路|大道|大街|巷|街(?!道))")


def is_yulin_code(code: str) -> bool:
    """True for any division code (of any length) inside Yulin, i.e. starting with 6108."""
    return code.strip().startswith("6108")


def county_for_code(code: str) -> Division | None:
    """Current Yulin county for a 6/9/12+-digit code; None outside Yulin or for 610800 itself."""
    code = code.strip()
    if len(code) < 6 or not code.isascii() or not code.isdigit():
        return None
    county = code[:6]
    return _BY_CODE.get(RETIRED_CODES.get(county, county))


def county_name(code: str) -> str | None:
    """Current name of the county-level unit of a code (Yulin, else GB/T 2260 2019), or None."""
    county = county_for_code(code)
    if county is not None:
        return county.name
    code = code.strip()[:6]
    if code == YULIN_CITY_CODE:
        return YULIN_CITY.name
    return _gb2260().get(code)


def is_known_code(code: str) -> bool:
    """True if a 6-digit code is a current or historical GB/T 2260 code (or 100000, national)."""
    if code == "100000":  # national-level registration authorities (e.g. SAMR) in USCCs
        return True
    if code in _gb2260() or code in RETIRED_CODES:
        return True
    # python-stdnum ≥ 2.2 ships historical county codes with validity years (cn/loc.dat).
    from stdnum import numdb

    info = {k: v for _part, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    return "county" in info


def towns(county_code: str) -> list[Division]:
    """Towns and streets (乡镇/街道, 2023) of a Yulin county; retired codes map to current."""
    county = county_for_code(county_code)
    if county is None:
        return []
    return list(_towns_by_county().get(county.code, ()))


def villages(town_code: str) -> list[Division]:
    """Villages and communities (村/社区, 2023) of a Yulin town given by its 9-digit code."""
    return list(_villages_by_town().get(town_code.strip(), ()))


def division_from_address(text: str) -> Division | None:
    """Yulin county named in an address (county name, else unique town name); None if unclear."""
    text = re.sub(r"\s+", "", text)
    if not text:
        return None
    # 1. Full county names (incl. 神木县/横山县) are decisive; two different ones are ambiguous.
    found = {_FULL_NAMES[m.group()] for m in _FULL_RE.finditer(text)}
    if not found:
        # 2. Short names, skipping road names such as "榆阳路".
        found = {_SHORT_NAMES[m.group(1)] for m in _SHORT_RE.finditer(text)}
    if not found:
        # 3. Town names unique within Yulin, unless the address names a place outside Yulin
        #    (many Yulin town names, e.g. 古城镇 or 乌镇, also exist elsewhere in China).
        if _foreign_place_re().search(text):
            return None
        names, pattern = _town_names()
        found = {names[m.group()] for m in pattern.finditer(text)}
    if len(found) != 1:
        return None
    return _BY_CODE[found.pop()]


# --- lazy loaders -------------------------------------------------------------------------


@cache
def _gb2260() -> dict[str, str]:
    """Code → name from the GB/T 2260 2019-04 table (columns Source, Revision, Code, Name)."""
    with (_DATA / "gb2260-county-2019-04.tsv").open(encoding="utf-8", newline="") as f:
        return {row["Code"]: row["Name"] for row in csv.DictReader(f, delimiter="\t")}


@cache
def _towns_by_county() -> dict[str, tuple[Division, ...]]:
    """County code → towns (columns code, name, areaCode, provinceCode, cityCode)."""
    out: dict[str, list[Division]] = {}
    with (_DATA / "yulin-towns-2023.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["areaCode"], []).append(Division(row["code"], row["name"], "town"))
    return {k: tuple(v) for k, v in out.items()}


@cache
def _villages_by_town() -> dict[str, tuple[Division, ...]]:
    """Town code → villages (columns code, name, streetCode, provinceCode, cityCode, areaCode)."""
    out: dict[str, list[Division]] = {}
    with (_DATA / "yulin-villages-2023.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            village = Division(row["code"], row["name"], "village")
            out.setdefault(row["streetCode"], []).append(village)
    return {k: tuple(v) for k, v in out.items()}


@cache
def _town_names() -> tuple[dict[str, str], re.Pattern[str]]:
    """Town name → county code, for names unique in Yulin, plus a longest-first regex over them.

    Besides full names ("大柳塔镇") this includes the bare form without 镇/乡/街道 when it has at
    least 3 characters, is unique and is not a road or generic name ("大柳塔", but not "鱼河",
    "青山路" or "滨河新区").
    """
    full: dict[str, set[str]] = {}
    bare: dict[str, set[str]] = {}
    for county, ts in _towns_by_county().items():
        for t in ts:
            full.setdefault(t.name, set()).add(county)
            stem = re.sub(r"(街道|镇|乡)$", "", t.name)
            if len(stem) >= 3 and not stem.endswith(("路", "新区")):
                bare.setdefault(stem, set()).add(county)
    names = {n: next(iter(c)) for n, c in full.items() if len(c) == 1}
    for stem, counties in bare.items():
        if len(counties) == 1 and stem not in full:
            names.setdefault(stem, next(iter(counties)))
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    return names, pattern


@cache
def _foreign_place_re() -> re.Pattern[str]:
    """Regex over GB/T 2260 names (≥ 3 chars) of places outside Yulin and other than 陕西省."""
    names = {
        name
        for code, name in _gb2260().items()
        if len(name) >= 3 and not code.startswith("6108") and code != "610000"
    }
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
