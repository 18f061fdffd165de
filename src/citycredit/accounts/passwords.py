"""Password policy and hashing (ASVS 6.2; 等保 CES1-01).

Length is what counts: at least ``password_min_length`` characters (12 by default), at least 64
allowed, no composition rules, refused when it is a known common password, a trivial pattern or
the username. Stored as Argon2id (policy: t=3, m=64 MiB, p=4 by default); hashes made with
other parameters are re-hashed at the next successful login.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import cache
from importlib import resources
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from citycredit.accounts.policy import SecurityPolicy
from citycredit.shared.errors import FieldError

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "0987654321")


@cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher(policy: SecurityPolicy) -> PasswordHasher:
    """The Argon2id hasher of the policy's cost parameters."""
    return _hasher(policy.argon2_time_cost, policy.argon2_memory_kib, policy.argon2_parallelism)


@cache
def _dummy_hash(h: PasswordHasher) -> str:
    """A real hash, verified when the username is unknown: failures take the same time."""
    return h.hash("citycredit-timing-equaliser")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped lists of refused passwords (lower case): the hand-collected list (Chinese
    favourites included) and the 19,640 most common passwords of public breach corpora as Django
    ships them (``common_passwords_intl.txt.gz``, compiled by Royce Williams; Django, BSD-3-Clause —
    data/README.md), ordered by frequency."""
    data = resources.files("citycredit.accounts").joinpath("data")
    hand = data.joinpath("common_passwords.txt").read_text(encoding="utf-8")
    intl = gzip.decompress(data.joinpath("common_passwords_intl.txt.gz").read_bytes())
    lines = [*hand.splitlines(), *intl.decode("utf-8").splitlines()]
    return frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")


def _trivial(pw: str) -> bool:
    low = pw.lower()
    if len(set(low)) <= 2:  # aaaaaaaa, abababab
        return True
    digits = low.isdigit()
    if digits and all(int(b) - int(a) in (1, -1) for a, b in pairwise(low)):
        return True  # 12345678, 98765432
    if any(low in (row * 3) for row in _KEYBOARD_ROWS):
        return True  # keyboard walks
    # a common word followed by digits or a year: admin2026, woaini1314
    stem = re.sub(r"[\d!@#$%^&*.]+$", "", low)
    return bool(stem) and stem in common_passwords() and stem != low


def check_password(password: str, *, policy: SecurityPolicy, username: str = "") -> str:
    """The password if acceptable, else FieldError naming the field (never echoing the value)."""
    if not isinstance(password, str) or not password:
        raise FieldError("password", "", "required", "口令不能为空")
    pw = unicodedata.normalize("NFKC", password)
    if len(pw) < policy.password_min_length:
        raise FieldError(
            "password", "***", "too_short", f"口令至少 {policy.password_min_length} 个字符"
        )
    if len(pw) > policy.password_max_length:
        raise FieldError(
            "password", "***", "too_long", f"口令最多 {policy.password_max_length} 个字符"
        )
    low = pw.strip().lower()
    if low in common_passwords() or _trivial(pw):
        raise FieldError("password", "***", "too_common", "口令过于常见或有规律，请换一个")
    if username and username.lower() in low:
        raise FieldError("password", "***", "contains_username", "口令不能包含用户名")
    return pw


def hash_password(password: str, policy: SecurityPolicy) -> str:
    """Argon2id hash of a password (NFKC-normalised)."""
    return hasher(policy).hash(unicodedata.normalize("NFKC", password))


def verify_password(stored: str | None, password: str, policy: SecurityPolicy) -> bool:
    """True when the password matches; unknown users are checked against a dummy hash."""
    h = hasher(policy)
    try:
        ok = h.verify(stored or _dummy_hash(h), unicodedata.normalize("NFKC", password))
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def needs_rehash(stored: str, policy: SecurityPolicy) -> bool:
    """True when the stored hash uses other parameters than the policy's."""
    try:
        return hasher(policy).check_needs_rehash(stored)
    except InvalidHashError:
        return True
