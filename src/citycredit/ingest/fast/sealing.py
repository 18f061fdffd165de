"""Sealing a column of personal-field sets: `PersonalCodec.seal`, a batch at a time.

The envelope, its associated data and its padding are the codec's (shared.personal); here the
texts around the cipher are assembled column-wise and only ``AESGCM.encrypt`` runs per row
(through ``map``, no interpreted loop). The associated-data layout is taken from the codec's
own `associated_data` by sealing a marker, so there is one definition of it.
tests/unit/ingest/test_fast_sealing.py opens every envelope with `PersonalCodec.open`.
Keys other than AES-256-GCM (SM4-GCM for 密评) fall back to `PersonalCodec.seal` per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import polars as pl

from citycredit.ingest.fast.digests import random_bytes
from citycredit.ingest.fast.textops import json_literal
from citycredit.shared import personal as personal_module
from citycredit.shared.personal import ENVELOPE, NONCE_BYTES, PAD_TO, PersonalCodec

__all__ = ["aad_column", "seal_column"]

_CTX = "\x02ctx"
_FIELD = "\x01field"


def aad_column(
    template: Callable[..., str], *columns: pl.Expr, markers: Sequence[object]
) -> pl.Expr:
    """An aad per row from the codec-side function that formats it (e.g. `version_aad`).

    ``template`` is called once with ``markers``; each marker's text in the result is replaced by
    the matching column.
    """
    text = template(*markers)
    parts: list[pl.Expr] = []
    for marker, col in zip(markers, columns, strict=True):
        head, _, text = text.partition(str(marker))
        parts += [pl.lit(head), col.cast(pl.String)]
    parts.append(pl.lit(text))
    return pl.concat_str(parts)


def seal_column(
    codec: PersonalCodec, codes: Sequence[str], personal: pl.Series, aads: pl.Series
) -> pl.Series:
    """The stored envelope (JSON text) of each canonical personal-fields JSON under its aad."""
    key = codec.keyring.current
    if key.alg != "aes-256-gcm":
        return pl.Series(
            [
                json.dumps(codec.seal(json.loads(p), aad=a), ensure_ascii=False)
                for p, a in zip(personal.to_list(), aads.to_list(), strict=True)
            ],
            dtype=pl.String,
        )
    empty = personal == "{}"
    marker = codec.seal({}, aad="\x01a")
    if marker == codec.seal({}, aad="\x01b") and bool(empty.any()):
        # A set without personal values gets the codec's constant marker, not a cipher.
        out = pl.Series("sealed", [None] * personal.len(), dtype=pl.String)
        full = ~empty
        if bool(full.any()):
            out = out.scatter(
                full.arg_true(), seal_column(codec, codes, personal.filter(full), aads.filter(full))
            )
        text = json.dumps(marker, ensure_ascii=False)
        return pl.select(pl.when(empty).then(pl.lit(text)).otherwise(out)).to_series()
    n = personal.len()
    frame = pl.DataFrame({"p": personal, "aad": aads})
    present = [
        pl.when(pl.col("p").str.contains(f"{json.dumps(code)}:", literal=True)).then(
            pl.lit(json.dumps(code))
        )
        for code in sorted(codes)
    ]
    fields = pl.lit("[") + pl.concat_str(present, separator=",", ignore_nulls=True) + pl.lit("]")
    # The associated data exactly as the codec writes it, with the row's context and fields.
    sample = personal_module.associated_data(key.kid, key.alg, [_FIELD], _CTX).decode()
    before_ctx, _, rest = sample.partition(json.dumps(_CTX))
    between, _, after = rest.partition(json.dumps([_FIELD], ensure_ascii=False))
    size = pl.col("p").str.len_bytes()
    pad = (PAD_TO - size % PAD_TO) % PAD_TO
    frame = frame.with_columns(fields.alias("fields")).with_columns(
        (
            pl.lit(before_ctx)
            + json_literal(pl.col("aad"))
            + pl.lit(between)
            + pl.col("fields")
            + pl.lit(after)
        ).alias("ad"),
        pl.concat_str([pl.col("p"), pl.lit(" " * PAD_TO).str.slice(0, pad)]).alias("plain"),
    )
    nonces = random_bytes(NONCE_BYTES, n)
    aes = codec.aes_cipher(key.kid)
    plains = frame["plain"].cast(pl.Binary).to_list()
    ads = frame["ad"].cast(pl.Binary).to_list()
    cts = list(map(aes.encrypt, nonces, plains, ads))
    frame = frame.with_columns(
        pl.Series("nonce", nonces, dtype=pl.Binary),
        pl.Series("ct", cts, dtype=pl.Binary),
    )
    head = (
        f'{{"enc":{json.dumps(ENVELOPE)},"kid":{json.dumps(key.kid)},'
        f'"alg":{json.dumps(key.alg)},"fields":'
    )
    envelope = (
        pl.lit(head)
        + pl.col("fields")
        + pl.lit(',"nonce":"')
        + pl.col("nonce").bin.encode("base64")
        + pl.lit('","ct":"')
        + pl.col("ct").bin.encode("base64")
        + pl.lit('"}')
    )
    return frame.select(envelope.alias("sealed"))["sealed"]
