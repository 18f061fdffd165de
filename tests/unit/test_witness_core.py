"""The witness core and its HTTP interface (G22; c2sp.org/tlog-witness, tlog-cosignature)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.testclient import TestClient

from citycredit.ledger import witness as wmod
from citycredit.ledger.merkle import Appender, consistency_proof, leaf_hash
from citycredit.ledger.note import checkpoint_text, make_checkpoint, open_note, sign_note
from citycredit.ledger.signers import NoteSigner, generate_signer
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.witness import (
    Cosigner,
    Witness,
    WitnessError,
    WitnessStateError,
    WitnessStore,
    cosigner_from_skey,
    cosigner_skey,
    cosigner_verifier_from_vkey,
    cosigner_vkey,
    forks,
    make_app,
    read_evidence,
    verify_cosignature_line,
)

ORIGIN = "yulin.citycredit/ledger"
NOW = 1_790_000_000


class Log:
    """A small in-memory log: leaves, stored nodes, signed checkpoints."""

    def __init__(
        self, suite: Suite, n: int = 20, signer: NoteSigner | None = None, tag: str = "entry"
    ) -> None:
        self.suite = suite
        self.h = hash_suite(suite)
        self.signer = signer or generate_signer(ORIGIN, suite)
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.roots: dict[int, bytes] = {}
        app = Appender(self.h)
        for i in range(n):
            for lv, ix, hv in app.append(leaf_hash(self.h, f"{tag} {i}".encode())):
                self.nodes[(lv, ix)] = hv
            self.roots[app.size] = app.root()

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        return {k: self.nodes[k] for k in keys if k in self.nodes}

    def note(self, size: int, root: bytes | None = None, signer: NoteSigner | None = None) -> str:
        cp = make_checkpoint(ORIGIN, size, root or self.roots[size], self.suite)
        return sign_note(checkpoint_text(cp), [signer or self.signer])

    def proof(self, old: int, new: int) -> list[bytes]:
        return consistency_proof(self.h, self, old, new)

    def body(self, old: int, size: int, *, proof: list[bytes] | None = None, note: str = "") -> str:
        p = self.proof(old, size) if proof is None else proof
        lines = "".join(base64.b64encode(x).decode() + "\n" for x in p)
        return f"old {old}\n{lines}\n{note or self.note(size)}"


@pytest.fixture
def log() -> Log:
    return Log(Suite.sha256_ed25519)


@pytest.fixture
def cosigner() -> Cosigner:
    return Cosigner.generate("witness.test/w1")


@pytest.fixture
def witness(tmp_path: Path, log: Log, cosigner: Cosigner) -> Iterator[Witness]:
    store = WitnessStore(tmp_path / "w")
    yield Witness(cosigner, {ORIGIN: [log.signer.verifier()]}, store, clock=lambda: NOW)
    store.close()


def text_of(note: str) -> str:
    return note[: note.find("\n\n") + 1]


def refused(w: Witness, body: str) -> WitnessError:
    with pytest.raises(WitnessError) as info:
        w.add_checkpoint(body)
    return info.value


# -- honest sequence ------------------------------------------------------------------------


def test_honest_sequence_is_cosigned_and_state_advances(
    witness: Witness, log: Log, cosigner: Cosigner
) -> None:
    v = cosigner.verifier()
    old = 0
    for size in (3, 4, 8, 13):
        line = witness.add_checkpoint(log.body(old, size))
        assert line.startswith("\u2014 witness.test/w1 ") and line.endswith("\n")
        assert verify_cosignature_line(v, text_of(log.note(size)), line) == NOW
        st = witness.store.state(ORIGIN)
        assert st is not None and (st.size, st.root) == (size, log.roots[size])
        old = size
    # the response appended to the checkpoint is a note both keys verify (signed-note)
    cosigned = log.note(13) + line
    assert open_note(cosigned, [v]).verified == ("witness.test/w1",)
    assert open_note(cosigned, [log.signer.verifier()]).verified == (ORIGIN,)
    # re-submitting the same checkpoint is cosigned again and changes nothing
    assert witness.add_checkpoint(log.body(13, 13))
    st = witness.store.state(ORIGIN)
    assert st is not None and st.size == 13


def test_cosignature_follows_the_spec_layout(
    witness: Witness, log: Log, cosigner: Cosigner
) -> None:
    line = witness.add_checkpoint(log.body(0, 5))
    name, blob = line[2:-1].split(" ")
    raw = base64.b64decode(blob)
    pub = cosigner.verifier().public_key
    # key id = SHA-256(name || 0x0A || 0x04 || public key)[:4]  (tlog-cosignature, Ed25519)
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == NOW and len(raw) == 4 + 8 + 64
    msg = f"cosignature/v1\ntime {NOW}\n".encode() + text_of(log.note(5)).encode()
    Ed25519PublicKey.from_public_bytes(pub).verify(raw[12:], msg)  # raises if not
    # the vkey carries type 0x04 and the same key id
    vkey = cosigner_vkey(cosigner.verifier())
    assert vkey.split("+", 2)[1] == raw[:4].hex()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04


def test_sm2_log_and_sm2_cosigner(tmp_path: Path) -> None:
    log = Log(Suite.sm3_sm2, 12)
    cos = Cosigner.generate("witness.test/gm", sm2=True)
    store = WitnessStore(tmp_path / "gm")
    w = Witness(cos, {ORIGIN: [log.signer.verifier()]}, store, clock=lambda: NOW)
    w.add_checkpoint(log.body(0, 5))
    line = w.add_checkpoint(log.body(5, 9))
    v = cosigner_verifier_from_vkey(cosigner_vkey(cos.verifier()))
    assert verify_cosignature_line(v, text_of(log.note(9)), line) == NOW
    assert open_note(log.note(9) + line, [v]).verified == ("witness.test/gm",)
    # an Ed25519 cosignature verifier of another key ignores the line
    other = Cosigner.generate("witness.test/gm").verifier()
    assert verify_cosignature_line(other, text_of(log.note(9)), line) is None
    assert base64.b64decode(cosigner_vkey(v).split("+", 2)[2]).startswith(
        b"\xff" + wmod.SM2_COSIGNATURE_ID
    )
    # the SM3 tree's proof is checked with SM3: the SHA-256 proof of the same entries fails
    sha = Log(Suite.sha256_ed25519, 12)
    assert refused(w, log.body(9, 12, proof=sha.proof(9, 12))).status == 422
    assert w.add_checkpoint(log.body(9, 12))
    store.close()


# -- refusals -------------------------------------------------------------------------------


def test_stale_old_size_is_409_with_the_witness_size(witness: Witness, log: Log) -> None:
    witness.add_checkpoint(log.body(0, 5))
    e = refused(witness, log.body(0, 8))
    assert (e.status, e.size) == (409, 5)
    e = refused(witness, log.body(3, 8))
    assert (e.status, e.size) == (409, 5)
    # an older checkpoint (a rollback) can never be cosigned
    e = refused(witness, log.body(0, 3))
    assert (e.status, e.size) == (409, 5)
    assert refused(witness, log.body(5, 3, proof=[])).status == 400  # old above the size
    st = witness.store.state(ORIGIN)
    assert st is not None and st.size == 5


def test_bad_proof_is_422_and_recorded(witness: Witness, log: Log, tmp_path: Path) -> None:
    witness.add_checkpoint(log.body(0, 5))
    good = log.proof(5, 8)
    bad = [good[0], bytes(32), *good[2:]]
    assert refused(witness, log.body(5, 8, proof=bad)).status == 422
    assert refused(witness, log.body(5, 8, proof=good[:-1])).status == 422
    # a proof that fits another tree: signed by the log, but not an extension of size 5
    other = Log(Suite.sha256_ed25519, 20, signer=log.signer, tag="forked")
    note = other.note(8)
    assert refused(witness, log.body(5, 8, proof=other.proof(5, 8), note=note)).status == 422
    st = witness.store.state(ORIGIN)
    assert st is not None and st.size == 5
    ev = read_evidence(tmp_path / "w")
    assert [e["kind"] for e in ev] == ["bad_proof"] * 3
    assert ev[2]["submitted"]["checkpoint"] == note and ev[2]["cosigned"]["size"] == 5
    assert forks(ev) == []
    # old 0 must come with an empty proof
    fresh = Log(Suite.sha256_ed25519, 4)
    w2 = Witness(
        witness.cosigner, {ORIGIN: [fresh.signer.verifier()]}, WitnessStore(tmp_path / "x")
    )
    assert refused(w2, fresh.body(0, 4, proof=[bytes(32)])).status == 422


def test_fork_same_size_other_root_is_409_and_evidence(
    witness: Witness, log: Log, tmp_path: Path
) -> None:
    witness.add_checkpoint(log.body(0, 8))
    forked = Log(Suite.sha256_ed25519, 20, signer=log.signer, tag="forked")  # same key
    note = forked.note(8)
    e = refused(witness, log.body(8, 8, proof=[], note=note))
    assert (e.status, e.size) == (409, 8)
    st = witness.store.state(ORIGIN)
    assert st is not None and st.root == log.roots[8]
    ev = read_evidence(tmp_path / "w")
    assert len(ev) == 1 and ev[0]["kind"] == "fork" and ev[0]["size"] == 8
    assert ev[0]["cosigned"]["checkpoint"] == log.note(8)
    assert ev[0]["submitted"]["checkpoint"] == note
    roots = [base64.b64encode(log.roots[8]).decode(), base64.b64encode(forked.roots[8]).decode()]
    assert forks(ev) == [{"origin": ORIGIN, "size": 8, "roots": roots}]


def test_unknown_origin_404_and_bad_signature_403(witness: Witness, log: Log) -> None:
    cp = make_checkpoint("other.example/log", 3, log.roots[3], log.suite)
    other = generate_signer("other.example/log", log.suite)
    body = f"old 0\n\n{sign_note(checkpoint_text(cp), [other])}"
    assert refused(witness, body).status == 404
    # signed by another key of the same name: no valid signature from a known key
    impostor = generate_signer(ORIGIN, log.suite)
    assert refused(witness, log.body(0, 3, note=log.note(3, signer=impostor))).status == 403
    # a known key whose signature does not verify (text altered after signing)
    note = log.note(3)
    tampered = note.replace(
        base64.b64encode(log.roots[3]).decode(), base64.b64encode(log.roots[4]).decode()
    )
    assert refused(witness, f"old 0\n\n{tampered}").status == 403
    assert witness.store.state(ORIGIN) is None


@pytest.mark.parametrize(
    "body",
    [
        "",
        "old 01\n\n",
        "old -1\n\n",
        "new 0\n\n",
        "old 0\nnot-base64!\n\n",
        "old 0\n" + "AAAA\n" * 64 + "\n",
        "old 0\n",  # no empty line
        "old 0\n\nyulin.citycredit/ledger\n3\n",  # no signature block
        "old 0\n\nyulin.citycredit/ledger\n3\nAAAA\n\n— x y\n",
        "old 0\n\nyulin.citycredit/ledger\n03\nAAAA\n\n— x AAAA\n",
    ],
)
def test_malformed_body_is_400(witness: Witness, body: str) -> None:
    assert refused(witness, body).status == 400


def test_suite_line_must_match_the_log_key(witness: Witness, log: Log) -> None:
    sm3 = Log(Suite.sm3_sm2, 4)
    # an Ed25519-signed checkpoint that claims the SM3 suite
    cp = make_checkpoint(ORIGIN, 4, sm3.roots[4], Suite.sm3_sm2)
    note = sign_note(checkpoint_text(cp), [log.signer])
    assert refused(witness, f"old 0\n\n{note}").status == 400


# -- durability -----------------------------------------------------------------------------


def test_state_is_on_disk_before_the_cosignature(
    witness: Witness, log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness.add_checkpoint(log.body(0, 5))

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(wmod.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        witness.add_checkpoint(log.body(5, 8))  # no cosignature without the state written
    monkeypatch.undo()
    st = witness.store.state(ORIGIN)
    assert st is not None and st.size == 5
    saved = json.loads((tmp_path / "w" / "state.json").read_text())
    assert saved["logs"][ORIGIN]["size"] == 5


def test_restart_keeps_state_and_refuses_rollback(
    witness: Witness, log: Log, cosigner: Cosigner, tmp_path: Path
) -> None:
    witness.add_checkpoint(log.body(0, 8))
    with pytest.raises(WitnessStateError):  # one witness process per state directory
        WitnessStore(tmp_path / "w")
    witness.store.close()
    store = WitnessStore(tmp_path / "w")
    again = Witness(cosigner, {ORIGIN: [log.signer.verifier()]}, store)
    e = refused(again, log.body(0, 5))
    assert (e.status, e.size) == (409, 8)
    assert again.add_checkpoint(log.body(8, 13))
    store.close()
    witness.store = WitnessStore(tmp_path / "w")  # for the fixture's close


def test_unreadable_state_refuses_to_start(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "state.json").write_text("{not json")
    with pytest.raises(WitnessStateError):
        WitnessStore(d)


def test_evidence_skips_a_torn_last_line(tmp_path: Path) -> None:
    d = tmp_path / "e"
    d.mkdir()
    (d / "evidence.jsonl").write_text('{"kind": "fork"}\n{"kind": "fo')
    assert read_evidence(d) == [{"kind": "fork"}]


# -- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sm2", [False, True])
def test_key_strings_round_trip(sm2: bool) -> None:
    c = Cosigner.generate("witness.test/k", sm2=sm2)
    again = cosigner_from_skey(cosigner_skey(c))
    assert again.key_id == c.key_id
    v = cosigner_verifier_from_vkey(cosigner_vkey(c.verifier()))
    line = again.cosignature_line("a\n1\nAAAA\n", 7)
    assert verify_cosignature_line(v, "a\n1\nAAAA\n", line) == 7
    with pytest.raises(Exception, match="cosignature"):
        verify_cosignature_line(v, "a\n2\nAAAA\n", line)  # another text: a bad cosignature


def test_log_keys_are_not_cosigner_keys() -> None:
    from citycredit.ledger.signers import signer_to_skey, verifier_to_vkey

    s = generate_signer("x", Suite.sha256_ed25519)
    with pytest.raises(ValueError, match="0x01"):
        cosigner_verifier_from_vkey(verifier_to_vkey(s.verifier()))
    with pytest.raises(ValueError, match="0x01"):
        cosigner_from_skey(signer_to_skey(s))
    vkey = cosigner_vkey(Cosigner.generate("x").verifier())
    name, _kid, key = vkey.split("+", 2)
    with pytest.raises(ValueError, match="key id"):
        cosigner_verifier_from_vkey(f"{name}+{'0' * 8}+{key}")


# -- HTTP -----------------------------------------------------------------------------------


def test_http_interface_status_codes_and_content_types(witness: Witness, log: Log) -> None:
    client = TestClient(make_app(witness))
    r = client.post("/add-checkpoint", content=log.body(0, 5))
    assert r.status_code == 200 and r.text.startswith("\u2014 witness.test/w1 ")
    r = client.post("/add-checkpoint", content=log.body(0, 8))
    assert r.status_code == 409 and r.text == "5\n"
    assert r.headers["content-type"] == "text/x.tlog.size"
    r = client.post("/add-checkpoint", content=log.body(5, 8, proof=[bytes(32)]))
    assert r.status_code == 422
    r = client.post("/add-checkpoint", content="old x\n\n")
    assert r.status_code == 400
    r = client.post("/add-checkpoint", content=b"\xff\xfe")
    assert r.status_code == 400
    r = client.post("/add-checkpoint", content="x" * (wmod.MAX_BODY + 1))
    assert r.status_code == 413
    assert client.get("/add-checkpoint").status_code == 405
    assert os.path.exists(witness.store.directory / "state.json")


# -- settings -------------------------------------------------------------------------------


def test_witnesses_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from citycredit.settings import Settings

    vkey = cosigner_vkey(Cosigner.generate("witness.test/w1").verifier())
    monkeypatch.setenv(
        "CITYCREDIT_LEDGER_WITNESSES",
        json.dumps([{"name": "w1", "url": "https://witness.test/", "vkey": vkey}]),
    )
    [w] = Settings().ledger_witnesses
    assert (w.name, w.url, w.vkey) == ("w1", "https://witness.test/", vkey)
    # a key id that does not match the key, and a URL without a scheme: errors name the fields
    log_vkey = "yulin.citycredit/ledger+" + vkey.split("+", 1)[1]
    monkeypatch.setenv(
        "CITYCREDIT_LEDGER_WITNESSES", json.dumps([{"name": "w1", "url": "x", "vkey": log_vkey}])
    )
    with pytest.raises(ValidationError) as info:
        Settings()
    fields = {".".join(map(str, e["loc"])) for e in info.value.errors()}
    assert fields == {"ledger_witnesses.0.url", "ledger_witnesses.0.vkey"}
