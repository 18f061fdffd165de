"""Keyring life cycle without a database: retired keys open but never seal, error codes, and a
process's codec following its ring file (privacy.keys.CodecProvider)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine

from citycredit.privacy.keys import CodecProvider
from citycredit.settings import Settings
from citycredit.shared.personal import Keyring, PersonalCodec, PersonalDataError, generate_keyring

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
AAD = "record_versions:r1/1"


def test_an_algorithm_mismatch_is_reported_as_tampering() -> None:
    codec = PersonalCodec(generate_keyring("aes-256-gcm", now=NOW))
    env = codec.seal({"CF_XDR_ZJHM": "610881197909215385"}, aad=AAD)
    with pytest.raises(PersonalDataError) as e:
        codec.open({**env, "alg": "sm4-gcm"}, aad=AAD)
    assert e.value.code == "personal_data_tampered" and "sm4-gcm" in e.value.message


def test_a_retired_key_opens_but_never_seals() -> None:
    ring = generate_keyring("aes-256-gcm", now=NOW)
    old = ring.current.kid
    sealed_old = PersonalCodec(ring).seal({"A": "1"}, aad=AAD)
    ring = ring.with_new_key("sm4-gcm", now=NOW)
    new = ring.current.kid
    with pytest.raises(PersonalDataError) as e:
        ring.retire(new, now=NOW)
    assert e.value.code == "personal_key_current"
    retired = Keyring.from_json(ring.retire(old, now=NOW).to_json())  # survives the file form
    assert [(k.kid, bool(k.retired)) for k in retired.keys] == [(old, True), (new, False)]
    assert retired.retire(old, now=NOW) is retired  # retiring twice changes nothing
    codec = PersonalCodec(retired)
    assert codec.key_id == new and codec.seal({"A": "1"}, aad=AAD)["kid"] == new
    assert codec.open(sealed_old, aad=AAD) == {"A": "1"} and codec.needs_rotation(sealed_old)
    # a ring whose newest key is retired (hand-edited) seals with the newest one that is not
    doc = json.loads(retired.to_json())
    doc["keys"].reverse()
    assert Keyring.from_json(json.dumps(doc)).current.kid == new
    doc["keys"] = [k for k in doc["keys"] if k.get("retired")]
    with pytest.raises(PersonalDataError) as e:
        Keyring.from_json(json.dumps(doc))
    assert e.value.code == "personal_key_invalid"
    assert [k.kid for k in retired.without(old).keys] == [new]


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, environment="test", **kw)  # type: ignore[arg-type]


def test_the_codec_follows_its_ring_file_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    path = tmp_path / "ring.keys"
    ring = generate_keyring("aes-256-gcm", now=NOW)
    ring.save(path)
    settings = _settings(tmp_path, personal_keys=SecretStr(str(path)))
    engine = create_engine("sqlite://")  # not migrated: nothing to check against
    keys = CodecProvider(settings, engine=engine, now=lambda: NOW, interval=0)
    first = keys.codec()
    assert keys.codec() is first  # unchanged file: the same codec, no reload

    grown = ring.with_new_key("sm4-gcm", now=NOW)
    grown.save(path)
    assert keys.codec().key_id == grown.current.kid

    generate_keyring("aes-256-gcm", now=NOW).save(path)  # another blind-index key
    for _ in range(2):  # refused, and it stays refused while the file is unchanged
        with pytest.raises(PersonalDataError) as e:
            keys.codec()
        assert e.value.code == "personal_key_mismatch"
    path.write_text("{not json")
    with pytest.raises(PersonalDataError) as e:
        keys.codec()
    assert e.value.code == "personal_key_invalid"
    grown.retire(ring.current.kid, now=NOW).save(path)  # fixed: back in service
    assert keys.codec().key_id == grown.current.kid

    slow = CodecProvider(settings, engine=engine, now=lambda: NOW)  # default: a look per second
    before = slow.codec()
    ring.with_new_key("aes-256-gcm", now=NOW).save(path)
    assert slow.codec() is before  # not looked at again within the interval


def test_an_inline_ring_is_never_reloaded(tmp_path: Path) -> None:
    ring = generate_keyring("sm4-gcm", now=NOW)
    settings = _settings(tmp_path, personal_keys=SecretStr(ring.to_json()))
    keys = CodecProvider(settings, engine=create_engine("sqlite://"), now=lambda: NOW, interval=0)
    assert keys.codec() is keys.codec() and keys.codec().key_id == ring.current.kid
