"""Crypto suites of the ledger: one hash for the tree and one signature scheme, fixed per log."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives import hashes


class HashSuite(Protocol):
    """The tree hash of a suite (RFC 9162 §2.1 "HASH"), output of a fixed size."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    def hash(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class _Sha256:
    """SHA-256 (RFC 9162 §2.1, the CT default) via hashlib/OpenSSL."""

    name: str = "sha256"
    size: int = 32

    def hash(self, data: bytes) -> bytes:
        """SHA-256 of data."""
        return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class _Sm3:
    """SM3 (GB/T 32905-2016) via `cryptography`, which exposes it on every supported OpenSSL."""

    name: str = "sm3"
    size: int = 32

    def hash(self, data: bytes) -> bytes:
        """SM3 of data."""
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()


SHA256: HashSuite = _Sha256()
SM3: HashSuite = _Sm3()


class Suite(StrEnum):
    """A log's suite: chosen when the log is created, never changed (security.md §2.7)."""

    sha256_ed25519 = "sha256-ed25519"
    sm3_sm2 = "sm3-sm2"


_HASHES: dict[Suite, HashSuite] = {Suite.sha256_ed25519: SHA256, Suite.sm3_sm2: SM3}


def hash_suite(suite: Suite) -> HashSuite:
    """The tree hash of a suite."""
    return _HASHES[Suite(suite)]
