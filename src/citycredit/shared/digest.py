"""Keyed digests: ID numbers and tokens are stored only as HMAC-SHA256 under the deployment key."""

from __future__ import annotations

import hashlib
import hmac


class Digester:
    """HMAC-SHA256 with a domain label, so a digest of one kind never equals another kind's."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("digest key too short")
        self._key = key

    def digest(self, kind: str, value: str) -> str:
        """Hex digest of value under the deployment key and a kind label."""
        return hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def content_hash(payload: bytes) -> str:
    """Unkeyed SHA-256 of canonical bytes (record content comparison)."""
    return hashlib.sha256(payload).hexdigest()
