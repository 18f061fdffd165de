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
