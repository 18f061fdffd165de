"""Signed notes and checkpoints: Go and C2SP vectors, strict parsing, both suites."""

from __future__ import annotations

import base64

import pytest

from citycredit.ledger.merkle import ProofError, empty_root, leaf_hash, root_of
from citycredit.ledger.note import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteError,
    checkpoint_text,
    make_checkpoint,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    sign_note,
    suite_extension_line,
    verify_checkpoint_update,
)
from citycredit.ledger.signers import (
    NoteVerifier,
    generate_signer,
    signer_from_skey,
    verifier_from_vkey,
)
from citycredit.ledger.suites import SHA256, SM3, Suite, hash_suite

# golang/mod sumdb/note/note_test.go (commit 02c991387e35f9e4c0a9b7ce137717055f8d716d)
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# C2SP tlog-checkpoint.md example note text (commit 2793893976c835db049c194d8f2c4f946dcb70ba)
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def _splice_bytes(s: str, at: int, insert: str) -> str:
    """Go slices strings by byte; splice at a byte offset like note_test.go does."""
    b = s.encode()
    return (b[:at] + insert.encode() + b[at:]).decode()


@pytest.fixture
def peter() -> NoteVerifier:
    return verifier_from_vkey(PETER_VKEY)


@pytest.fixture
def enoch() -> NoteVerifier:
    return verifier_from_vkey(ENOCH_VKEY)


# --- Go reference notes ------------------------------------------------------------------


def test_sign_reproduces_the_go_note_byte_for_byte() -> None:
    assert sign_note(TEXT, [signer_from_skey(PETER_SKEY)]) == TEXT + "\n" + PETER_SIG


def test_open_go_notes(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == open_note(TEXT + "\n" + PETER_SIG, [peter])
    opened = open_note(note, [peter])
    assert opened.text == TEXT and opened.verified == ("PeterNeumann",)
    assert open_note(note, [peter, enoch]).verified == ("PeterNeumann", "EnochRoot")
    with pytest.raises(NoteError, match="known key"):
        open_note(note, [])
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])


def test_go_invalid_signature_and_duplicates(peter: NoteVerifier) -> None:
    bad = _splice_bytes(PETER_SIG, 60, "ABCD")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(TEXT + "\n" + bad, [peter])
    # Repeated and unknown (even corrupt) signatures are fine when a known key verifies.
    enoch_abcd = _splice_bytes(ENOCH_SIG, 60, "ABCD")
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    assert open_note(note, [peter]).verified == ("PeterNeumann",)


def test_go_malformed_notes(peter: NoteVerifier) -> None:
    bad_msgs = [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        "\udcff" + TEXT + "\n" + PETER_SIG,  # a str cannot hold Go's "\xff"; a lone surrogate can
        TEXT + "\n" + "— Bad Name " + PETER_SIG.split(" ")[2],
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1),
    ]
    for msg in bad_msgs:
        with pytest.raises(NoteError):
            open_note(msg, [peter])


# --- Round trips in both suites ------------------------------------------------------------


@pytest.mark.parametrize("suite", list(Suite))
def test_checkpoint_round_trip_signed(suite: Suite) -> None:
    h = hash_suite(suite)
    root = root_of(h, [leaf_hash(h, b"a"), leaf_hash(h, b"b"), leaf_hash(h, b"c")])
    cp = make_checkpoint("yulin.example/credit-log", 3, root, suite)
    text = checkpoint_text(cp)
    assert text == (
        f"yulin.example/credit-log\n3\n{base64.b64encode(root).decode()}\nsuite {suite.value}\n"
    )
    assert parse_checkpoint(text, suite) == cp and cp.suite is suite
    log = generate_signer("yulin.example/credit-log", suite)
    witness = generate_signer("witness.example/w1", Suite.sha256_ed25519)
    note = sign_note(text, [log, witness])
    assert note.startswith(text + "\n— yulin.example/credit-log ")
    got = open_checkpoint(note, [log.verifier()], suite, origin="yulin.example/credit-log")
    assert got == cp
    assert open_note(note, [witness.verifier(), log.verifier()]).verified == (
        "yulin.example/credit-log",
        "witness.example/w1",
    )
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, [log.verifier()], suite, origin="other.example/log")
    other = Suite.sm3_sm2 if suite is Suite.sha256_ed25519 else Suite.sha256_ed25519
    with pytest.raises(NoteError, match="suite"):
        open_checkpoint(note, [log.verifier()], other)


def test_empty_tree_checkpoint() -> None:
    cp = make_checkpoint("o", 0, empty_root(SM3), Suite.sm3_sm2)
    assert checkpoint_text(cp).split("\n")[1] == "0"
    assert parse_checkpoint(checkpoint_text(cp)) == cp


def test_c2sp_example_checkpoint_parses() -> None:
    cp = parse_checkpoint(C2SP_CHECKPOINT)
    assert (cp.origin, cp.size, len(cp.root), cp.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        32,
        (),
    )
    assert cp.suite is None and checkpoint_text(cp) == C2SP_CHECKPOINT
    with pytest.raises(NoteError, match="suite"):
        parse_checkpoint(C2SP_CHECKPOINT, Suite.sha256_ed25519)  # our logs must name it


def test_extension_lines_are_kept_in_order() -> None:
    cp = make_checkpoint("o", 5, b"\x01" * 32, Suite.sha256_ed25519, ["witness-hint abc"])
    assert cp.extensions == ("suite sha256-ed25519", "witness-hint abc")
    assert parse_checkpoint(checkpoint_text(cp)) == cp
    assert suite_extension_line(Suite.sm3_sm2) == "suite sm3-sm2"


ROOT64 = base64.b64encode(b"\x07" * 32).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"o\n007\n{ROOT64}\n",  # leading zeros
        f"o\n+7\n{ROOT64}\n",
        f"o\n 7\n{ROOT64}\n",
        f"o\n7 \n{ROOT64}\n",
        f"o\n-1\n{ROOT64}\n",
        f"o\n0x7\n{ROOT64}\n",
        f"o\n７\n{ROOT64}\n",  # full-width digit
        f"o\n{2**64}\n{ROOT64}\n",
        f"o\n\n{ROOT64}\n",
        f"\n7\n{ROOT64}\n",
        f"o\n7\n{ROOT64}",  # no final newline
        f"o\n7\n{ROOT64}\n\n",  # empty extension line
        f"o\n7\n{ROOT64}\r\n",  # CRLF
        f"o\r\n7\n{ROOT64}\n",
        "o\n7\n",  # too few lines
        f"o\n7\n{ROOT64[:-1]}\n",  # bad base64
        f"o\n7\n{ROOT64[:-2]}==\n",
        f"o\n7\n{base64.b64encode(b'x' * 31).decode()}\n",  # 31-byte root
        f"o\n7\n{base64.b64encode(b'x' * 33).decode()}\n",
        f"o\n7\n{ROOT64.replace('c', '-')}\n",  # URL-safe alphabet
        f"o\n7\n{ROOT64}\nsuite sm3-sm2\nsuite sm3-sm2\n",  # two suite lines
        f"o\n7\n{ROOT64}\nsuite sha3-dilithium\n",  # unknown suite
        f"o\t\n7\n{ROOT64}\n",  # control character
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


def test_noncanonical_root_base64_is_rejected() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    canonical = base64.b64encode(b"\x07" * 32).decode()  # 32 bytes: two zero pad bits at the end
    last = alphabet[alphabet.index(canonical[-2]) | 1]
    tweaked = canonical[:-2] + last + "="
    assert base64.b64decode(tweaked) == base64.b64decode(canonical)  # lenient decoders agree
    with pytest.raises(NoteError, match="canonical"):
        parse_checkpoint(f"o\n7\n{tweaked}\n")


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("", 1, b"\0" * 32),
        Checkpoint("a\nb", 1, b"\0" * 32),
        Checkpoint("o", -1, b"\0" * 32),
        Checkpoint("o", 2**64, b"\0" * 32),
        Checkpoint("o", 1, b"\0" * 31),
        Checkpoint("o", 1, b"\0" * 32, ("",)),
        Checkpoint("o", 1, b"\0" * 32, ("x\ny",)),
        Checkpoint("o", True, b"\0" * 32),
    ],
)
def test_checkpoint_text_rejects_bad_checkpoints(cp: Checkpoint) -> None:
    with pytest.raises(NoteError):
        checkpoint_text(cp)


def test_sign_note_rejects_bad_input() -> None:
    s = generate_signer("n", Suite.sha256_ed25519)
    for text in ("no newline", "cr\r\n", "tab\t\n"):
        with pytest.raises(NoteError):
            sign_note(text, [s])
    with pytest.raises(NoteError):
        sign_note("x\n", [])
    with pytest.raises(NoteError, match="duplicate"):
        sign_note("x\n", [s, s])


def test_checkpoint_update_accepts_a_real_extension() -> None:
    h = SHA256
    lhs = [leaf_hash(h, bytes([i])) for i in range(9)]
    old = make_checkpoint("o", 4, root_of(h, lhs[:4]), Suite.sha256_ed25519)
    new = make_checkpoint("o", 9, root_of(h, lhs), Suite.sha256_ed25519)
    proof = [root_of(h, lhs[4:8]), lhs[8]]  # PROOF(4, D[9]) by RFC 9162 §2.1.4.1
    verify_checkpoint_update(h, old, new, proof)
    verify_checkpoint_update(h, new, new, [])
    with pytest.raises(ProofError, match="hash"):
        verify_checkpoint_update(SM3, old, new, proof)
