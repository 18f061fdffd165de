"""Opaque identifiers: a prefix and 20 random base32 characters (no meaning, not guessable)."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """A new opaque id such as 'S4F3…' (prefix + 20 chars)."""
    return prefix + base64.b32encode(secrets.token_bytes(15)).decode().lower()[:20]
