"""Vectorised text helpers of the fast intake: JSON literals, COPY-safe text, character classes.

Every helper here is the column-wise twin of one scalar function and is tested against it
(tests/unit/ingest/test_fast_textops.py): `json_literal` against ``json.dumps(…,
ensure_ascii=False)`` (the canonical encoding of shared.canonical), `ISSPACE` against
``str.isspace``, `strip_cells` against ``str.strip``.
"""

from __future__ import annotations

import json

import polars as pl

from citycredit.shared.text import _INVISIBLE

__all__ = [
    "INVISIBLE",
    "ISSPACE",
    "char_class",
    "json_literal",
    "json_object",
    "strip_cells",
]

# Every code point Python's str.isspace() (and so str.strip() and re's \s) treats as space
# (test_fast_textops checks the list against all of Unicode). Rust's \s is Unicode White_Space,
# which lacks U+001C–U+001F: never use it for these rules.
ISSPACE = (
    "\x09\x0a\x0b\x0c\x0d\x1c\x1d\x1e\x1f\x20\x85\xa0\u1680\u2000\u2001\u2002"
    "\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f"
    "\u3000"
)
INVISIBLE = _INVISIBLE

# JSON string escapes exactly as json.dumps(ensure_ascii=False) writes them.
_JSON_FROM = ["\\", '"', *(chr(c) for c in range(0x20))]
_JSON_TO = [json.dumps(ch, ensure_ascii=False)[1:-1] for ch in _JSON_FROM]


def char_class(chars: str, *, negate: bool = False) -> str:
    """A Rust-regex character class matching exactly these code points."""
    body = "".join(f"\\x{{{ord(ch):x}}}" for ch in chars)
    return f"[{'^' if negate else ''}{body}]"


def json_literal(expr: pl.Expr) -> pl.Expr:
    """The canonical JSON string literal of a text column (null stays null)."""
    return pl.lit('"') + expr.str.replace_many(_JSON_FROM, _JSON_TO) + pl.lit('"')


def json_object(members: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """Canonical JSON object text from (key, JSON-literal expression) pairs; nulls are left out.

    Keys are sorted as shared.canonical.canonical_bytes sorts them (by code point).
    """
    parts = [pl.lit(json.dumps(key, ensure_ascii=False) + ":") + lit for key, lit in members]
    ordered = [p for _, p in sorted(zip([k for k, _ in members], parts, strict=True))]
    if not ordered:
        return pl.lit("{}")
    return pl.lit("{") + pl.concat_str(ordered, separator=",", ignore_nulls=True) + pl.lit("}")


_STRIP = ISSPACE


def strip_cells(expr: pl.Expr) -> pl.Expr:
    """``c.strip() or None`` of the readers: surrounding Unicode space removed, empty → null."""
    stripped = expr.str.strip_chars(_STRIP)
    return pl.when(stripped.str.len_bytes() > 0).then(stripped).otherwise(None)
