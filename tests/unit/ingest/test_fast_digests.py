"""Column-wise digests, ids and ledger payloads equal the scalar functions they stand for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citycredit.catalog.loader import load_catalog
from citycredit.ingest.fast.cells import render
from citycredit.ingest.fast.digests import Hasher, random_bytes, random_ids, random_salts
from citycredit.ingest.fast.events import version_payloads
from citycredit.ledger.entries import LedgerEntry, field_digest, record_version_entry
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.privacy.records import ledger_personal
from citycredit.shared.canonical import json_value
from citycredit.shared.digest import Digester
from citycredit.shared.idgen import new_id
from citycredit.shared.personal import PersonalCodec, generate_keyring

texts = st.text(alphabet=st.sampled_from(list('榆阳区ab12"\\\n\x00 ')), max_size=20)


@pytest.fixture(scope="module")
def hasher() -> Hasher:
    return Hasher()


def test_random_ids_have_the_new_id_form() -> None:
    ids = random_ids("r", 1000).to_list()
    shape = re.compile(r"^r[a-z2-7]{20}$")
    assert all(shape.match(i) for i in ids) and len(set(ids)) == 1000
    assert len(new_id("r")) == len(ids[0])
    assert random_ids("s", 0).to_list() == []


def test_random_bytes_and_salts_are_fresh_values_of_their_width() -> None:
    got = random_bytes(12, 500)
    assert len(got) == 500 and {len(b) for b in got} == {12} and len(set(got)) == 500
    assert random_bytes(12, 0) == []
    salts = random_salts(300)
    assert salts.dtype == pl.Binary
    assert {len(b) for b in salts.to_list()} == {16} and salts.n_unique() == 300


def test_the_intake_does_not_import_pyarrow() -> None:
    # pyarrow alone is ~70 MB of an intake process's resident memory (target: 500 MB).
    code = (
        "import sys\n"
        "from citycredit.ingest import service\n"
        "from citycredit.ingest.fast import pipeline\n"
        "from citycredit.bootstrap import build_container\n"
        "print('pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_random_ids_encode_like_new_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from citycredit.ingest.fast import digests

    raw = bytes(range(256))[: 15 * 17]
    monkeypatch.setattr(digests.secrets, "token_bytes", lambda n: raw[:n])
    out = random_ids("s", 17).to_list()
    assert out == [
        "s" + base64.b32encode(raw[i * 15 : (i + 1) * 15]).decode().lower()[:20] for i in range(17)
    ]


def test_random_salts_are_16_fresh_bytes() -> None:
    salts = random_salts(500).to_list()
    assert all(len(s) == 16 for s in salts) and len(set(salts)) == 500


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), texts), min_size=1, max_size=20))
def test_sha256_is_hashlib(hasher: Hasher, values: list[str | None]) -> None:
    out = hasher.sha256(pl.Series(values, dtype=pl.String)).to_list()
    assert out == [
        hashlib.sha256(v.encode()).hexdigest() if v is not None else None for v in values
    ]


@pytest.mark.parametrize("key", [b"k" * 16, b"test-secret-key-0123456789abcdef", b"x" * 100])
def test_hmac_is_the_digester(hasher: Hasher, key: bytes) -> None:
    values = ["610802198001010113", "", "榆阳区", None]
    out = hasher.hmac(key, b"id-number\x00", pl.Series(values, dtype=pl.String)).to_list()
    digester = Digester(key)
    assert out == [digester.digest("id-number", v) if v is not None else None for v in values]
    raw = hmac.new(key, b"id-number\x00610802198001010113", hashlib.sha256).hexdigest()
    assert out[0] == raw


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), texts), st.one_of(st.none(), texts)), min_size=1, max_size=10
    )
)
def test_field_digests_are_ledger_field_digests(
    hasher: Hasher, pairs: list[tuple[str | None, str | None]]
) -> None:
    salts = random_salts(len(pairs))
    lits = pl.DataFrame(
        {
            "CF_A": [
                json.dumps(a, ensure_ascii=False) if a is not None else None for a, _ in pairs
            ],
            "CF_B": [
                json.dumps(b, ensure_ascii=False) if b is not None else None for _, b in pairs
            ],
            "CF_C": [None] * len(pairs),
        },
        schema={"CF_A": pl.String, "CF_B": pl.String, "CF_C": pl.String},
    )
    out = hasher.field_digests(salts, lits)
    h = hash_suite(Suite("sha256-ed25519"))
    for i, (a, b) in enumerate(pairs):
        salt = salts[i]
        assert out["CF_A"][i] == (field_digest(h, salt, "CF_A", a) if a is not None else None)
        assert out["CF_B"][i] == (field_digest(h, salt, "CF_B", b) if b is not None else None)
        assert out["CF_C"][i] is None


@pytest.mark.parametrize(
    ("suite", "cipher"),
    [("sha256-ed25519", "aes-256-gcm"), ("sm3-sm2", "sm4-gcm"), ("sha256-ed25519", "sm4-gcm")],
)
def test_version_payloads_carry_the_leaf_of_record_version_entry(
    hasher: Hasher, suite: str, cipher: str
) -> None:
    item = load_catalog(None).item("penalty")
    at = datetime(2026, 11, 25, 2, tzinfo=UTC)
    codec = PersonalCodec(generate_keyring(cipher, now=at))
    values = {
        "CF_XDR_MC": '榆阳区"某"商贸有限公司',
        "CF_WSH": "榆市监罚〔2026〕1号",
        "CF_NR_FK": "20000.00",
        "CF_JDRQ": "2026-10-10",
        "CF_CFLB": "警告；罚款",
        "CF_XDR_ZJHM": "610802198003041234",
    }
    # Row 0 is about an organisation (no sealed value), row 1 about a person whose ID number
    # is sealed: the leaf commits to the keyed digest of it, not to the number.
    frame = pl.DataFrame(
        {
            "record_id": ["rabc", "rdef"],
            "version": [1, 3],
            "kind": ["original", "correction"],
            "subject_id": ["s1", "s2"],
            "record_key": ["k1", "k2"],
            "content_hash": ["h1", "h2"],
            "salt": random_salts(2),
            "personal": ["{}", '{"CF_XDR_ZJHM":"610802198003041234"}'],
            **{f"v:{spec.code}": [values.get(spec.code)] * 2 for spec in item.fields},
        },
        schema_overrides={f"v:{spec.code}": pl.String for spec in item.fields},
    )
    frame = frame.with_columns(
        pl.when(pl.col("record_id") == "rabc")
        .then(None)
        .otherwise(pl.col("v:CF_XDR_ZJHM"))
        .alias("v:CF_XDR_ZJHM")
    )
    out = version_payloads(
        hasher,
        suite=suite,
        item=item,
        department_id=7,
        at=at,
        submission_id="sub1",
        versions=frame,
        codec=codec,
    ).to_list()
    public = {k: json_value(v) for k, v in values.items() if k != "CF_XDR_ZJHM"}
    keyed = ledger_personal(codec, {"CF_XDR_ZJHM": values["CF_XDR_ZJHM"]})
    assert keyed["CF_XDR_ZJHM"] != values["CF_XDR_ZJHM"] and len(keyed["CF_XDR_ZJHM"]) == 64
    for i, text in enumerate(out):
        payload = json.loads(text)
        entry = LedgerEntry.from_payload(payload["ledger"])
        expected = record_version_entry(
            suite,
            record_id=frame["record_id"][i],
            version=frame["version"][i],
            kind=frame["kind"][i],
            item="penalty",
            subject_id=frame["subject_id"][i],
            department_id=7,
            record_key=frame["record_key"][i],
            fields=public if i == 0 else {**public, **keyed},
            at=at,
            salt=frame["salt"][i],
        )
        assert entry == expected
        assert payload["ledger"] == expected.as_payload()
        assert base64.b64decode(payload["ledger"]["data"]) == expected.data
        assert {k: payload[k] for k in ("item", "version", "content_hash", "submission_id")} == {
            "item": "penalty",
            "version": frame["version"][i],
            "content_hash": frame["content_hash"][i],
            "submission_id": "sub1",
        }
    assert render(item.field("CF_NR_FK"), None) is None
