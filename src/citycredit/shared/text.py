"""Text normalisation for codes, free text and names (full-width forms, stray whitespace, brackets).

Chinese data entry mixes full-width forms (U+FF01–U+FF5E, the "Halfwidth and Fullwidth Forms"
block, and U+3000 IDEOGRAPHIC SPACE) with ASCII; these helpers make such values comparable.
"""

from __future__ import annotations

import re

__all__ = ["normalise_code", "normalise_name", "normalise_text", "to_halfwidth"]

# U+FF01..U+FF5E map 1:1 onto U+0021..U+007E (offset 0xFEE0); U+3000 is the ideographic space.
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20

# Only the full-width digits and Latin letters: Chinese text keeps its own punctuation (，：（）).
_HALFWIDTH_ALNUM = {
    cp: cp - 0xFEE0
    for cp in range(0xFF01, 0xFF5F)
    if chr(cp - 0xFEE0).isascii() and chr(cp - 0xFEE0).isalnum()
}
_HALFWIDTH_ALNUM[0x3000] = 0x20

# Invisible characters that are not `str.isspace()` but end up in pasted values.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
# `\s` on str patterns covers Unicode whitespace, including NBSP (U+00A0) and U+3000.
_WHITESPACE_RE = re.compile(r"\s+")
# Hyphen-like separators typed inside codes: ASCII '-', '－' (after to_halfwidth it is '-'),
# and the Unicode dashes U+2010..U+2015 and minus sign U+2212.
_CODE_JUNK_RE = re.compile(f"[\\s{_INVISIBLE}\\-\u2010-\u2015\u2212]+")

# Bracket unification for names: （）【】〔〕[] and their half-/full-width twins → ().
_BRACKETS = str.maketrans(
    {
        "（": "(",
        "）": ")",
        "【": "(",
        "】": ")",
        "〔": "(",
        "〕": ")",
        "[": "(",
        "]": ")",
        "［": "(",
        "］": ")",
    }
)


def to_halfwidth(s: str) -> str:
    """Convert full-width ASCII forms (U+FF01–FF5E) and U+3000 to their half-width equivalents."""
    return s.translate(_HALFWIDTH)


def normalise_code(raw: str) -> str:
    """Normalise an identifier: half-width, drop all whitespace and hyphens, upper-case."""
    return _CODE_JUNK_RE.sub("", to_halfwidth(raw)).upper()


def normalise_text(raw: str) -> str:
    """Normalise free text: half-width digits/letters, collapse whitespace to one space, strip."""
    text = _INVISIBLE_RE.sub("", raw.translate(_HALFWIDTH_ALNUM))
    return _WHITESPACE_RE.sub(" ", text).strip()


def normalise_name(name: str) -> str:
    """Normalise an organisation/person name for exact matching (no suffix stripping)."""
    text = to_halfwidth(name).translate(_BRACKETS)
    text = _INVISIBLE_RE.sub("", _WHITESPACE_RE.sub("", text))
    return text.upper()
