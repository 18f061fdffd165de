"""RFC 9162 Merkle tree: published vectors, a naive reference, storage reads, both suites."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import pytest
from pysmx.SM3 import digest as pysmx_sm3

from citycredit.ledger.merkle import (
    Appender,
    MissingNodeError,
    ProofError,
    consistency_nodes,
    consistency_proof,
    empty_root,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    peaks,
    root_at,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from citycredit.ledger.suites import SHA256, SM3, HashSuite, Suite, hash_suite

H = bytes.fromhex

# --- Published vectors -------------------------------------------------------------------
# transparency-dev/merkle testonly/constants.go (commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1):
# LeafInputs(), NodeHashes() [level][index], RootHashes() [size], CompactTrees() [size].
LEAF_INPUTS = [
    H(""),
    H("00"),
    H("10"),
    H("2021"),
    H("3031"),
    H("40414243"),
    H("5051525354555657"),
    H("606162636465666768696a6b6c6d6e6f"),
]
NODE_HASHES = [
    [
        H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        H("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        H("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        H("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        H("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
ROOTS = [
    H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
NH = NODE_HASHES
COMPACT_TREES = [
    [],
    [NH[0][0]],
    [NH[1][0]],
    [NH[1][0], NH[0][2]],
    [NH[2][0]],
    [NH[2][0], NH[0][4]],
    [NH[2][0], NH[1][2]],
    [NH[2][0], NH[1][2], NH[0][6]],
    [NH[3][0]],
]

# transparency-dev/merkle proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472):
# inclusionProofs {leaf, size, proof} with 1-based `leaf`, consistencyProofs {size1, size2, proof}.
INCLUSION_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# transparency-dev/merkle proof/proof_test.go (commit 02a3e2029520f515596d5238c54fb0ac9e19bff4):
# node IDs (level, index) to fetch for inclusion and consistency proofs.
INCLUSION_NODE_VECTORS = [
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)]),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)]),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)]),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)]),
    (7, 4, [(0, 5), (0, 6), (2, 0)]),
    (7, 5, [(0, 4), (0, 6), (2, 0)]),
    (7, 6, [(1, 2), (2, 0)]),
    (1, 0, []),
    (2, 0, [(0, 1)]),
    (2, 1, [(0, 0)]),
    (3, 1, [(0, 0), (0, 2)]),
    (4, 2, [(0, 3), (1, 0)]),
    (5, 3, [(0, 2), (1, 0), (0, 4)]),
    (6, 3, [(0, 2), (1, 0), (1, 2)]),
    (6, 4, [(0, 5), (2, 0)]),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)]),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)]),
    (95, 81, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
]
CONSISTENCY_NODE_VECTORS = [
    (1, 2, [(0, 1)]),
    (1, 4, [(0, 1), (1, 1)]),
    (1, 6, [(0, 1), (1, 1), (1, 2)]),
    (2, 3, [(0, 2)]),
    (2, 8, [(1, 1), (2, 1)]),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)]),
    (4, 7, [(0, 6), (1, 2)]),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)]),
    (6, 7, [(1, 2), (0, 6), (2, 0)]),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)]),
    (2, 4, [(1, 1)]),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)]),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)]),
    (4, 6, [(1, 2)]),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)]),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)]),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)]),
    (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
] + [(n, n, []) for n in (1, 2, 3, 4, 5, 7, 8)]


# --- Helpers -----------------------------------------------------------------------------


class DictReader:
    """In-memory NodeReader that counts batch calls."""

    def __init__(self, nodes: Mapping[tuple[int, int], bytes]) -> None:
        self.nodes = dict(nodes)
        self.calls: list[list[tuple[int, int]]] = []

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        self.calls.append(list(keys))
        return {k: self.nodes[k] for k in keys if k in self.nodes}


def build(h: HashSuite, leaf_hashes: Sequence[bytes]) -> tuple[Appender, DictReader]:
    app = Appender(h)
    nodes = {(lv, ix): v for lh in leaf_hashes for lv, ix, v in app.append(lh)}
    return app, DictReader(nodes)


def random_leaves(h: HashSuite, n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [leaf_hash(h, rnd.randbytes(rnd.randrange(0, 40))) for _ in range(n)]


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)  # RFC 9162 §2.1.1: largest power of two < n


def ref_path(h: HashSuite, m: int, d: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), written from the RFC text."""
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(h, m, d[:k]), root_of(h, d[k:])]
    return [*ref_path(h, m - k, d[k:]), root_of(h, d[:k])]


def ref_subproof(h: HashSuite, m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [root_of(h, d)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(h, m, d[:k], b), root_of(h, d[k:])]
    return [*ref_subproof(h, m - k, d[k:], False), root_of(h, d[:k])]


def ref_mth(hash_fn: Callable[[bytes], bytes], leaves: Sequence[bytes]) -> bytes:
    """Independent MTH over raw leaf data with another implementation's hash function."""
    if not leaves:
        return hash_fn(b"")
    if len(leaves) == 1:
        return hash_fn(b"\x00" + leaves[0])
    k = _split(len(leaves))
    return hash_fn(b"\x01" + ref_mth(hash_fn, leaves[:k]) + ref_mth(hash_fn, leaves[k:]))


SUITES = [pytest.param(SHA256, id="sha256"), pytest.param(SM3, id="sm3")]


# --- Vectors -----------------------------------------------------------------------------


def test_suite_known_answers() -> None:
    # GB/T 32905-2016 examples 1 and 2; SHA-256("") (FIPS 180-4)
    assert SM3.hash(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert SM3.hash(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    assert empty_root(SHA256) == ROOTS[0]
    assert hash_suite(Suite.sm3_sm2) is SM3 and hash_suite(Suite.sha256_ed25519) is SHA256
    assert hash_suite("sm3-sm2") is SM3  # type: ignore[arg-type]
    assert SHA256.size == SM3.size == 32


def test_roots_and_nodes_match_transparency_dev_vectors() -> None:
    lhs = [leaf_hash(SHA256, d) for d in LEAF_INPUTS]
    app = Appender(SHA256)
    assert app.root() == ROOTS[0] and app.right_edge == ()
    stored: dict[tuple[int, int], bytes] = {}
    for size in range(1, 9):
        stored.update({(lv, ix): v for lv, ix, v in app.append(lhs[size - 1])})
        assert app.root() == ROOTS[size]
        assert root_of(SHA256, lhs[:size]) == ROOTS[size]
        assert list(app.right_edge) == COMPACT_TREES[size]
        assert root_at(SHA256, DictReader(stored), size) == ROOTS[size]
    assert stored == {(lv, ix): v for lv, row in enumerate(NH) for ix, v in enumerate(row)}


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(leaf: int, size: int, proof: list[bytes]) -> None:
    lhs = [leaf_hash(SHA256, d) for d in LEAF_INPUTS]
    _, reader = build(SHA256, lhs)
    index = leaf - 1  # the Go vectors number leaves from 1
    assert inclusion_proof(SHA256, reader, index, size) == proof
    verify_inclusion(SHA256, lhs[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(first: int, second: int, proof: list[bytes]) -> None:
    _, reader = build(SHA256, [leaf_hash(SHA256, d) for d in LEAF_INPUTS])
    assert consistency_proof(SHA256, reader, first, second) == proof
    verify_consistency(SHA256, first, second, proof, ROOTS[first], ROOTS[second])


@pytest.mark.parametrize(("size", "index", "want"), INCLUSION_NODE_VECTORS)
def test_inclusion_node_ids(size: int, index: int, want: list[tuple[int, int]]) -> None:
    assert inclusion_nodes(index, size) == want


@pytest.mark.parametrize(("first", "second", "want"), CONSISTENCY_NODE_VECTORS)
def test_consistency_node_ids(first: int, second: int, want: list[tuple[int, int]]) -> None:
    assert consistency_nodes(first, second) == want


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7), (-1, 3)])
def test_inclusion_nodes_reject_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError, match=r"index|size"):
        inclusion_nodes(index, size)


@pytest.mark.parametrize(("first", "second"), [(5, 0), (9, 8), (-1, 4)])
def test_consistency_nodes_reject_bad_arguments(first: int, second: int) -> None:
    with pytest.raises(ValueError, match=r"size|first"):
        consistency_nodes(first, second)


def test_sm3_tree_cross_checked_with_pysmx() -> None:
    # No published SM3 tree vectors exist; compare with an MTH built on pysmx's own SM3.
    lhs = [leaf_hash(SM3, d) for d in LEAF_INPUTS]
    for size in range(0, 9):
        assert root_of(SM3, lhs[:size]) == ref_mth(pysmx_sm3, LEAF_INPUTS[:size])
    assert root_of(SM3, lhs).hex() != ROOTS[8].hex()


# --- Properties against the reference ---------------------------------------------------


@pytest.mark.parametrize("h", SUITES)
def test_roots_agree_for_every_size_to_70(h: HashSuite) -> None:
    lhs = random_leaves(h, 70, seed=70)
    app, reader = build(h, lhs)
    for size in range(0, 71):
        want = root_of(h, lhs[:size])
        assert root_at(h, reader, size) == want
        assert Appender(h, size, [reader.nodes[k] for k in peaks(size)]).root() == want
    assert app.root() == root_of(h, lhs)


@pytest.mark.parametrize("h", SUITES)
def test_every_inclusion_proof_to_40_matches_reference_and_verifies(h: HashSuite) -> None:
    lhs = random_leaves(h, 40, seed=40)
    _, reader = build(h, lhs)
    for size in range(1, 41):
        root = root_of(h, lhs[:size])
        for index in range(size):
            reader.calls.clear()
            proof = inclusion_proof(h, reader, index, size)
            assert proof == ref_path(h, index, lhs[:size]), (index, size)
            assert len(reader.calls) == (1 if proof else 0)
            verify_inclusion(h, lhs[index], index, size, proof, root)


@pytest.mark.parametrize("h", SUITES)
def test_every_consistency_proof_to_40_matches_reference_and_verifies(h: HashSuite) -> None:
    lhs = random_leaves(h, 40, seed=41)
    _, reader = build(h, lhs)
    roots = [root_of(h, lhs[:n]) for n in range(41)]
    for second in range(0, 41):
        for first in range(0, second + 1):
            reader.calls.clear()
            proof = consistency_proof(h, reader, first, second)
            want = [] if first in (0, second) else ref_subproof(h, first, lhs[:second], True)
            assert proof == want, (first, second)
            assert len(reader.calls) == (1 if proof else 0)
            verify_consistency(h, first, second, proof, roots[first], roots[second])


def test_one_reader_call_and_missing_nodes() -> None:
    lhs = random_leaves(SHA256, 13, seed=13)
    _, reader = build(SHA256, lhs)
    reader.calls.clear()
    inclusion_proof(SHA256, reader, 5, 13)
    consistency_proof(SHA256, reader, 5, 13)
    root_at(SHA256, reader, 13)
    assert [len(c) for c in reader.calls] == [
        len(inclusion_nodes(5, 13)),
        len(consistency_nodes(5, 13)),
        len(peaks(13)),
    ]
    del reader.nodes[(0, 4)]
    with pytest.raises(MissingNodeError):
        inclusion_proof(SHA256, reader, 5, 13)
    reader.nodes[(0, 4)] = b"short"
    with pytest.raises(MissingNodeError):
        inclusion_proof(SHA256, reader, 5, 13)


# --- Appender ----------------------------------------------------------------------------


def test_appender_reports_every_complete_node_once_and_resumes() -> None:
    lhs = random_leaves(SHA256, 37, seed=37)
    app, reader = build(SHA256, lhs[:20])
    resumed = Appender(SHA256, 20, [reader.nodes[k] for k in peaks(20)])
    assert resumed.right_edge == app.right_edge and resumed.size == 20
    new = resumed.extend(lhs[20:])
    _, full = build(SHA256, lhs)
    assert {(lv, ix): v for lv, ix, v in new} | reader.nodes == full.nodes
    assert len(new) + len(reader.nodes) == len(full.nodes)  # nothing reported twice
    assert resumed.root() == root_of(SHA256, lhs)
    assert app.append(lhs[20])[0] == (0, 20, lhs[20])


def test_peaks() -> None:
    assert peaks(0) == []
    assert peaks(1) == [(0, 0)]
    assert peaks(7) == [(2, 0), (1, 2), (0, 6)]
    assert peaks(95) == [(6, 0), (4, 4), (3, 10), (2, 22), (1, 46), (0, 94)]
    assert len(peaks(10_000_000)) == bin(10_000_000).count("1")


def test_appender_rejects_bad_state() -> None:
    with pytest.raises(ValueError, match="peaks"):
        Appender(SHA256, 3, [b"\x00" * 32])
    with pytest.raises(ProofError):
        Appender(SHA256, 1, [b"\x00" * 31])
    with pytest.raises(ProofError):
        Appender(SHA256, -1)
    with pytest.raises(ProofError):
        Appender(SHA256).append(b"\x00" * 33)


def test_root_of_recursion_is_rfc_split() -> None:
    a, b, c = (leaf_hash(SHA256, bytes([i])) for i in range(3))
    assert root_of(SHA256, [a, b, c]) == node_hash(SHA256, node_hash(SHA256, a, b), c)
    assert root_of(SHA256, [a]) == a
    assert root_of(SHA256, []) == empty_root(SHA256)


# --- Speed -------------------------------------------------------------------------------


class SyntheticReader:
    """Returns a distinct hash per key without storage, so only our own work is timed."""

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        return {k: k[0].to_bytes(4, "big") + k[1].to_bytes(28, "big") for k in keys}


@pytest.mark.parametrize("h", SUITES)
def test_proofs_at_ten_million_read_a_logarithmic_number_of_nodes(h: HashSuite) -> None:
    """A proof reads O(log n) stored nodes in one batched call (speed itself is measured by
    benchmarks/ledger.py, never by a timed test)."""

    class Counting(SyntheticReader):
        def __init__(self) -> None:
            self.calls: list[int] = []

        def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
            self.calls.append(len(keys))
            return super().get_nodes(keys)

    size, rounds = 10_000_000, 200
    depth = (size - 1).bit_length()  # 24
    rnd = random.Random(7)
    for _ in range(rounds):
        reader = Counting()
        inclusion_proof(h, reader, rnd.randrange(size), size)
        assert len(reader.calls) == 1 and reader.calls[0] <= 2 * depth, reader.calls
        reader = Counting()
        consistency_proof(h, reader, rnd.randrange(1, size), size)
        assert len(reader.calls) == 1 and reader.calls[0] <= 3 * depth, reader.calls
