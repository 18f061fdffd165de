"""TOTP second factor (RFC 6238): enrolment, sealed secrets, one use per code.

The secret is sealed with AES-256-GCM under a key derived from the deployment secret, bound to
the user's id (a sealed secret copied to another user does not open). A code is accepted at most
once: the last accepted time step is kept and a code of the same or an earlier step is refused
(RFC 6238 §5.2; ASVS 6.5.1). The window is one step either side (clock drift), 30-second steps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from citycredit.shared.errors import FieldError

SEAL_VERSION = "v1"
STEP_SECONDS = 30
WINDOW = 1


def _key(secret_key: bytes) -> bytes:
    return hmac.new(secret_key, b"citycredit totp-secret seal v1", hashlib.sha256).digest()


def _aad(user_id: int) -> bytes:
    return f"users.totp_secret:{user_id}".encode()


def new_secret() -> str:
    """A fresh 160-bit base32 secret (the size authenticator apps expect)."""
    return pyotp.random_base32(32)


def seal(secret_key: bytes, user_id: int, secret: str) -> str:
    """Encrypt a TOTP secret for storage in users.totp_secret."""
    nonce = secrets.token_bytes(12)
    ct = AESGCM(_key(secret_key)).encrypt(nonce, secret.encode(), _aad(user_id))
    return f"{SEAL_VERSION}:" + base64.urlsafe_b64encode(nonce + ct).decode()


def unseal(secret_key: bytes, user_id: int, sealed: str) -> str:
    """Decrypt a stored TOTP secret; a tampered or moved value raises ValueError."""
    version, _, body = sealed.partition(":")
    if version != SEAL_VERSION:
        raise ValueError(f"unknown TOTP seal version {version!r}")
    raw = base64.urlsafe_b64decode(body.encode())
    try:
        return AESGCM(_key(secret_key)).decrypt(raw[:12], raw[12:], _aad(user_id)).decode()
    except InvalidTag as exc:
        raise ValueError("TOTP secret does not open for this user") from exc


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    """otpauth:// URI for an authenticator app (shown once, at enrolment)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator shows at a time (tests and the enrolment check)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(at)


def accept(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step of a valid, unused code, or None.

    Valid: six digits matching a step within ±1 of now. Unused: later than the last accepted
    step, so replaying a code, or using an older code after a newer one, fails.
    """
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = totp.timecode(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_code_format(code: str) -> str:
    """The code as typed, or a FieldError naming the field."""
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        raise FieldError("code", code, "invalid", "动态口令应为 6 位数字")
    return code
