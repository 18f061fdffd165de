"""G17: the crypto power-on self-test (shared/selftest.py) and the SM2 cross-check of our SM2
(ledger/signers.py over gmalg) against pysmx (snowland-smx, a test-only dependency).

CITYCREDIT_CRYPTO_FULL=1 runs the SM2 cross-check over 1,000 keys; by default 64 keys.
"""

from __future__ import annotations

import hmac
import logging
import os
import random
from collections.abc import Callable

import gmalg
import pytest
from fastapi.testclient import TestClient
from pysmx.SM2 import Sign as pysmx_sign
from pysmx.SM2 import Verify as pysmx_verify
from pysmx.SM2._SM2 import get_za as pysmx_get_za
from pysmx.SM2._SM2 import kG as pysmx_kg
from pysmx.SM2._SM2 import sm2_G as PYSMX_G
from pysmx.SM3 import digest as pysmx_sm3
from typer.testing import CliRunner

from citycredit.bootstrap import Container
from citycredit.ledger import suites
from citycredit.ledger.signers import (
    SM2_DEFAULT_UID,
    SM2_N,
    Sm2Signer,
    signer_from_skey,
    signer_to_skey,
)
from citycredit.shared import selftest
from citycredit.shared.selftest import CryptoSelfTestError, power_on_self_test, run_kats

FULL = os.environ.get("CITYCREDIT_CRYPTO_FULL") == "1"
N_KEYS = 1000 if FULL else 64
SEED = 20261127

ALGORITHMS = {
    "SHA-256",
    "SM3",
    "SM4",
    "SM4-GCM",
    "AES-256-GCM",
    "HMAC-SHA-256",
    "HMAC-SM3",
    "Ed25519",
    "SM2",
}


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if this process had not run the power-on self-test yet."""
    monkeypatch.setattr(selftest, "_passed", False)


def _break_sm3(monkeypatch: pytest.MonkeyPatch) -> None:
    real = suites._Sm3.hash
    monkeypatch.setattr(suites._Sm3, "hash", lambda self, data: real(self, data + b"!"))


# --- the known answers ---------------------------------------------------------------------


def test_every_known_answer_passes_through_the_platform_code() -> None:
    results = run_kats()
    assert [r for r in results if not r.ok] == []
    assert {r.algorithm for r in results} == ALGORITHMS
    assert all(r.source for r in results)


def test_sm3_and_sm4_vectors_hold_in_two_independent_implementations() -> None:
    sm3 = {k.source: k.expected for k in selftest.KATS if k.algorithm == "SM3"}
    abc, abcd16 = sorted(sm3.items())  # 示例1 "abc" sorts before 示例2
    for source, message in ((abc, b"abc"), (abcd16, b"abcd" * 16)):
        g = gmalg.SM3()
        g.update(message)
        assert g.value() == source[1] == bytes(pysmx_sm3(message))
    assert abc[1].hex().startswith("66c7f0f4") and abc[1].hex().endswith("8f4ba8e0")
    sm4 = next(k for k in selftest.KATS if k.algorithm == "SM4")
    assert gmalg.SM4(selftest.SM4_KEY).encrypt(selftest.SM4_KEY) == sm4.expected


def _rfc2104(sm3: Callable[[bytes], bytes], key: bytes, msg: bytes) -> bytes:
    k = key.ljust(64, b"\x00")  # SM3 block: 64 bytes (the key is shorter)
    inner = sm3(bytes(b ^ 0x36 for b in k) + msg)
    return sm3(bytes(b ^ 0x5C for b in k) + inner)


def _gmalg_sm3(data: bytes) -> bytes:
    g = gmalg.SM3()
    g.update(data)
    return g.value()


def test_pinned_hmac_sm3_matches_rfc2104_over_two_other_sm3_implementations() -> None:
    kat = next(k for k in selftest.KATS if k.algorithm == "HMAC-SM3")
    key, msg = selftest.HMAC_KEY, selftest.HMAC_MSG
    assert _rfc2104(_gmalg_sm3, key, msg) == kat.expected
    assert _rfc2104(lambda d: bytes(pysmx_sm3(d)), key, msg) == kat.expected


def test_sm2_vector_is_reproduced_by_pysmx() -> None:
    d, k = selftest.SM2_D, selftest.SM2_K
    assert pysmx_sign(selftest.SM2_MSG, d, f"{k:064x}", 64, Hexstr=0, uid=SM2_DEFAULT_UID) == (
        selftest.SM2_SIG
    )
    assert pysmx_kg(int.from_bytes(d, "big"), PYSMX_G, 64) == selftest.SM2_Q[1:].hex()
    # … and our signer class derives the same public key and accepts the signature.
    ours = Sm2Signer("kat", d)
    assert ours.verifier().public_key == selftest.SM2_Q
    assert ours.verifier().verify(selftest.SM2_MSG, selftest.SM2_SIG)


# --- failing: CRITICAL, the algorithm named, no start ----------------------------------------


def test_a_wrong_answer_is_critical_names_the_algorithm_and_raises(
    fresh: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _break_sm3(monkeypatch)
    with (
        caplog.at_level(logging.CRITICAL, logger="citycredit.shared.selftest"),
        pytest.raises(CryptoSelfTestError) as err,
    ):
        power_on_self_test()
    assert err.value.algorithms == ["SM3"]
    assert "SM3" in err.value.message and "拒绝启动" in err.value.message
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 2  # both SM3 vectors; nothing else failed
    assert all("SM3" in r.getMessage() for r in critical)
    assert selftest._passed is False  # a failure is not remembered as a pass


def test_an_implementation_that_raises_is_a_failure(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> bytes:
        raise ValueError("no SM4/AES today")

    monkeypatch.setattr(selftest, "_encrypt", refuse)
    with pytest.raises(CryptoSelfTestError) as err:
        power_on_self_test()
    assert err.value.algorithms == ["SM4-GCM", "AES-256-GCM"]
    assert "no SM4/AES today" in str(err.value)


def test_a_signature_that_does_not_verify_fails_sm2(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selftest, "SM2_SIG", selftest.SM2_SIG[:-1] + b"\x00")
    with pytest.raises(CryptoSelfTestError) as err:
        power_on_self_test()
    assert err.value.algorithms == ["SM2"]


def test_the_self_test_runs_once_per_process(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = selftest.run_kats

    def counting(kats: tuple[selftest.Kat, ...] | None = None) -> list[selftest.KatResult]:
        calls.append(1)
        return real(kats)

    monkeypatch.setattr(selftest, "run_kats", counting)
    assert len(power_on_self_test()) == len(selftest.KATS)
    assert power_on_self_test() == []
    assert calls == [1]


def test_the_server_does_not_start_when_a_known_answer_fails(
    container: Container, fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citycredit.web.app import create_app

    _break_sm3(monkeypatch)
    app = create_app(container, scheduler=False)
    with pytest.raises(CryptoSelfTestError, match="SM3"), TestClient(app):
        pass


def test_the_server_runs_the_self_test_before_serving(container: Container, fresh: None) -> None:
    from citycredit.web.app import create_app

    with TestClient(create_app(container, scheduler=False)) as client:
        assert selftest._passed is True
        assert client.get("/healthz").status_code == 200


def test_cli_prints_every_known_answer() -> None:
    from citycredit.cli.main import app

    result = CliRunner().invoke(app, ["selftest"])
    assert result.exit_code == 0, result.output
    for algorithm in ALGORITHMS:
        assert algorithm in result.output
    assert "RFC 8998" in result.output and f"全部 {len(selftest.KATS)} 项通过" in result.output


def test_cli_fails_with_exit_2_naming_the_algorithm(monkeypatch: pytest.MonkeyPatch) -> None:
    from citycredit.cli.main import app

    _break_sm3(monkeypatch)
    result = CliRunner().invoke(app, ["selftest"])
    assert result.exit_code == 2
    assert "失败" in result.output and "SM3" in result.output
    assert "全部" not in result.output


# --- SM2: ours (gmalg) against pysmx over many keys, with the encoding edge cases --------------


def _pysmx_public(d: int) -> bytes:
    return b"\x04" + bytes.fromhex(pysmx_kg(d, PYSMX_G, 64))


def _keys(rng: random.Random, n: int) -> list[tuple[str, int]]:
    """n private keys: the edge classes first (found by drawing until each occurs), then
    random ones. Classes: d's hex starts with 0 (and with 00), starts with 4, x or y of the
    public key starts with a zero byte, and the smallest and largest valid d."""
    wanted: dict[str, Callable[[int, bytes], bool]] = {
        "d hex starts with 0": lambda d, q: f"{d:064x}"[0] == "0",
        "d hex starts with 00": lambda d, q: f"{d:064x}"[:2] == "00",
        "d hex starts with 4": lambda d, q: f"{d:064x}"[0] == "4",
        "x has a leading zero byte": lambda d, q: q[1] == 0,
        "y has a leading zero byte": lambda d, q: q[33] == 0,
    }
    found: list[tuple[str, int]] = [("d = 1", 1), ("d = n - 2", SM2_N - 2)]
    while wanted:
        d = rng.randrange(1, SM2_N - 1)
        q = _pysmx_public(d)
        for label, test in list(wanted.items()):
            if test(d, q):
                found.append((label, d))
                del wanted[label]
    found.extend(("random", rng.randrange(1, SM2_N - 1)) for _ in range(n - len(found)))
    return found


def _nonce(rng: random.Random) -> int:
    return rng.randrange(1, SM2_N)


def test_sm2_ours_and_pysmx_agree_over_many_keys_including_the_edge_cases() -> None:
    rng = random.Random(SEED)
    keys = _keys(rng, N_KEYS)
    assert len(keys) == N_KEYS
    disagreements: list[str] = []
    for i, (label, d) in enumerate(keys):
        secret = d.to_bytes(32, "big")
        ours = Sm2Signer("example.com/gm-log", secret)
        pub = ours.verifier().public_key
        if pub != _pysmx_public(d):
            disagreements.append(f"{label} d={secret.hex()}: public keys differ")
            continue
        msg = f"example.com/gm-log\n{i}\n{secret.hex()[:8]}\n".encode()
        # our signature (fresh random k inside gmalg) verifies with pysmx, and not with
        # another user ID (Z_A is computed over the same ID and the same 64-byte key) …
        sig = ours.sign(msg)
        if not pysmx_verify(sig, msg, pub[1:], 64, Hexstr=0, uid=SM2_DEFAULT_UID):
            disagreements.append(f"{label} d={secret.hex()}: pysmx rejects our signature")
        if pysmx_verify(sig, msg, pub[1:], 64, Hexstr=0, uid=b"1234567812345679"):
            disagreements.append(f"{label} d={secret.hex()}: user ID not bound")
        # … and pysmx's signature verifies with ours; for the edge keys, a flipped bit does not.
        theirs = None
        while theirs is None:  # pysmx returns None for a degenerate nonce
            theirs = pysmx_sign(
                msg, secret, f"{_nonce(rng):064x}", 64, Hexstr=0, uid=SM2_DEFAULT_UID
            )
        if not ours.verifier().verify(msg, theirs):
            disagreements.append(f"{label} d={secret.hex()}: we reject pysmx's signature")
        if label == "random":
            continue
        if ours.verifier().verify(msg, theirs[:63] + bytes([theirs[63] ^ 1])):
            disagreements.append(f"{label} d={secret.hex()}: we accept a tampered signature")
        again = signer_from_skey(signer_to_skey(ours))  # key strings keep every leading zero
        assert isinstance(again, Sm2Signer)
        if again.verifier().public_key != pub or not again.verifier().verify(msg, theirs):
            disagreements.append(f"{label} d={secret.hex()}: key string round trip")
    assert disagreements == []


def _short_nonces(secret: bytes, pub: bytes, msg: bytes, rng: random.Random) -> list[int]:
    """Nonces k whose signature has r, then s, starting with a zero byte: drawn with the
    GB/T 32918.2 formulas over pysmx's scalar multiplication and Z_A (fast), no signer."""
    za = pysmx_get_za(SM2_DEFAULT_UID, pub[1:].hex(), 64)
    e = int.from_bytes(bytes(pysmx_sm3(bytes.fromhex(za) + msg)), "big")
    d = int.from_bytes(secret, "big")
    inv = pow(d + 1, -1, SM2_N)
    found: dict[str, int] = {}
    while len(found) < 2:
        k = _nonce(rng)
        r = (e + int(pysmx_kg(k, PYSMX_G, 64)[:64], 16)) % SM2_N
        s = (inv * (k + r) - r) % SM2_N
        if r == 0 or r + k == SM2_N or s == 0:
            continue
        if r < 1 << 248:
            found.setdefault("r", k)
        if s < 1 << 248:
            found.setdefault("s", k)
    return [found["r"], found["s"]]


def test_sm2_same_nonce_gives_the_same_signature_even_when_r_or_s_is_short() -> None:
    """With the nonce fixed, ours and pysmx must produce byte-identical r || s, also when r or
    s starts with a zero byte (the fixed-width encoding case)."""
    rng = random.Random(SEED + 1)
    secret = rng.randrange(1, SM2_N - 1).to_bytes(32, "big")
    ours = Sm2Signer("w", secret)
    pub = ours.verifier().public_key
    msg = b"short r and s"
    nonces = _short_nonces(secret, pub, msg, rng)
    for n, k in enumerate(nonces):
        theirs = pysmx_sign(msg, secret, f"{k:064x}", 64, Hexstr=0, uid=SM2_DEFAULT_UID)
        assert theirs[32 * n] == 0  # r (first nonce), then s (second) is short
        ours._sm2 = gmalg.SM2(sk=secret, uid=SM2_DEFAULT_UID, pk=pub, rnd_fn=lambda _b, k=k: k)
        mine = ours.sign(msg)
        assert len(mine) == 64 and hmac.compare_digest(mine, theirs)
        assert ours.verifier().verify(msg, theirs)
        assert pysmx_verify(mine, msg, pub[1:], 64, Hexstr=0, uid=SM2_DEFAULT_UID)
