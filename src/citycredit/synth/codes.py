"""Synthetic identifiers: USCCs, organisation codes, 注册号, ID numbers, phone numbers, dates."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date, timedelta

from stdnum.iso7064 import mod_11_10

from citycredit.shared.ids import (
    USCC_ALPHABET,
    id_check_char,
    org_code_check_char,
    uscc_check_char,
)

_DIGITS = "0123456789"
# Characters after the two letters of post-2015 bodies (the USCC alphabet).
_NEW_BODY_CHARS = USCC_ALPHABET
_MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "157",
    "158",
    "159",
    "177",
    "180",
    "181",
    "182",
    "183",
    "186",
    "187",
    "188",
    "189",
    "191",
    "199",
)


class CodeBook:
    """Issues unique codes; remembers what it issued so no two subjects share one."""

    def __init__(self) -> None:
        self.issued: set[str] = set()

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            code = make()
            if code not in self.issued:
                self.issued.add(code)
                return code
        raise RuntimeError("code space exhausted")

    def uscc(self, rng: random.Random, prefix: str, division: str, letters: str) -> str:
        """A valid USCC: prefix + division + 8-char body + GB 11714 check + GB 32100 check.

        `letters` starts bodies issued since 2015 ("MA", "MJ" …); "" gives an old 8-digit body.
        """

        def make() -> str:
            if letters:
                body = letters + rng.choice("67") + "".join(rng.choices(_NEW_BODY_CHARS, k=5))
            else:
                body = rng.choice("0567") + "".join(rng.choices(_DIGITS, k=7))
            first17 = prefix + division + body + org_code_check_char(body)
            return first17 + uscc_check_char(first17)

        return self._unique(make)

    def registration_no(self, rng: random.Random, division: str, individual: bool) -> str:
        """A 15-digit 工商注册号 with its ISO 7064 MOD 11,10 check digit."""

        def make() -> str:
            kind = "6" if individual else rng.choice("0012")
            first14 = division + kind + "".join(rng.choices(_DIGITS, k=7))
            return first14 + mod_11_10.calc_check_digit(first14)

        return self._unique(make)

    def id_number(self, rng: random.Random, division: str, birth: date, male: bool) -> str:
        """A synthetic 18-character resident ID number with a valid check character."""

        def make() -> str:
            seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
            first17 = f"{division}{birth:%Y%m%d}{seq:03d}"
            return first17 + id_check_char(first17)

        return self._unique(make)


def wrong_uscc(uscc: str, rng: random.Random) -> str:
    """The same USCC with a different (wrong) check character."""
    wrong = rng.choice([c for c in USCC_ALPHABET if c != uscc[17]])
    return uscc[:17] + wrong


def wrong_id(id_number: str, rng: random.Random) -> str:
    """The same ID number with a different (wrong) check character."""
    wrong = rng.choice([c for c in "0123456789X" if c != id_number[17]])
    return id_number[:17] + wrong


def phone(rng: random.Random) -> str:
    """A mobile number or a Yulin landline (area code 0912)."""
    if rng.random() < 0.8:
        return rng.choice(_MOBILE_PREFIXES) + "".join(rng.choices(_DIGITS, k=8))
    return "0912-" + rng.choice("3358") + "".join(rng.choices(_DIGITS, k=6))


def random_date(rng: random.Random, start: date, end: date) -> date:
    """A uniformly random date in [start, end] (start if the range is empty)."""
    span = (end - start).days
    return start + timedelta(days=rng.randint(0, span)) if span > 0 else start


def add_years(d: date, years: int) -> date:
    """The same day `years` later (28 February for 29 February in a non-leap year)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def digits(rng: random.Random, k: int) -> str:
    """k random decimal digits."""
    return "".join(rng.choices(_DIGITS, k=k))


def nice_amount(rng: random.Random, low: float, high: float) -> float:
    """A round-looking amount between low and high (log-uniform), as officials write them."""
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    if value < 1:
        return round(value, 2) or low
    if value < 10:
        return round(value, 1)
    if value < 1000:
        return float(round(value))
    return float(round(value, -2))


def fmt_amount(value: float) -> str:
    """Plain decimal text without trailing zeros: 0.2, 3, 12.5."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"
