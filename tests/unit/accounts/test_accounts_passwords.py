"""Password policy (ASVS 6.2) and Argon2id hashing."""

from __future__ import annotations

import pytest

from citycredit.accounts.passwords import (
    check_password,
    common_passwords,
    hash_password,
    needs_rehash,
    verify_password,
)
from citycredit.accounts.policy import AUDIT_RETENTION_FLOOR_DAYS, SecurityPolicy
from citycredit.shared.errors import FieldError

POLICY = SecurityPolicy()


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("", "required"),
        ("short pw", "too_short"),
        ("x" * 129, "too_long"),
        ("password1234", "too_common"),
        ("qwertyuiopasd", None),  # a keyboard walk plus letters is long enough to pass
        ("aaaaaaaaaaaaaaa", "too_common"),
        ("abababababababab", "too_common"),
        ("123456789012", "too_common"),
        ("woaini1314520", "too_common"),
        ("admin20262026", "too_common"),
        ("zhangsan-mima-2026", "contains_username"),
    ],
)
def test_policy_refuses_with_a_named_field(password: str, code: str | None) -> None:
    if code is None:
        assert check_password(password, policy=POLICY, username="zhangsan")
        return
    with pytest.raises(FieldError) as exc:
        check_password(password, policy=POLICY, username="zhangsan")
    assert exc.value.field == "password" and exc.value.code == code
    assert password not in str(exc.value) or password == ""  # never echoed


def test_long_passphrases_without_composition_rules_pass() -> None:
    assert check_password("榆林的羊肉面真好吃", policy=SecurityPolicy(password_min_length=8))
    assert check_password("correct horse battery staple", policy=POLICY)
    assert check_password("榆林市信用办的口令" * 8, policy=POLICY)  # 72 characters allowed


def test_common_list_is_shipped() -> None:
    words = common_passwords()
    assert {"123456", "password", "woaini1314", "5201314"} <= words
    assert all(w == w.lower() and not w.startswith("#") for w in words)
    assert len(words) >= 3000  # G4: a shipped top-3,000 list at least (both lists together)


@pytest.mark.parametrize("pw", ["webster1", "princess12", "basketball1", "Basketball1"])
def test_breach_corpus_passwords_are_refused(pw: str) -> None:
    # only in the international breach list, not in the hand-collected one
    with pytest.raises(FieldError) as err:
        check_password(pw, policy=SecurityPolicy(password_min_length=8))
    assert err.value.code == "too_common"


def test_argon2id_hash_verifies_and_is_salted() -> None:
    h1, h2 = (hash_password("correct horse battery", POLICY) for _ in range(2))
    assert h1.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and h1 != h2
    assert verify_password(h1, "correct horse battery", POLICY)
    assert not verify_password(h1, "correct horse batterY", POLICY)
    assert not verify_password(None, "correct horse battery", POLICY)  # unknown user
    assert not verify_password("not-a-hash", "x", POLICY)
    assert not needs_rehash(h1, POLICY)
    cheap = SecurityPolicy(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    weak = hash_password("correct horse battery", cheap)
    assert weak.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert verify_password(weak, "correct horse battery", POLICY)  # parameters are in the hash
    assert needs_rehash(weak, POLICY) and not needs_rehash(weak, cheap)


def test_policy_defaults_and_retention_floor() -> None:
    assert POLICY.password_max_age_days == 0  # rotation off by default (ASVS 6.2.10)
    assert (POLICY.lockout_threshold, POLICY.lockout_minutes, POLICY.session_idle_minutes) == (
        5,
        30,
        30,
    )
    assert SecurityPolicy(audit_retention_days=30).effective_audit_retention_days == 180
    assert SecurityPolicy(audit_retention_days=400).effective_audit_retention_days == 400
    assert AUDIT_RETENTION_FLOOR_DAYS == 180
    with pytest.raises(ValueError, match="password_min_length"):
        SecurityPolicy(password_min_length=6)


# -- PBKDF2-HMAC-SM3 (密评 deployments; G4 "gm") --------------------------------------------------

GM = SecurityPolicy(password_hash="pbkdf2-sm3", pbkdf2_sm3_iterations=2_000)


def test_pbkdf2_sm3_hash_is_salted_and_matches_an_independent_derivation() -> None:
    import base64
    import hashlib

    h1 = hash_password("correct horse battery", GM)
    h2 = hash_password("correct horse battery", GM)
    assert h1 != h2  # salted
    assert h1.startswith("$pbkdf2-sm3$i=2000$")
    _, kind, iterations, salt64, key64 = h1.split("$")
    salt = base64.b64decode(salt64 + "=" * (-len(salt64) % 4))
    key = base64.b64decode(key64 + "=" * (-len(key64) % 4))
    assert (kind, iterations, len(salt), len(key)) == ("pbkdf2-sm3", "i=2000", 16, 32)
    # RFC 8018 PBKDF2 with HMAC-SM3 as OpenSSL's hashlib derives it
    assert key == hashlib.pbkdf2_hmac("sm3", b"correct horse battery", salt, 2000, 32)
    assert verify_password(h1, "correct horse battery", GM)
    assert not verify_password(h1, "correct horse batterY", GM)
    assert not verify_password(None, "correct horse battery", GM)  # unknown user: dummy hash
    assert verify_password(
        hash_password("ｐａｓｓ　word phrase", GM), "pass word phrase", GM
    )  # NFKC


def test_either_kind_verifies_and_a_change_of_setting_rehashes() -> None:
    argon = SecurityPolicy(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    a = hash_password("correct horse battery", argon)
    g = hash_password("correct horse battery", GM)
    # whatever the policy, both kinds verify (accounts migrate at their next login)
    for policy in (argon, GM):
        assert verify_password(a, "correct horse battery", policy)
        assert verify_password(g, "correct horse battery", policy)
    assert needs_rehash(a, GM) and not needs_rehash(a, argon)
    assert needs_rehash(g, argon) and not needs_rehash(g, GM)
    more = GM.model_copy(update={"pbkdf2_sm3_iterations": 3_000})
    assert needs_rehash(g, more)  # other iterations


@pytest.mark.parametrize(
    "stored",
    [
        "$pbkdf2-sm3$i=2000$AAAA",  # missing key
        "$pbkdf2-sm3$n=2000$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,
        "$pbkdf2-sm3$i=x$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,
        "$pbkdf2-sm3$i=2000$AAAAAAAAAAAAAAAAAAAAAA$AAAA",  # key too short
        "$pbkdf2-sm3$i=2000$!!!$" + "A" * 43,
        "$pbkdf2-sm3$i=0$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,
    ],
)
def test_malformed_sm3_hashes_never_verify_and_are_rehashed(stored: str) -> None:
    assert not verify_password(stored, "anything at all", GM)
    assert needs_rehash(stored, GM)


def test_sm3_iterations_have_a_floor() -> None:
    assert SecurityPolicy().password_hash == "argon2id"
    assert SecurityPolicy().pbkdf2_sm3_iterations == 300_000
    with pytest.raises(ValueError, match="pbkdf2_sm3_iterations"):
        SecurityPolicy(pbkdf2_sm3_iterations=999)
    with pytest.raises(ValueError, match="password_hash"):
        SecurityPolicy(password_hash="md5")
