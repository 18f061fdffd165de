"""Personal data at rest: authenticated encryption of natural persons' fields and a blind index.

A natural person's ID number, phone number and address never reach the database in clear: the
fields of one row are sealed together into a JSON-safe envelope (docs/adr/0008)::

    {"enc": "cc-personal/1", "kid": "20261125-3fa2", "alg": "aes-256-gcm" | "sm4-gcm",
     "fields": ["CF_XDR_ZJHM", ...], "nonce": "<b64>", "ct": "<b64 ciphertext+tag>"}

The associated data binds the envelope to its row (``aad``, e.g. ``record_versions:r…/2``),
its key id, algorithm and field list, so a ciphertext moved to another row, or an edited field
list, fails to open. Keys come from a keyring file kept outside the database; the newest key
that is not retired seals, every key in the ring opens (a retired key only opens), and
``citycredit crypto rotate`` re-seals old envelopes.
Exact lookup uses a keyed blind index (HMAC-SHA-256, or HMAC-SM3 for 密评) under a separate
key. This module is pure: no database, no permissions (those are in citycredit.privacy).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from citycredit.shared.errors import CityCreditError

__all__ = [
    "ALGORITHMS",
    "ENVELOPE",
    "CipherName",
    "Keyring",
    "PersonalCodec",
    "PersonalDataError",
    "PersonalKey",
    "generate_keyring",
    "is_sealed",
    "normalise_for_index",
    "sealed_fields",
]

ENVELOPE = "cc-personal/1"
KEYRING_FORMAT = "citycredit-personal-keys/1"
CipherName = Literal["aes-256-gcm", "sm4-gcm"]
ALGORITHMS: dict[str, int] = {"aes-256-gcm": 32, "sm4-gcm": 16}  # algorithm → key bytes
INDEX_ALGORITHMS: dict[str, str] = {"hmac-sha256": "sha256", "hmac-sm3": "sm3"}
NONCE_BYTES = 12  # 96-bit GCM nonce, random per seal (NIST SP 800-38D §8.2.2)
TAG_BYTES = 16
PAD_TO = 16  # plaintext padded with spaces to a multiple: lengths say less about contents


class PersonalDataError(CityCreditError):
    """A sealed value cannot be opened (tampered, moved, or its key is not in the ring)."""

    default_code = "personal_data"


@dataclass(frozen=True)
class PersonalKey:
    """One data key of the ring; a retired key (``retired``: when) opens but never seals."""

    kid: str
    alg: str
    key: bytes = field(repr=False)
    created: str = ""
    retired: str = ""

    def __post_init__(self) -> None:
        if self.alg not in ALGORITHMS:
            raise PersonalDataError(
                f"个人信息密钥 {self.kid} 的算法 {self.alg} 不受支持（可选 "
                f"{'、'.join(ALGORITHMS)}）",
                code="personal_key_invalid",
            )
        if len(self.key) != ALGORITHMS[self.alg]:
            raise PersonalDataError(
                f"个人信息密钥 {self.kid} 长度 {len(self.key)} 字节，{self.alg} 需要 "
                f"{ALGORITHMS[self.alg]} 字节",
                code="personal_key_invalid",
            )


@dataclass(frozen=True)
class Keyring:
    """The data keys (oldest first; the last one not retired seals) and the blind-index key."""

    keys: tuple[PersonalKey, ...]
    index_kid: str
    index_alg: str
    index_key: bytes = field(repr=False)
    dev: bool = False

    def __post_init__(self) -> None:
        if not self.keys:
            raise PersonalDataError("个人信息密钥环中没有数据密钥", code="personal_key_invalid")
        if all(k.retired for k in self.keys):
            raise PersonalDataError(
                "个人信息密钥环中没有未停用的数据密钥（停用的密钥只能解密）",
                code="personal_key_invalid",
            )
        if len({k.kid for k in self.keys}) != len(self.keys):
            raise PersonalDataError("个人信息密钥环中有重复的密钥编号", code="personal_key_invalid")
        if self.index_alg not in INDEX_ALGORITHMS or len(self.index_key) < 32:
            raise PersonalDataError(
                f"盲索引密钥 {self.index_kid} 无效（算法 {self.index_alg}，需 32 字节以上）",
                code="personal_key_invalid",
            )
        if any(k.key == self.index_key for k in self.keys):
            raise PersonalDataError("盲索引密钥不能与数据密钥相同", code="personal_key_invalid")

    @property
    def current(self) -> PersonalKey:
        """The key that seals: the newest one not retired."""
        return next(k for k in reversed(self.keys) if not k.retired)

    def get(self, kid: str) -> PersonalKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    # -- the file form --------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEYRING_FORMAT,
                "dev": self.dev,
                "index": {
                    "kid": self.index_kid,
                    "alg": self.index_alg,
                    "key": _b64(self.index_key),
                },
                "keys": [
                    {"kid": k.kid, "alg": k.alg, "key": _b64(k.key), "created": k.created}
                    | ({"retired": k.retired} if k.retired else {})
                    for k in self.keys
                ],
            },
            ensure_ascii=False,
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = "keyring") -> Keyring:
        try:
            doc = json.loads(text)
            if doc.get("format") != KEYRING_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            idx = doc["index"]
            return cls(
                keys=tuple(
                    PersonalKey(
                        k["kid"],
                        k["alg"],
                        _unb64(k["key"]),
                        k.get("created", ""),
                        str(k.get("retired") or ""),
                    )
                    for k in doc["keys"]
                ),
                index_kid=idx["kid"],
                index_alg=idx["alg"],
                index_key=_unb64(idx["key"]),
                dev=bool(doc.get("dev", False)),
            )
        except PersonalDataError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise PersonalDataError(
                f"个人信息密钥环 {source} 无法读取：{e}", code="personal_key_invalid"
            ) from e

    @classmethod
    def load(cls, path: Path) -> Keyring:
        return cls.from_json(path.read_text(encoding="utf-8"), source=str(path))

    def save(self, path: Path) -> None:
        """Write the ring atomically with owner-only permissions."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_json() + "\n")
        os.replace(tmp, path)

    # -- key life cycle --------------------------------------------------------------------
    def with_new_key(self, alg: str, *, now: datetime) -> Keyring:
        """A ring whose newest (sealing) key is a fresh one of the given algorithm."""
        return Keyring(
            keys=(*self.keys, new_key(alg, now=now)),
            index_kid=self.index_kid,
            index_alg=self.index_alg,
            index_key=self.index_key,
            dev=self.dev,
        )

    def retire(self, kid: str, *, now: datetime) -> Keyring:
        """A ring in which key `kid` is retired: it still opens, it never seals again.

        The key stays in the ring so that a value sealed with it by a process that still had the
        old ring (docs/personal-data.md) stays readable and is re-sealed by the next rotation.
        """
        key = self._retirable(kid)
        if key.retired:
            return self
        when = now.astimezone(UTC).isoformat(timespec="seconds")
        return Keyring(
            keys=tuple(
                PersonalKey(k.kid, k.alg, k.key, k.created, when) if k.kid == kid else k
                for k in self.keys
            ),
            index_kid=self.index_kid,
            index_alg=self.index_alg,
            index_key=self.index_key,
            dev=self.dev,
        )

    def without(self, kid: str) -> Keyring:
        """A ring without key `kid` at all (the sealing key cannot be removed)."""
        self._retirable(kid)
        return Keyring(
            keys=tuple(k for k in self.keys if k.kid != kid),
            index_kid=self.index_kid,
            index_alg=self.index_alg,
            index_key=self.index_key,
            dev=self.dev,
        )

    def _retirable(self, kid: str) -> PersonalKey:
        key = self.get(kid)
        if key is None:
            raise PersonalDataError(f"密钥环中没有密钥 {kid}", code="personal_key_unknown")
        if kid == self.current.kid:
            raise PersonalDataError(
                f"密钥 {kid} 是当前加密密钥，不能停用", code="personal_key_current"
            )
        return key


def new_key(alg: str, *, now: datetime) -> PersonalKey:
    """A random data key; its id is its creation day and four random hex digits."""
    when = now.astimezone(UTC)
    if alg not in ALGORITHMS:
        raise PersonalDataError(
            f"算法 {alg} 不受支持（可选 {'、'.join(ALGORITHMS)}）", code="personal_key_invalid"
        )
    return PersonalKey(
        kid=f"{when:%Y%m%d}-{secrets.token_hex(2)}",
        alg=alg,
        key=secrets.token_bytes(ALGORITHMS[alg]),
        created=when.isoformat(timespec="seconds"),
    )


def generate_keyring(alg: str, *, now: datetime, dev: bool = False) -> Keyring:
    """A new ring: one data key of `alg`, a blind-index key (HMAC-SM3 with SM4, else SHA-256)."""
    index_alg = "hmac-sm3" if alg == "sm4-gcm" else "hmac-sha256"
    return Keyring(
        keys=(new_key(alg, now=now),),
        index_kid=f"i-{secrets.token_hex(4)}",
        index_alg=index_alg,
        index_key=secrets.token_bytes(32),
        dev=dev,
    )


def is_sealed(stored: object) -> bool:
    """True for an envelope; False for a legacy plaintext dict (sealed by `crypto rotate`)."""
    return isinstance(stored, Mapping) and stored.get("enc") == ENVELOPE


def sealed_fields(stored: Mapping[str, Any] | None) -> list[str]:
    """Field codes held by a stored value, sealed or not, without opening it."""
    if not stored:
        return []
    if is_sealed(stored):
        return list(stored.get("fields") or [])
    return sorted(stored)


def normalise_for_index(kind: str, value: str) -> str:
    """The form a value is indexed under: ID numbers upper-case, phones digits only."""
    text = "".join(str(value).split())
    if kind == "phone":
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    return text.upper()


class PersonalCodec:
    """Seals and opens the personal fields of one row; computes blind-index values."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._index_hash = INDEX_ALGORITHMS[keyring.index_alg]
        self._aes = {k.kid: AESGCM(k.key) for k in keyring.keys if k.alg == "aes-256-gcm"}

    @property
    def key_id(self) -> str:
        """Id of the key that seals."""
        return self.keyring.current.kid

    @property
    def algorithm(self) -> str:
        return self.keyring.current.alg

    def seal(self, personal: Mapping[str, Any], *, aad: str) -> dict[str, Any]:
        """Encrypt a dict of JSON-safe field values under the newest key, bound to `aad`.

        A row without personal values gets the compact marker ``{"enc", "fields": []}``: there
        is nothing to protect, most rows are organisations', and the marker still tells a new
        row from a legacy one (so rotation never revisits it).
        """
        if not personal:
            return {"enc": ENVELOPE, "fields": []}
        key = self.keyring.current
        fields = sorted(personal)
        plain = json.dumps(
            dict(personal), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()
        plain += b" " * (-len(plain) % PAD_TO)
        nonce = secrets.token_bytes(NONCE_BYTES)
        ad = associated_data(key.kid, key.alg, fields, aad)
        ct = _encrypt(key, nonce, plain, ad, self._aes.get(key.kid))
        return {
            "enc": ENVELOPE,
            "kid": key.kid,
            "alg": key.alg,
            "fields": fields,
            "nonce": _b64(nonce),
            "ct": _b64(ct),
        }

    def open(self, stored: Mapping[str, Any] | None, *, aad: str) -> dict[str, Any]:
        """The clear fields of an envelope (a legacy plaintext dict is returned as it is)."""
        if not stored:
            return {}
        if not is_sealed(stored):
            return dict(stored)
        if not stored.get("fields") and "ct" not in stored:
            return {}  # the marker of a row without personal values
        kid, alg = str(stored.get("kid")), str(stored.get("alg"))
        key = self.keyring.get(kid)
        if key is None:
            raise PersonalDataError(
                f"个人信息密文使用的密钥 {kid} 不在密钥环中（{aad}）", code="personal_key_unknown"
            )
        if key.alg != alg:
            raise PersonalDataError(
                f"个人信息密文的算法 {alg} 与密钥 {kid} 的算法 {key.alg} 不符（{aad}）",
                code="personal_data_tampered",
            )
        try:
            fields = list(stored["fields"])
            nonce, ct = _unb64(stored["nonce"]), _unb64(stored["ct"])
            plain = _decrypt(
                key, nonce, ct, associated_data(kid, alg, fields, aad), self._aes.get(kid)
            )
            out = json.loads(plain)
        except (InvalidTag, KeyError, TypeError, ValueError) as e:
            raise PersonalDataError(
                f"个人信息密文无法解密：已被篡改、移动或不属于此记录（{aad}）",
                code="personal_data_tampered",
            ) from e
        if not isinstance(out, dict) or sorted(out) != fields:
            raise PersonalDataError(
                f"个人信息密文内容与字段清单不符（{aad}）", code="personal_data_tampered"
            )
        return out

    def needs_rotation(self, stored: Mapping[str, Any] | None) -> bool:
        """True for plaintext and for envelopes not sealed with the newest key."""
        if not is_sealed(stored):
            return True
        kid = (stored or {}).get("kid")
        return kid is not None and kid != self.key_id

    def blind_index(self, kind: str, value: str) -> str:
        """Keyed digest for exact lookup of an ID number or phone (the index key, not data keys)."""
        msg = f"{kind}\x00{normalise_for_index(kind, value)}".encode()
        return hmac.new(self.keyring.index_key, msg, self._index_hash).hexdigest()

    def aes_cipher(self, kid: str) -> AESGCM:
        """The AES-GCM cipher of an AES data key (column-wise sealing in ingest/fast)."""
        cipher = self._aes.get(kid)
        if cipher is None:
            raise PersonalDataError(
                f"密钥 {kid} 不是 AES-256-GCM 数据密钥", code="personal_key_unknown"
            )
        return cipher

    def keyed_digest(self, data: bytes, *, label: bytes = b"content") -> str:
        """Keyed digest of arbitrary bytes under the index key and a label: content hashes over
        personal values (``content``), personal values as ledger leaves commit to them
        (``ledger``, `privacy.records.ledger_personal`)."""
        msg = label + b"\x00" + data
        return hmac.new(self.keyring.index_key, msg, self._index_hash).hexdigest()


def associated_data(kid: str, alg: str, fields: list[str], aad: str) -> bytes:
    return json.dumps(
        {"enc": ENVELOPE, "kid": kid, "alg": alg, "fields": fields, "ctx": aad},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def _encrypt(key: PersonalKey, nonce: bytes, plain: bytes, ad: bytes, aes: AESGCM | None) -> bytes:
    if aes is not None:
        return aes.encrypt(nonce, plain, ad)
    # SM4-GCM (GB/T 32907 block cipher in NIST GCM mode): the AEAD classes have no SM4, the
    # Cipher API does; ciphertext || 16-byte tag, the same layout as AESGCM.
    enc = Cipher(algorithms.SM4(key.key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(ad)
    return enc.update(plain) + enc.finalize() + enc.tag


def _decrypt(key: PersonalKey, nonce: bytes, data: bytes, ad: bytes, aes: AESGCM | None) -> bytes:
    if aes is not None:
        return aes.decrypt(nonce, data, ad)
    if len(data) < TAG_BYTES:
        raise InvalidTag()
    dec = Cipher(algorithms.SM4(key.key), modes.GCM(nonce, data[-TAG_BYTES:])).decryptor()
    dec.authenticate_additional_data(ad)
    return dec.update(data[:-TAG_BYTES]) + dec.finalize()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode("ascii"), validate=True)
