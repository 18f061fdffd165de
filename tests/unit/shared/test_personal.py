"""Personal-data codec: AES-256-GCM and SM4-GCM envelopes, binding, rotation, blind index."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from citycredit.settings import Settings
from citycredit.shared.personal import (
    ENVELOPE,
    Keyring,
    PersonalCodec,
    PersonalDataError,
    generate_keyring,
    is_sealed,
    normalise_for_index,
    sealed_fields,
)

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ID = "610802199003071234"
PERSONAL = {"CF_XDR_ZJHM": ID, "DJ_LXDH": "15212349276", "CF_XDR_DZ": "榆林市榆阳区新建南路 12 号"}
AAD = "record_versions:r0001/1"


def codec(alg: str = "aes-256-gcm") -> PersonalCodec:
    return PersonalCodec(generate_keyring(alg, now=NOW))


@pytest.mark.parametrize("alg", ["aes-256-gcm", "sm4-gcm"])
def test_round_trip_and_envelope(alg: str) -> None:
    c = codec(alg)
    env = c.seal(PERSONAL, aad=AAD)
    assert is_sealed(env) and env["enc"] == ENVELOPE and env["alg"] == alg
    assert env["kid"] == c.key_id and env["fields"] == sorted(PERSONAL)
    text = json.dumps(env, ensure_ascii=False)
    for value in PERSONAL.values():
        assert value not in text
    assert ID[:6] not in text  # not even the region code
    assert c.open(env, aad=AAD) == PERSONAL
    assert sealed_fields(env) == sorted(PERSONAL)
    # fresh nonce every time: the same values never give the same ciphertext
    assert c.seal(PERSONAL, aad=AAD)["ct"] != env["ct"]
    empty = c.seal({}, aad=AAD)  # a compact marker: nothing to protect, nothing to rotate
    assert is_sealed(empty) and "ct" not in empty and c.open(empty, aad=AAD) == {}
    assert not c.needs_rotation(empty)


def test_sm4_gcm_is_the_standard_construction() -> None:
    """The SM4 envelope is plain SM4-GCM: another implementation (the Cipher API) opens it."""
    ring = generate_keyring("sm4-gcm", now=NOW)
    env = PersonalCodec(ring).seal({"A": "1"}, aad="x")
    nonce, data = base64.b64decode(env["nonce"]), base64.b64decode(env["ct"])
    ad = json.dumps(
        {"alg": "sm4-gcm", "ctx": "x", "enc": ENVELOPE, "fields": ["A"], "kid": env["kid"]},
        separators=(",", ":"),
    ).encode()
    dec = Cipher(algorithms.SM4(ring.current.key), modes.GCM(nonce, data[-16:])).decryptor()
    dec.authenticate_additional_data(ad)
    assert json.loads(dec.update(data[:-16]) + dec.finalize()) == {"A": "1"}
    # GB/T 32907 example: the block cipher itself is the national standard's
    enc = Cipher(algorithms.SM4(bytes.fromhex("0123456789abcdeffedcba9876543210")), modes.ECB())
    e = enc.encryptor()
    block = e.update(bytes.fromhex("0123456789abcdeffedcba9876543210")) + e.finalize()
    assert block.hex() == "681edf34d206965e86b3e94f536e4246"


@pytest.mark.parametrize("alg", ["aes-256-gcm", "sm4-gcm"])
def test_tampering_is_detected(alg: str) -> None:
    c = codec(alg)
    env = c.seal(PERSONAL, aad=AAD)
    ct = bytearray(base64.b64decode(env["ct"]))
    ct[3] ^= 0x01
    with pytest.raises(PersonalDataError) as e:
        c.open({**env, "ct": base64.b64encode(bytes(ct)).decode()}, aad=AAD)
    assert e.value.code == "personal_data_tampered"
    with pytest.raises(PersonalDataError):  # a field dropped from the clear list
        c.open({**env, "fields": sorted(PERSONAL)[1:]}, aad=AAD)
    with pytest.raises(PersonalDataError):  # another nonce
        c.open({**env, "nonce": base64.b64encode(b"\0" * 12).decode()}, aad=AAD)
    with pytest.raises(PersonalDataError):  # truncated
        c.open({**env, "ct": env["ct"][:8]}, aad=AAD)


def test_wrong_aad_is_refused_so_ciphertexts_cannot_move_between_rows() -> None:
    c = codec()
    env = c.seal(PERSONAL, aad=AAD)
    for other in ("record_versions:r0001/2", "record_versions:r0002/1", "rejects:r0001/1"):
        with pytest.raises(PersonalDataError) as e:
            c.open(env, aad=other)
        assert other in e.value.message


def test_other_deployment_key_cannot_open() -> None:
    env = codec().seal(PERSONAL, aad=AAD)
    with pytest.raises(PersonalDataError) as e:
        codec().open(env, aad=AAD)
    assert e.value.code == "personal_key_unknown"


def test_legacy_plaintext_is_returned_and_marked_for_rotation() -> None:
    c = codec()
    assert not is_sealed(PERSONAL)
    assert c.open(PERSONAL, aad=AAD) == PERSONAL
    assert c.open({}, aad=AAD) == {} and c.open(None, aad=AAD) == {}
    assert c.needs_rotation(PERSONAL)
    assert not c.needs_rotation(c.seal(PERSONAL, aad=AAD))


def test_rotation_new_key_seals_old_keys_open_then_retire(tmp_path: Path) -> None:
    ring = generate_keyring("aes-256-gcm", now=NOW)
    old = PersonalCodec(ring)
    env_old = old.seal(PERSONAL, aad=AAD)
    ring2 = ring.with_new_key("sm4-gcm", now=NOW)
    new = PersonalCodec(ring2)
    assert new.key_id != old.key_id and new.algorithm == "sm4-gcm"
    assert new.open(env_old, aad=AAD) == PERSONAL  # all keys open
    assert new.needs_rotation(env_old)
    env_new = new.seal(new.open(env_old, aad=AAD), aad=AAD)
    assert env_new["kid"] == ring2.current.kid and not new.needs_rotation(env_new)
    # the index key does not change with data keys: lookups keep working
    assert new.blind_index("id_number", ID) == old.blind_index("id_number", ID)
    retired = PersonalCodec(ring2.without(ring.current.kid))
    assert retired.open(env_new, aad=AAD) == PERSONAL
    with pytest.raises(PersonalDataError):
        retired.open(env_old, aad=AAD)
    with pytest.raises(PersonalDataError) as e:
        ring2.without(ring2.current.kid)
    assert e.value.code == "personal_key_current"
    # the file form round-trips, owner-only
    path = tmp_path / "keys.json"
    ring2.save(path)
    assert path.stat().st_mode & 0o077 == 0
    assert PersonalCodec(Keyring.load(path)).open(env_new, aad=AAD) == PERSONAL


def test_blind_index_is_stable_normalised_and_keyed() -> None:
    ring = generate_keyring("aes-256-gcm", now=NOW)
    a, b = PersonalCodec(ring), PersonalCodec(ring)
    assert a.blind_index("id_number", ID) == b.blind_index("id_number", ID)
    assert a.blind_index("id_number", "61080219900307123x") == a.blind_index(
        "id_number", " 61080219900307123X "
    )
    assert a.blind_index("phone", "+86 152-1234-9276") == a.blind_index("phone", "15212349276")
    assert normalise_for_index("phone", "+86 152-1234-9276") == "15212349276"
    # keyed: another deployment's index differs; kinds are separated; not a plain hash
    other = PersonalCodec(generate_keyring("aes-256-gcm", now=NOW))
    assert other.blind_index("id_number", ID) != a.blind_index("id_number", ID)
    assert a.blind_index("phone", ID) != a.blind_index("id_number", ID)
    import hashlib

    plain = {hashlib.sha256(ID.encode()).hexdigest(), hashlib.new("sm3", ID.encode()).hexdigest()}
    assert a.blind_index("id_number", ID) not in plain
    # the index key is not a data key
    assert ring.index_key not in {k.key for k in ring.keys}


def test_sm4_rings_index_with_hmac_sm3() -> None:
    ring = generate_keyring("sm4-gcm", now=NOW)
    assert ring.index_alg == "hmac-sm3"
    import hmac

    c = PersonalCodec(ring)
    want = hmac.new(ring.index_key, f"id_number\x00{ID}".encode(), "sm3").hexdigest()
    assert c.blind_index("id_number", ID) == want


def test_bad_keyrings_are_refused_with_a_clear_message() -> None:
    ring = generate_keyring("aes-256-gcm", now=NOW)
    doc = json.loads(ring.to_json())
    doc["keys"][0]["key"] = base64.b64encode(b"short").decode()
    with pytest.raises(PersonalDataError) as e:
        Keyring.from_json(json.dumps(doc))
    assert "长度 5 字节" in e.value.message and e.value.code == "personal_key_invalid"
    doc = json.loads(ring.to_json())
    doc["keys"][0]["alg"] = "des"
    with pytest.raises(PersonalDataError) as e:
        Keyring.from_json(json.dumps(doc))
    assert "des" in e.value.message
    with pytest.raises(PersonalDataError) as e:
        Keyring.from_json("{not json", source="/etc/cc/keys.json")
    assert "/etc/cc/keys.json" in e.value.message


def test_padding_hides_small_length_differences() -> None:
    c = codec()
    short = c.seal({"A": "1"}, aad=AAD)
    longer = c.seal({"A": "1234"}, aad=AAD)
    assert len(base64.b64decode(short["ct"])) == len(base64.b64decode(longer["ct"]))


def _settings(tmp_path: Path, **kw: object) -> Settings:
    from pydantic import SecretStr

    base: dict[str, object] = {"data_dir": tmp_path, "environment": "test"}
    if kw.get("environment") == "production":
        base.update(
            secret_key=SecretStr("prod-secret-0123456789abcdef"),
            ledger_skey=SecretStr("PRIVATE+KEY+x"),
            database_url="postgresql://db/citycredit",
        )
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]  # keyword values of mixed types


def test_dev_keyring_is_generated_once_under_data_dir(tmp_path: Path) -> None:
    from citycredit.privacy.keys import load_keyring

    s = _settings(tmp_path)
    ring = load_keyring(s, now=NOW)
    path = tmp_path / "personal.keys"
    assert ring.dev and path.is_file() and path.stat().st_mode & 0o077 == 0
    assert load_keyring(s, now=NOW).current.kid == ring.current.kid
    sm4 = load_keyring(_settings(tmp_path / "gm", personal_cipher="sm4-gcm"), now=NOW)
    assert sm4.current.alg == "sm4-gcm" and sm4.index_alg == "hmac-sm3"


def test_production_refuses_missing_and_dev_keyrings(tmp_path: Path) -> None:
    from pydantic import SecretStr, ValidationError

    from citycredit.privacy.keys import load_keyring

    with pytest.raises(ValidationError) as e:
        _settings(tmp_path, environment="production")
    assert "CITYCREDIT_PERSONAL_KEYS" in str(e.value)
    dev = generate_keyring("aes-256-gcm", now=NOW, dev=True)
    dev.save(tmp_path / "dev.keys")
    prod = _settings(
        tmp_path, environment="production", personal_keys=SecretStr(str(tmp_path / "dev.keys"))
    )
    with pytest.raises(PersonalDataError) as e2:
        load_keyring(prod, now=NOW)
    assert e2.value.code == "personal_key_dev"
    missing = _settings(
        tmp_path, environment="production", personal_keys=SecretStr(str(tmp_path / "none.keys"))
    )
    with pytest.raises(PersonalDataError) as e3:
        load_keyring(missing, now=NOW)
    assert e3.value.code == "personal_key_missing" and "none.keys" in e3.value.message
    real = generate_keyring("sm4-gcm", now=NOW)
    inline = _settings(tmp_path, environment="production", personal_keys=SecretStr(real.to_json()))
    assert load_keyring(inline, now=NOW).current.kid == real.current.kid
