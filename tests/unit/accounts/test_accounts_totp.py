"""TOTP: ±1 step window, one use per code, no older code after a newer one, sealed secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from citycredit.accounts import totp
from citycredit.shared.errors import FieldError

T0 = datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)
KEY = b"test-secret-key-0123456789abcdef"


def test_code_accepted_once_and_older_codes_refused_after() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, T0)
    step = totp.accept(secret, code, now=T0, last_step=None)
    assert step is not None
    assert totp.accept(secret, code, now=T0, last_step=step) is None  # replay
    earlier = totp.code_at(secret, T0 - timedelta(seconds=30))
    assert totp.accept(secret, earlier, now=T0, last_step=step) is None  # older than accepted
    later = totp.code_at(secret, T0 + timedelta(seconds=30))
    assert totp.accept(secret, later, now=T0 + timedelta(seconds=30), last_step=step) == step + 1


def test_window_is_one_step_either_side() -> None:
    secret = totp.new_secret()
    for seconds, ok in ((-30, True), (30, True), (-61, False), (61, False), (0, True)):
        code = totp.code_at(secret, T0 + timedelta(seconds=seconds))
        assert (totp.accept(secret, code, now=T0, last_step=None) is not None) is ok, seconds


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", None])
def test_malformed_codes(code: str | None) -> None:
    secret = totp.new_secret()
    assert totp.accept(secret, code or "", now=T0, last_step=None) is None
    with pytest.raises(FieldError) as exc:
        totp.check_code_format(code or "")
    assert exc.value.field == "code"


def test_sealed_secret_opens_only_for_its_user_and_key() -> None:
    secret = totp.new_secret()
    sealed = totp.seal(KEY, 7, secret)
    assert secret not in sealed and sealed.startswith("v1:")
    assert totp.unseal(KEY, 7, sealed) == secret
    with pytest.raises(ValueError, match="does not open"):
        totp.unseal(KEY, 8, sealed)  # copied to another user
    with pytest.raises(ValueError, match="does not open"):
        totp.unseal(b"another-key-0123456789abcdef0000", 7, sealed)


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri(totp.new_secret(), username="sec1", issuer="citycredit")
    assert uri.startswith("otpauth://totp/citycredit:sec1?") and "issuer=citycredit" in uri
