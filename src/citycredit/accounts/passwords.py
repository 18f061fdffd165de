"""Password policy and hashing (ASVS 6.2; 等保 CES1-01).

Length is what counts: at least ``password_min_length`` characters (12 by default), at least 64
allowed, no composition rules, refused when it is a known common password, a trivial pattern or
the username. Stored as Argon2id (policy: t=3, m=64 MiB, p=4 by default) or, for 密评
deployments (``password_hash = "pbkdf2-sm3"``), as PBKDF2 with HMAC-SM3 (GM/T 0091-2020; a
16-byte random salt, 32-byte key, ``pbkdf2_sm3_iterations``) in the PHC-style string
``$pbkdf2-sm3$i=<iterations>$<salt>$<key>`` (unpadded standard base64). Hashes of either kind
verify whatever the policy; one made with another algorithm or other parameters is re-hashed at
the next successful login, so switching the setting migrates accounts as they log in.
"""

from __future__ import annotations

import base64
import gzip
import hmac
import os
import re
import unicodedata
from functools import cache
from importlib import resources
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from citycredit.accounts.policy import SecurityPolicy
from citycredit.shared.errors import FieldError

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "0987654321")


@cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher(policy: SecurityPolicy) -> PasswordHasher:
    """The Argon2id hasher of the policy's cost parameters."""
    return _hasher(policy.argon2_time_cost, policy.argon2_memory_kib, policy.argon2_parallelism)


PBKDF2_SM3_PREFIX = "$pbkdf2-sm3$"
_SALT_BYTES = 16
_KEY_BYTES = 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _pbkdf2_sm3(password: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SM3(), length=_KEY_BYTES, salt=salt, iterations=iterations)
    return kdf.derive(password.encode("utf-8"))


def pbkdf2_sm3_hash(password: str, iterations: int, *, salt: bytes | None = None) -> str:
    """``$pbkdf2-sm3$i=N$salt$key`` of an (already normalised) password."""
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    key = _pbkdf2_sm3(password, salt, iterations)
    return f"{PBKDF2_SM3_PREFIX}i={iterations}${_b64(salt)}${_b64(key)}"


def _parse_pbkdf2_sm3(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, key) of a PBKDF2-HMAC-SM3 string, or InvalidHashError."""
    parts = stored.split("$")
    # ['', 'pbkdf2-sm3', 'i=N', salt, key]
    if len(parts) != 5 or parts[1] != "pbkdf2-sm3" or not parts[2].startswith("i="):
        raise InvalidHashError("not a pbkdf2-sm3 hash")
    try:
        iterations = int(parts[2][2:])
        salt, key = _unb64(parts[3]), _unb64(parts[4])
    except ValueError as exc:
        raise InvalidHashError("malformed pbkdf2-sm3 hash") from exc
    if not 1 <= iterations <= 10_000_000 or len(salt) < 8 or len(key) != _KEY_BYTES:
        raise InvalidHashError("pbkdf2-sm3 hash out of range")
    return iterations, salt, key


def _verify_pbkdf2_sm3(stored: str, password: str) -> bool:
    iterations, salt, key = _parse_pbkdf2_sm3(stored)
    return hmac.compare_digest(_pbkdf2_sm3(password, salt, iterations), key)


@cache
def _dummy_hash(policy: SecurityPolicy) -> str:
    """A real hash of the policy's kind, verified when the username is unknown: failures take
    the same time as for a known user."""
    return _hash_normalised("citycredit-timing-equaliser", policy)


def _hash_normalised(password: str, policy: SecurityPolicy) -> str:
    if policy.password_hash == "pbkdf2-sm3":
        return pbkdf2_sm3_hash(password, policy.pbkdf2_sm3_iterations)
    return hasher(policy).hash(password)


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
    """The policy's hash (Argon2id or PBKDF2-HMAC-SM3) of a password (NFKC-normalised)."""
    return _hash_normalised(unicodedata.normalize("NFKC", password), policy)


def verify_password(stored: str | None, password: str, policy: SecurityPolicy) -> bool:
    """True when the password matches a hash of either kind; unknown users are checked against a
    dummy hash of the policy's kind."""
    target = stored or _dummy_hash(policy)
    pw = unicodedata.normalize("NFKC", password)
    try:
        if target.startswith(PBKDF2_SM3_PREFIX):
            ok = _verify_pbkdf2_sm3(target, pw)
        else:
            ok = hasher(policy).verify(target, pw)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def needs_rehash(stored: str, policy: SecurityPolicy) -> bool:
    """True when the stored hash is of another kind than the policy's, or uses other parameters."""
    try:
        if stored.startswith(PBKDF2_SM3_PREFIX):
            iterations, _salt, _key = _parse_pbkdf2_sm3(stored)
            same = policy.password_hash == "pbkdf2-sm3"
            return not same or iterations != policy.pbkdf2_sm3_iterations
        if policy.password_hash != "argon2id":
            return True
        return hasher(policy).check_needs_rehash(stored)
    except InvalidHashError:
        return True
