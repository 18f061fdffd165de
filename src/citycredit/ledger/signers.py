"""C2SP signed-note keys: Ed25519 (type 0x01) and SM2-with-SM3 (type 0xff + identifier).

Key strings follow golang.org/x/mod/sumdb/note and c2sp.org/signed-note:
  verifier key  <name>+<hex key id>+<base64(type || public key)>
  signer key    PRIVATE+KEY+<name>+<hex key id>+<base64(type || private key)>
  key id        SHA-256(name || 0x0A || type || public key)[:4]      (signed-note §Signatures)

SM2 has no assigned type byte. signed-note reserves 0xff "for signature types without an
identifier byte assigned by this specification" and recommends that a longer identifier
follow it, so our type is 0xff || "citycredit.sm2-sm3.v1"; the identifier is part of the
key encoding (and so of the key id), never of the signature. Verifiers of other
ecosystems do not know the type and ignore such signatures, as the spec requires.
SM2 signing is GB/T 32918.2 with SM3, the default user ID "1234567812345678" in Z_A
(GM/T 0009), public key 0x04 || X || Y (65 bytes), signature r || s (32 + 32 bytes,
big-endian, fixed width; not DER). Runtime implementation: gmalg (pure Python).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Protocol

import gmalg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from citycredit.ledger.suites import Suite

ALG_ED25519 = 0x01  # signed-note: "0x01 — Ed25519 signatures as specified by this document"
ALG_EXTENDED = 0xFF  # signed-note: reserved for types without an assigned byte (+ identifier)
SM2_TYPE_ID = b"citycredit.sm2-sm3.v1"
SM2_DEFAULT_UID = b"1234567812345678"  # GM/T 0009-2012 default user ID for Z_A
SM2_N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123  # curve order

_HEX_ID = re.compile(r"[0-9a-f]{8}")


class KeyFormatError(ValueError):
    """A key string or key material is malformed or does not match its key id."""


class NoteVerifier(Protocol):
    """Checks signatures of one (name, key id)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    @property
    def alg(self) -> int: ...

    def verify(self, msg: bytes, sig: bytes) -> bool: ...


class NoteSigner(Protocol):
    """Signs note text under one (name, key id); an HSM-backed signer fits the same shape."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    @property
    def alg(self) -> int: ...

    def sign(self, msg: bytes) -> bytes: ...

    def verifier(self) -> NoteVerifier: ...


def valid_key_name(name: str) -> bool:
    """signed-note: non-empty, no Unicode spaces, no '+' (and no control characters)."""
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in name)
    )


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || alg || public key encoding), per signed-note."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not valid_key_name(name):
        raise KeyFormatError(f"密钥名称不合法 / invalid key name {name!r}")


class Ed25519Verifier:
    """Ed25519 (RFC 8032) note verifier, type 0x01."""

    alg = ALG_ED25519
    suite = Suite.sha256_ed25519

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name)
        if len(public_key) != 32:
            raise KeyFormatError("Ed25519 公钥须为32字节 / Ed25519 public key must be 32 bytes")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_material = self.public_key  # the bytes after the type byte in a vkey
        self.key_id = key_id(name, self.alg, self.key_material)
        try:
            self._key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as exc:
            raise KeyFormatError("Ed25519 公钥无效 / invalid Ed25519 public key") from exc

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True if sig is a valid Ed25519 signature of msg."""
        if len(sig) != 64:
            return False
        try:
            self._key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


class Ed25519Signer:
    """Ed25519 note signer holding the 32-byte seed."""

    alg = ALG_ED25519
    suite = Suite.sha256_ed25519

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise KeyFormatError("Ed25519 私钥须为32字节 / Ed25519 seed must be 32 bytes")
        self._seed = bytes(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(self._seed)
        self._verifier = Ed25519Verifier(name, self._key.public_key().public_bytes_raw())
        self.name = name
        self.key_id = self._verifier.key_id

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        """A new random key."""
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    def private_material(self) -> bytes:
        """The bytes after the type byte in a signer key (the seed)."""
        return self._seed

    def sign(self, msg: bytes) -> bytes:
        """64-byte Ed25519 signature."""
        return self._key.sign(msg)

    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return self._verifier


def _sm2_public_ok(public_key: bytes) -> bool:
    if len(public_key) != 65 or public_key[0] != 0x04:
        return False
    try:  # on the curve, not infinity, order n (gmalg's checks)
        return bool(gmalg.SM2().verify_pk(public_key))
    except Exception:
        return False


class Sm2Verifier:
    """SM2-with-SM3 note verifier (GB/T 32918.2, default user ID), type 0xff + identifier."""

    alg = ALG_EXTENDED
    suite = Suite.sm3_sm2

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name)
        if not _sm2_public_ok(public_key):
            raise KeyFormatError("SM2 公钥无效 / SM2 public key must be a 65-byte point 04||X||Y")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_material = SM2_TYPE_ID + self.public_key
        self.key_id = key_id(name, self.alg, self.key_material)
        self._sm2 = gmalg.SM2(uid=SM2_DEFAULT_UID, pk=self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True if sig is a valid 64-byte r||s SM2 signature of msg."""
        if len(sig) != 64:
            return False
        try:
            return bool(self._sm2.verify(msg, sig[:32], sig[32:]))
        except Exception:  # gmalg raises on degenerate inputs; a forged signature is just False
            return False


class Sm2Signer:
    """SM2-with-SM3 note signer holding the 32-byte private scalar d (1 <= d <= n-2)."""

    alg = ALG_EXTENDED
    suite = Suite.sm3_sm2

    def __init__(self, name: str, secret: bytes) -> None:
        _check_name(name)
        d = int.from_bytes(secret, "big")
        if len(secret) != 32 or not 1 <= d <= SM2_N - 2:
            raise KeyFormatError("SM2 私钥无效 / SM2 private key must be 32 bytes in [1, n-2]")
        self._secret = bytes(secret)
        public_key = gmalg.SM2().generate_pk(self._secret)
        self._sm2 = gmalg.SM2(sk=self._secret, uid=SM2_DEFAULT_UID, pk=public_key)
        self._verifier = Sm2Verifier(name, public_key)
        self.name = name
        self.key_id = self._verifier.key_id

    @classmethod
    def generate(cls, name: str) -> Sm2Signer:
        """A new random key (gmalg draws d from `secrets`)."""
        secret, _ = gmalg.SM2().generate_keypair()
        return cls(name, secret.rjust(32, b"\x00"))

    def private_material(self) -> bytes:
        """The bytes after the type byte in a signer key: identifier || d."""
        return SM2_TYPE_ID + self._secret

    def sign(self, msg: bytes) -> bytes:
        """64-byte r||s; the nonce k comes from `secrets` inside gmalg, fresh every call."""
        r, s = self._sm2.sign(msg)
        return r.rjust(32, b"\x00") + s.rjust(32, b"\x00")

    def verifier(self) -> Sm2Verifier:
        """The matching verifier."""
        return self._verifier


def generate_signer(name: str, suite: Suite) -> NoteSigner:
    """A new random signer for the suite's signature scheme."""
    if Suite(suite) is Suite.sha256_ed25519:
        return Ed25519Signer.generate(name)
    return Sm2Signer.generate(name)


def suite_of(key: NoteSigner | NoteVerifier) -> Suite:
    """The suite whose signature scheme a key uses."""
    suite = getattr(key, "suite", None)
    if isinstance(suite, Suite):
        return suite
    if key.alg == ALG_ED25519:
        return Suite.sha256_ed25519
    raise KeyFormatError(f"未知签名类型 / unknown signature type 0x{key.alg:02x}")


def _b64decode(text: str) -> bytes:
    """Strict, canonical standard base64 (RFC 4648 §4)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("base64 无效 / invalid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise KeyFormatError("base64 不规范 / non-canonical base64")
    return raw


def _split_material(payload: bytes) -> tuple[int, bytes]:
    if not payload:
        raise KeyFormatError("密钥为空 / empty key")
    alg, rest = payload[0], payload[1:]
    if alg == ALG_ED25519:
        return alg, rest
    if alg == ALG_EXTENDED and rest.startswith(SM2_TYPE_ID):
        return alg, rest[len(SM2_TYPE_ID) :]
    raise KeyFormatError(f"未知签名类型 / unknown signature type 0x{alg:02x}")


def _parse_id(hex_id: str) -> bytes:
    if not _HEX_ID.fullmatch(hex_id):
        raise KeyFormatError("密钥ID须为8位小写十六进制 / key id must be 8 lowercase hex digits")
    return bytes.fromhex(hex_id)


def verifier_from_vkey(vkey: str) -> NoteVerifier:
    """Parse "<name>+<hex key id>+<base64(type || public key)>" and check its key id."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError("验证密钥格式错误 / malformed verifier key")
    name, hex_id, b64 = parts
    _check_name(name)
    want_id = _parse_id(hex_id)
    alg, key = _split_material(_b64decode(b64))
    v: Ed25519Verifier | Sm2Verifier
    v = Ed25519Verifier(name, key) if alg == ALG_ED25519 else Sm2Verifier(name, key)
    if v.key_id != want_id:
        raise KeyFormatError("密钥ID与公钥不符 / key id does not match the key")
    return v


def verifier_to_vkey(v: NoteVerifier) -> str:
    """The verifier key string of one of our verifiers."""
    material = getattr(v, "key_material", None)
    if not isinstance(material, bytes):
        raise TypeError("verifier does not expose its public key material")
    payload = base64.b64encode(bytes([v.alg]) + material).decode()
    return f"{v.name}+{v.key_id.hex()}+{payload}"


def signer_from_skey(skey: str) -> NoteSigner:
    """Parse "PRIVATE+KEY+<name>+<hex key id>+<base64(type || key)>" and check its key id."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise KeyFormatError("签名密钥格式错误 / malformed signer key")
    _, _, name, hex_id, b64 = parts
    _check_name(name)
    want_id = _parse_id(hex_id)
    alg, key = _split_material(_b64decode(b64))
    s: Ed25519Signer | Sm2Signer
    s = Ed25519Signer(name, key) if alg == ALG_ED25519 else Sm2Signer(name, key)
    if s.key_id != want_id:  # the id hashes the public key, derived from the private one
        raise KeyFormatError("密钥ID与公钥不符 / key id does not match the key")
    return s


def signer_to_skey(signer: NoteSigner) -> str:
    """The private key string of one of our signers (secret: store it as a secret)."""
    if not isinstance(signer, Ed25519Signer | Sm2Signer):
        raise TypeError("only software signers can be exported")
    payload = base64.b64encode(bytes([signer.alg]) + signer.private_material()).decode()
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id.hex()}+{payload}"
