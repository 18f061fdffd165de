"""Column-wise digests and identifiers: SHA-256 and HMAC-SHA-256 over columns, random ids.

Twins of `shared.digest.Digester.digest`, `shared.digest.content_hash`,
`ledger.entries.field_digest`, `PersonalCodec.keyed_digest` / `blind_index` and
`shared.idgen.new_id`, tested against them in tests/unit/ingest/test_fast_digests.py.

A column is hashed by chaining ``map`` over hashlib's C functions (``operator.add`` to join
bytes, ``methodcaller("hexdigest")``): the loop runs in C, no interpreted code per value.
(DuckDB's ``sha256`` was tried: two threads, but ~100 MB more resident memory per process for
the same work, and a 2-core machine has the other core busy with the database.)
"""

from __future__ import annotations

import hashlib
import operator
import secrets
from collections.abc import Iterator
from itertools import repeat

import numpy as np
import polars as pl

__all__ = ["Hasher", "random_bytes", "random_ids", "random_salts"]

_HEX = operator.methodcaller("hexdigest")
_DIGEST = operator.methodcaller("digest")
_FIRST16 = operator.itemgetter(slice(0, 16))


_B32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)  # lower-case RFC 4648
_FIVE_BITS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def random_ids(prefix: str, n: int) -> pl.Series:
    """n ids in the form of `new_id(prefix)`: prefix + 20 base32 characters of fresh randomness."""
    if n == 0:
        return pl.Series([], dtype=pl.String)
    # new_id: the first 20 of the 24 base32 characters of 15 random bytes, i.e. the first 100
    # bits in 5-bit groups — done here for n ids at once with numpy.
    raw = np.frombuffer(secrets.token_bytes(15 * n), dtype=np.uint8).reshape(n, 15)
    bits = np.unpackbits(raw, axis=1)[:, :100].reshape(n, 20, 5)
    chars = _B32[bits @ _FIVE_BITS]
    # Each row's 20 ASCII characters as one fixed-width numpy string (no NUL among them).
    body = pl.Series(np.ascontiguousarray(chars).view("S20").ravel().astype("U20"))
    return pl.select(pl.lit(prefix) + body).to_series()


def random_bytes(width: int, n: int) -> list[bytes]:
    """n fresh random values of `width` bytes: one system call, cut by C-level `map` loops.

    (Not through pyarrow buffers: importing pyarrow alone added ~70 MB to an intake process.)
    """
    buf = secrets.token_bytes(width * n)
    ends = range(width, width * n + 1, width)
    return list(map(buf.__getitem__, map(slice, range(0, width * n, width), ends)))


def random_salts(n: int) -> pl.Series:
    """n fresh 16-byte salts (`ledger.entries.new_salt`)."""
    return pl.Series(random_bytes(16, n), dtype=pl.Binary)


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104 inner and outer key blocks for SHA-256 (64-byte blocks)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _utf8(text: pl.Series) -> Iterator[bytes]:
    """UTF-8 of each value of a column without nulls."""
    return map(str.encode, text.to_list())


def _nulls(frame: pl.DataFrame, digests: dict[str, list[str]]) -> pl.DataFrame:
    """The digests as a frame, null wherever the input was null (two Polars steps)."""
    mask = frame.select(pl.col(list(digests)).is_null().name.prefix("n:"))
    out = pl.concat(
        [pl.DataFrame(digests, schema=dict.fromkeys(digests, pl.String)), mask], how="horizontal"
    )
    return out.select(
        pl.when(pl.col(f"n:{c}")).then(None).otherwise(pl.col(c)).alias(c) for c in digests
    )


class Hasher:
    """Hashes the columns of a submission's batches."""

    def close(self) -> None:
        """Nothing to release (kept for callers that scope a hasher)."""

    def sha256(self, text: pl.Series) -> pl.Series:
        """hex SHA-256 of the UTF-8 text of each value (null stays null)."""
        hexes = list(map(_HEX, map(hashlib.sha256, _utf8(text.fill_null("")))))
        return _nulls(pl.DataFrame({"v": text}), {"v": hexes})["v"]

    def hmac(self, key: bytes, prefix: bytes, text: pl.Series) -> pl.Series:
        """hex HMAC-SHA-256(key, prefix ‖ UTF-8 text) of each value (null stays null)."""
        ipad, opad = _hmac_pads(key)
        inner = map(
            _DIGEST,
            map(
                hashlib.sha256, map(operator.add, repeat(ipad + prefix), _utf8(text.fill_null("")))
            ),
        )
        outer = map(hashlib.sha256, map(operator.add, repeat(opad), inner))
        return _nulls(pl.DataFrame({"v": text}), {"v": list(map(_HEX, outer))})["v"]

    def field_digests(self, salts: pl.Series, literals: pl.DataFrame) -> pl.DataFrame:
        """`ledger.entries.field_digest` of each field literal under each row's record salt.

        ``literals`` has one column per field code; a null literal gives a null digest.
        """
        salt_list = salts.to_list()
        digests: dict[str, list[str]] = {}
        counts = literals.null_count().row(0, named=True)
        filled = literals.fill_null("")  # digests of nulls are dropped again by _nulls
        for code in literals.columns:
            literal = filled[code]
            if counts[code] == literals.height:
                continue
            tag = b"\x00field\x00" + code.encode()
            field_salts = map(
                _FIRST16,
                map(_DIGEST, map(hashlib.sha256, map(operator.add, salt_list, repeat(tag)))),
            )
            hexes = map(_HEX, map(hashlib.sha256, map(operator.add, field_salts, _utf8(literal))))
            digests[code] = list(hexes)
        height = literals.height
        absent = [c for c in literals.columns if c not in digests]
        parts = [pl.select(pl.repeat(None, n=height, dtype=pl.String).alias(c) for c in absent)]
        if digests:
            parts.insert(0, _nulls(literals, digests))
        return pl.concat([p for p in parts if p.width], how="horizontal").select(literals.columns)
