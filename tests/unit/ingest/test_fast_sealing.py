"""Envelopes sealed a column at a time open with `PersonalCodec.open`, like `seal`'s own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from citycredit.ingest.fast.sealing import aad_column, seal_column
from citycredit.privacy.records import reject_aad, version_aad
from citycredit.shared.canonical import canonical_bytes
from citycredit.shared.personal import PersonalCodec, PersonalDataError, generate_keyring

NOW = datetime(2026, 11, 25, 2, tzinfo=UTC)
CODES = ["CF_XDR_ZJHM", "CF_XDR_DZ", "CF_FR_ZJHM", "CF_X"]
SETS = [
    {},
    {"CF_XDR_ZJHM": "610802198001010113"},
    {"CF_XDR_ZJHM": "610802198001010113", "CF_XDR_DZ": '榆林市"榆阳区"长城路8号\\'},
    {"CF_FR_ZJHM": "x" * 31, "CF_X": "\n\u2028"},
]


@pytest.mark.parametrize("alg", ["aes-256-gcm", "sm4-gcm"])
def test_sealed_columns_open_like_seal(alg: str) -> None:
    codec = PersonalCodec(generate_keyring(alg, now=NOW))
    texts = pl.Series([canonical_bytes(p).decode() for p in SETS * 3], dtype=pl.String)
    frame = pl.DataFrame(
        {"rid": [f"r{i}" for i in range(len(texts))], "v": list(range(len(texts)))}
    )
    aads = frame.select(
        aad_column(version_aad, pl.col("rid"), pl.col("v"), markers=("\x01r", 987654321))
    ).to_series()
    assert aads.to_list() == [version_aad(f"r{i}", i) for i in range(len(texts))]
    sealed = seal_column(codec, CODES, texts, aads).to_list()
    for i, text in enumerate(sealed):
        envelope = json.loads(text)
        reference = codec.seal(SETS[i % len(SETS)], aad=aads[i])
        assert sorted(envelope) == sorted(reference)
        same = [k for k in reference if k not in ("nonce", "ct")]
        assert {k: envelope[k] for k in same} == {k: reference[k] for k in same}
        assert len(envelope.get("ct", "")) == len(reference.get("ct", ""))  # same padding
        assert codec.open(envelope, aad=aads[i]) == SETS[i % len(SETS)]
        if SETS[i % len(SETS)]:
            with pytest.raises(PersonalDataError):  # bound to its row
                codec.open(envelope, aad=version_aad("other", 1))
    nonces = [json.loads(t).get("nonce") for t in sealed]
    assert len({n for n in nonces if n}) == sum(1 for n in nonces if n) == 9


def test_aad_column_follows_any_formatter() -> None:
    frame = pl.DataFrame({"s": ["sub1"], "n": [7]})
    out = frame.select(aad_column(reject_aad, pl.col("s"), pl.col("n"), markers=("\x01s", 98765)))
    assert out.to_series().to_list() == [reject_aad("sub1", 7)]
