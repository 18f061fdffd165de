"""Forgeries the verifiers must reject (immudb once shipped a verifier that accepted them).

Issue item: forged and truncated proofs, wrong tree sizes, reordered leaves, a replayed older
checkpoint, a bad signature, a key id that does not match — each rejected.
"""

from __future__ import annotations

import base64
import itertools
import random
from collections.abc import Sequence

import pytest

from citycredit.ledger.merkle import (
    Appender,
    ProofError,
    consistency_proof,
    empty_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from citycredit.ledger.note import (
    NoteError,
    checkpoint_text,
    make_checkpoint,
    open_checkpoint,
    open_note,
    sign_note,
    verify_checkpoint_update,
)
from citycredit.ledger.signers import (
    Ed25519Signer,
    NoteSigner,
    NoteVerifier,
    Sm2Signer,
    generate_signer,
)
from citycredit.ledger.suites import SHA256, SM3, HashSuite, Suite, hash_suite

N = 23  # not a power of two, so proofs have ephemeral nodes
SUITES = [pytest.param(SHA256, id="sha256"), pytest.param(SM3, id="sm3")]


class Reader:
    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self.nodes = nodes

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self.nodes[k] for k in keys}


class Tree:
    """A small log with all its roots, a node store and proofs."""

    def __init__(self, h: HashSuite, data: Sequence[bytes]) -> None:
        self.h = h
        self.lhs = [leaf_hash(h, d) for d in data]
        app = Appender(h)
        self.reader = Reader({(lv, ix): v for lh in self.lhs for lv, ix, v in app.append(lh)})
        self.roots = [root_of(h, self.lhs[:n]) for n in range(len(self.lhs) + 1)]

    def incl(self, i: int, n: int) -> list[bytes]:
        return inclusion_proof(self.h, self.reader, i, n)

    def cons(self, m: int, n: int) -> list[bytes]:
        return consistency_proof(self.h, self.reader, m, n)


def data(n: int, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(16) for _ in range(n)]


def flip(b: bytes, bit: int) -> bytes:
    return b[: bit // 8] + bytes([b[bit // 8] ^ (1 << (bit % 8))]) + b[bit // 8 + 1 :]


def rejected_inclusion(
    t: Tree, lh: bytes, i: int, n: int, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        verify_inclusion(t.h, lh, i, n, proof, root)
    except ProofError:
        return True
    return False


def rejected_consistency(
    t: Tree, m: int, n: int, proof: Sequence[bytes], r1: bytes, r2: bytes
) -> bool:
    try:
        verify_consistency(t.h, m, n, proof, r1, r2)
    except ProofError:
        return True
    return False


# --- Inclusion proofs ---------------------------------------------------------------------


@pytest.mark.parametrize("h", SUITES)
def test_flipped_bit_anywhere_in_an_inclusion_proof(h: HashSuite) -> None:
    t = Tree(h, data(N))
    for n in (1, 2, 5, 8, 13, N):
        for i in range(n):
            proof = t.incl(i, n)
            for k, bit in itertools.product(range(len(proof)), (0, 7, 100, 255)):
                forged = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
                assert rejected_inclusion(t, t.lhs[i], i, n, forged, t.roots[n])
            assert rejected_inclusion(t, flip(t.lhs[i], 3), i, n, proof, t.roots[n])
            assert rejected_inclusion(t, t.lhs[i], i, n, proof, flip(t.roots[n], 200))


def test_truncated_and_extended_inclusion_proofs() -> None:
    t = Tree(SHA256, data(N))
    junk = b"\x5a" * 32
    for n in range(1, N + 1):
        for i in range(n):
            p, lh, root = t.incl(i, n), t.lhs[i], t.roots[n]
            forged = [
                [*p, junk],
                [*p, root],
                [junk, *p],
                [root, *p],
                [*p, b""],
                [*p, p[-1]] if p else [lh],
            ]
            if p:
                forged += [p[:-1], p[1:], [*p[:1], junk, *p[1:]]]
            for f in forged:
                assert rejected_inclusion(t, lh, i, n, f, root), (i, n, len(f))


def test_proof_for_one_index_presented_for_another() -> None:
    t = Tree(SHA256, data(N))
    for n in range(2, N + 1):
        for i, j in itertools.permutations(range(n), 2):
            p = t.incl(i, n)
            assert rejected_inclusion(t, t.lhs[i], j, n, p, t.roots[n])
            assert rejected_inclusion(t, t.lhs[j], j, n, p, t.roots[n])
            assert rejected_inclusion(t, t.lhs[j], i, n, p, t.roots[n])


def test_wrong_tree_size_plus_minus_one() -> None:
    # The verifier takes (size, root) from one signed checkpoint: a proof made for size n
    # must fail against the real checkpoint of size n - 1 or n + 1.
    t = Tree(SHA256, data(N))
    for n in range(1, N):
        for i in range(n):
            p = t.incl(i, n)
            assert rejected_inclusion(t, t.lhs[i], i, n + 1, p, t.roots[n + 1])
            if n > 1:
                assert rejected_inclusion(t, t.lhs[i], i, n - 1, p, t.roots[n - 1])
    with pytest.raises(ProofError, match="index"):
        verify_inclusion(SHA256, t.lhs[3], 3, 3, t.incl(3, 4), t.roots[3])
    with pytest.raises(ProofError):
        verify_inclusion(SHA256, t.lhs[0], 0, 0, [], empty_root(SHA256))


def test_swapped_siblings() -> None:
    t = Tree(SHA256, data(N))
    for n in range(3, N + 1):
        for i in range(n):
            p = t.incl(i, n)
            for a, b in itertools.combinations(range(len(p)), 2):
                if p[a] != p[b]:
                    swapped = list(p)
                    swapped[a], swapped[b] = p[b], p[a]
                    assert rejected_inclusion(t, t.lhs[i], i, n, swapped, t.roots[n])


def test_interior_node_presented_as_a_leaf() -> None:
    """Second-preimage attack: an interior node must not pass as a leaf (RFC 9162 §2.1.1)."""
    t = Tree(SHA256, data(4))
    h = SHA256
    n10, n11 = node_hash(h, t.lhs[0], t.lhs[1]), node_hash(h, t.lhs[2], t.lhs[3])
    assert node_hash(h, n10, n11) == t.roots[4]
    # Leaf data made of the two children: its leaf hash is H(0x00||…), never H(0x01||…).
    fake = leaf_hash(h, t.lhs[0] + t.lhs[1])
    assert fake != n10
    assert rejected_inclusion(t, fake, 0, 2, [n11], t.roots[4])
    assert rejected_inclusion(t, fake, 0, 4, [n11], t.roots[4])
    # The interior hash itself, claimed as leaf 0: the real size (4) needs two hashes.
    assert rejected_inclusion(t, n10, 0, 4, [n11], t.roots[4])
    assert rejected_inclusion(t, n10, 0, 4, [t.lhs[1], n11], t.roots[4])
    # A leaf presented as the interior node's data does not hash to that node either.
    assert leaf_hash(h, n10 + n11) != t.roots[4]


def test_reordered_leaves_give_a_different_root() -> None:
    d = data(N)
    t = Tree(SHA256, d)
    for a, b in ((0, 1), (3, 17), (21, 22)):
        swapped = list(d)
        swapped[a], swapped[b] = d[b], d[a]
        u = Tree(SHA256, swapped)
        assert u.roots[N] != t.roots[N]
        # A proof from the reordered log does not prove the same leaf in the real log.
        assert rejected_inclusion(t, u.lhs[a], a, N, u.incl(a, N), t.roots[N])
    assert Tree(SHA256, d[::-1]).roots[N] != t.roots[N]


def test_wrong_hash_lengths_are_rejected() -> None:
    t = Tree(SHA256, data(4))
    p = t.incl(1, 4)
    assert rejected_inclusion(t, t.lhs[1][:31], 1, 4, p, t.roots[4])
    assert rejected_inclusion(t, t.lhs[1], 1, 4, [p[0] + b"\0", p[1]], t.roots[4])
    assert rejected_inclusion(t, t.lhs[1], 1, 4, p, t.roots[4][:16])
    # Mixing suites: an SHA-256 proof checked as SM3 fails.
    assert rejected_inclusion(Tree(SM3, data(1)), t.lhs[1], 1, 4, p, t.roots[4])


# --- Consistency proofs ---------------------------------------------------------------------


@pytest.mark.parametrize("h", SUITES)
def test_forged_consistency_proofs(h: HashSuite) -> None:
    t = Tree(h, data(N))
    junk = b"\xa5" * 32
    for n in range(2, N + 1):
        for m in range(1, n):
            p, r1, r2 = t.cons(m, n), t.roots[m], t.roots[n]
            forged = [[], p[:-1], p[1:], [*p, junk], [junk, *p], [*p, r1], [r2, *p], [p[0], *p]]
            forged += [[*p[:k], flip(p[k], 4), *p[k + 1 :]] for k in range(len(p))]
            for f in forged:
                assert rejected_consistency(t, m, n, f, r1, r2), (m, n)
            assert rejected_consistency(t, m, n, p, r2, r1)
            assert rejected_consistency(t, m, n, p, flip(r1, 9), r2)
            assert rejected_consistency(t, m, n, p, r1, flip(r2, 9))
            assert rejected_consistency(t, m + 1, n, p, t.roots[m + 1], r2) or m + 1 == n
            assert rejected_consistency(t, m, n - 1, p, r1, t.roots[n - 1]) or m == n - 1


def test_consistency_proof_from_a_forked_tree() -> None:
    d = data(N)
    honest = Tree(SHA256, d)
    forked_data = list(d)
    forked_data[5] = b"rewritten history"
    fork = Tree(SHA256, forked_data)
    for m in range(6, N):
        for n in range(m + 1, N + 1):
            # The fork's own proof links the fork's roots, never the honest old root.
            p = fork.cons(m, n)
            verify_consistency(SHA256, m, n, p, fork.roots[m], fork.roots[n])
            assert rejected_consistency(honest, m, n, p, honest.roots[m], fork.roots[n])
            assert rejected_consistency(
                honest, m, n, honest.cons(m, n), honest.roots[m], fork.roots[n]
            )
    # Same size, different root: a fork, not an update.
    assert rejected_consistency(honest, N, N, [], honest.roots[N], fork.roots[N])


def test_first_larger_than_second_and_empty_tree_rules() -> None:
    t = Tree(SHA256, data(8))
    with pytest.raises(ProofError, match="below"):
        verify_consistency(SHA256, 5, 4, [], t.roots[5], t.roots[4])
    verify_consistency(SHA256, 0, 8, [], empty_root(SHA256), t.roots[8])
    with pytest.raises(ProofError):  # a non-empty proof from size 0 is not accepted
        verify_consistency(SHA256, 0, 8, [t.roots[8]], empty_root(SHA256), t.roots[8])
    with pytest.raises(ProofError):  # the empty tree has exactly one root
        verify_consistency(SHA256, 0, 8, [], t.roots[1], t.roots[8])
    with pytest.raises(ProofError):
        verify_consistency(SHA256, 3, 3, [t.roots[3]], t.roots[3], t.roots[3])
    with pytest.raises(ProofError):
        verify_consistency(SHA256, -1, 3, [], t.roots[0], t.roots[3])


# --- Checkpoints and notes -------------------------------------------------------------------


def _signed(signer: NoteSigner, t: Tree, n: int, suite: Suite) -> str:
    return sign_note(
        checkpoint_text(make_checkpoint("o.example/log", n, t.roots[n], suite)), [signer]
    )


@pytest.mark.parametrize(
    ("suite", "h"), [(Suite.sha256_ed25519, SHA256), (Suite.sm3_sm2, SM3)], ids=["intl", "gm"]
)
def test_replayed_older_checkpoint_and_forks(suite: Suite, h: HashSuite) -> None:
    t = Tree(h, data(N))
    log = generate_signer("o.example/log", suite)
    v = [log.verifier()]
    old = open_checkpoint(_signed(log, t, 15, suite), v, suite)
    new = open_checkpoint(_signed(log, t, N, suite), v, suite)
    verify_checkpoint_update(h, old, new, t.cons(15, N))
    with pytest.raises(ProofError, match="replayed"):  # the older checkpoint comes back
        verify_checkpoint_update(h, new, old, t.cons(15, N))
    fork = Tree(h, [*data(N)[:10], b"evil", *data(N)[11:]])
    forked = make_checkpoint("o.example/log", N, fork.roots[N], suite)
    with pytest.raises(ProofError, match="fork"):
        verify_checkpoint_update(h, new, forked, [])
    with pytest.raises(ProofError):  # a proof from the honest tree cannot link to the fork
        verify_checkpoint_update(h, old, forked, t.cons(15, N))
    with pytest.raises(ProofError):  # nor the fork's own proof to the honest old root
        verify_checkpoint_update(h, old, forked, fork.cons(15, N))
    bad = t.cons(15, N)
    bad[0] = flip(bad[0], 0)
    with pytest.raises(ProofError):
        verify_checkpoint_update(h, old, new, bad)
    other_origin = make_checkpoint("other.example/log", N, t.roots[N], suite)
    with pytest.raises(ProofError, match="origin"):
        verify_checkpoint_update(h, old, other_origin, t.cons(15, N))
    other_suite = Suite.sm3_sm2 if suite is Suite.sha256_ed25519 else Suite.sha256_ed25519
    with pytest.raises(ProofError, match="suite"):
        verify_checkpoint_update(
            h, old, make_checkpoint("o.example/log", N, t.roots[N], other_suite), []
        )


@pytest.mark.parametrize("suite", list(Suite))
def test_bad_signature_is_rejected(suite: Suite) -> None:
    t = Tree(hash_suite(suite), data(3))
    log = generate_signer("o.example/log", suite)
    note = _signed(log, t, 3, suite)
    text, sig_line = note.split("\n\n")
    prefix, blob = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(blob)
    for pos in (4, 20, len(raw) - 1):  # flip a bit in the signature (not the key id)
        bad = raw[:pos] + bytes([raw[pos] ^ 1]) + raw[pos + 1 :]
        forged = f"{text}\n\n{prefix} {base64.b64encode(bad).decode()}\n"
        with pytest.raises(NoteError, match="invalid signature"):
            open_note(forged, [log.verifier()])
    # Changing the signed text (a different size) with the old signature: rejected too.
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note.replace("\n3\n", "\n4\n", 1), [log.verifier()])


def test_same_name_different_key_id_is_not_trusted() -> None:
    t = Tree(SHA256, data(3))
    trusted = generate_signer("o.example/log", Suite.sha256_ed25519)
    impostor = generate_signer("o.example/log", Suite.sha256_ed25519)  # same name, new key
    assert impostor.key_id != trusted.key_id
    with pytest.raises(NoteError, match="known key"):
        open_note(_signed(impostor, t, 3, Suite.sha256_ed25519), [trusted.verifier()])
    # Alongside a genuine signature the impostor's line is ignored, as the spec requires.
    text = checkpoint_text(make_checkpoint("o.example/log", 3, t.roots[3], Suite.sha256_ed25519))
    both = sign_note(text, [impostor, trusted])
    assert open_note(both, [trusted.verifier()]).verified == ("o.example/log",)


def test_key_id_matches_but_name_differs() -> None:
    t = Tree(SHA256, data(3))
    trusted = generate_signer("o.example/log", Suite.sha256_ed25519)
    note = _signed(trusted, t, 3, Suite.sha256_ed25519)
    renamed = note.replace("— o.example/log ", "— p.example/log ")
    with pytest.raises(NoteError, match="known key"):
        open_note(renamed, [trusted.verifier()])


class _ForgedKeyId:
    """A different key that claims the trusted (name, key id): its signature must not pass."""

    def __init__(self, inner: Ed25519Signer | Sm2Signer, name: str, kid: bytes) -> None:
        self.inner, self.name, self.key_id, self.alg = inner, name, kid, inner.alg

    def sign(self, msg: bytes) -> bytes:
        return self.inner.sign(msg)

    def verifier(self) -> NoteVerifier:
        return self.inner.verifier()


@pytest.mark.parametrize("suite", list(Suite))
def test_key_id_collision_with_another_key_fails_verification(suite: Suite) -> None:
    t = Tree(SHA256, data(3))
    trusted = generate_signer("o.example/log", suite)
    other = generate_signer("o.example/log", suite)
    assert isinstance(other, Ed25519Signer | Sm2Signer)
    forger = _ForgedKeyId(other, trusted.name, trusted.key_id)
    note = _signed(forger, t, 3, Suite.sha256_ed25519)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note, [trusted.verifier()])


def test_malformed_notes() -> None:
    t = Tree(SHA256, data(3))
    log = generate_signer("o.example/log", Suite.sha256_ed25519)
    v = [log.verifier()]
    note = _signed(log, t, 3, Suite.sha256_ed25519)
    open_note(note, v)  # control
    text, sig_line = note.split("\n\n")
    prefix, blob = sig_line.rstrip("\n").rsplit(" ", 1)
    cases = {
        "missing blank line": text + "\n" + sig_line,
        "CRLF": note.replace("\n", "\r\n"),
        "CR in text only": note.replace("\n", "\r\n", 1),
        "trailing garbage": note + "garbage\n",
        "trailing blank line": note + "\n",
        "no final newline": note[:-1],
        "non-base64 signature": note.replace(sig_line.split(" ")[-1], "!!not*base64!!\n"),
        "URL-safe base64": f"{text}\n\n{prefix} {blob.replace('+', '-').replace('/', '_')}\n",
        "short signature": f"{text}\n\n— o.example/log AAAAAA==\n",
        "empty name": f"{text}\n\n—  {sig_line.split(' ')[-1]}",
        "hyphen instead of em dash": note.replace("— ", "- "),
        "tab": note.replace(" ", "\t", 1),
        "NUL": "\x00" + note,
    }
    for why, bad in cases.items():
        if bad == note:
            continue  # e.g. a signature without '+' or '/': nothing to substitute
        try:
            open_note(bad, v)
        except NoteError:
            continue
        pytest.fail(f"malformed note accepted: {why}")
