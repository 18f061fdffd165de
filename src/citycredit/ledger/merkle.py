"""RFC 9162 §2.1 Merkle tree: hashes, proofs built from stored complete subtrees, verifiers.

Leaf indexes are 0-based. A node key (level, index) names the complete subtree of the
leaves [index * 2**level, (index + 1) * 2**level); its hash is the MTH of those leaves.
Only complete subtrees are ever stored: the hash of an incomplete ("ephemeral") right
subtree that a proof needs is recombined here from the complete nodes covering it, the
technique of transparency-dev/merkle (proof/proof.go), so a proof costs one batch read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from hmac import compare_digest
from typing import Protocol

from citycredit.ledger.suites import HashSuite

NodeKey = tuple[int, int]

_LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))
_NODE_PREFIX = b"\x01"  # RFC 9162 §2.1.1: HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
MAX_SIZE = 1 << 63  # RFC 9162 tree sizes are uint64; we stay clear of the top bit


class ProofError(ValueError):
    """A proof, a size or a hash failed verification (message in Chinese and English)."""


class MissingNodeError(LookupError):
    """The node reader did not return a node the proof needs (a storage fault, not a forgery)."""


class NodeReader(Protocol):
    """Batch access to stored complete-subtree hashes."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]: ...


def leaf_hash(h: HashSuite, data: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash: HASH(0x00 || data)."""
    return h.hash(_LEAF_PREFIX + data)


def node_hash(h: HashSuite, left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 interior node hash: HASH(0x01 || left || right)."""
    return h.hash(_NODE_PREFIX + left + right)


def empty_root(h: HashSuite) -> bytes:
    """RFC 9162 §2.1.1: the hash of an empty list is HASH() of the empty string."""
    return h.hash(b"")


def root_of(h: HashSuite, leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, straight from the RFC 9162 §2.1.1 recursion."""

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 1:
            return leaf_hashes[lo]
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
        return node_hash(h, mth(lo, lo + k), mth(lo + k, hi))

    return mth(0, len(leaf_hashes)) if leaf_hashes else empty_root(h)


def _range_nodes(begin: int, end: int) -> list[NodeKey]:
    """The complete subtrees covering [begin, end), left to right (a compact range)."""
    out: list[NodeKey] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def range_nodes(begin: int, end: int) -> list[NodeKey]:
    """(level, index) of the complete subtrees covering leaves [begin, end), left to right."""
    _check_size(begin, "begin")
    _check_size(end, "end")
    return _range_nodes(begin, end)


def peaks(size: int) -> list[NodeKey]:
    """(level, index) of the complete subtrees covering [0, size), largest first."""
    _check_size(size, "size")
    return _range_nodes(0, size)


def _plan(index: int, level: int, size: int) -> tuple[list[NodeKey], int, int]:
    """Nodes proving node (level, index) in a tree of `size`: seed, path, ephemeral, left."""
    # keys[begin:end] are the complete nodes (smallest first) that combine into the
    # ephemeral sibling; the layout is transparency-dev/merkle's proof.nodes().
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level, fork_index = level + inner, index >> inner
    fork_begin, fork_end = fork_index << fork_level, (fork_index + 1) << fork_level
    keys: list[NodeKey] = [(level, index)]
    lv, ix = level, index
    while lv < fork_level:  # siblings on the path up to the fork node
        keys.append((lv, ix ^ 1))
        lv, ix = lv + 1, ix >> 1
    begin = len(keys)
    keys.extend(reversed(_range_nodes(fork_end, size)))  # the ephemeral right sibling
    end = len(keys)
    keys.extend(reversed(_range_nodes(0, fork_begin)))  # left siblings, lowest first
    if end - begin < 2:  # zero or one node: nothing to recombine
        begin = end = 0
    return keys, begin, end


def _skip_first(plan: tuple[list[NodeKey], int, int]) -> tuple[list[NodeKey], int, int]:
    keys, begin, end = plan
    return keys[1:], max(begin - 1, 0), max(end - 1, 0)


def _inclusion_plan(index: int, size: int) -> tuple[list[NodeKey], int, int]:
    _check_size(index, "index")
    _check_size(size, "size")
    if index >= size:
        raise ValueError(f"叶序号超出树大小 / leaf index {index} is not below tree size {size}")
    return _skip_first(_plan(index, 0, size))


def _consistency_plan(first: int, second: int) -> tuple[list[NodeKey], int, int]:
    _check_size(first, "first")
    _check_size(second, "second")
    if first > second:
        raise ValueError(f"旧树大于新树 / first size {first} exceeds second size {second}")
    if first == 0 or first == second:
        return [], 0, 0
    level = (first & -first).bit_length() - 1  # the largest complete subtree ending at first
    plan = _plan((first - 1) >> level, level, second)
    # RFC 9162 §2.1.4.1: when `first` is a power of two its root is known to the verifier
    return _skip_first(plan) if first & (first - 1) == 0 else plan


def inclusion_nodes(index: int, size: int) -> list[NodeKey]:
    """Every complete node needed for PATH(index, D[size]) (RFC 9162 §2.1.3.1), fixed order."""
    return _inclusion_plan(index, size)[0]


def consistency_nodes(first: int, second: int) -> list[NodeKey]:
    """Every complete node needed for PROOF(first, D[second]) (RFC 9162 §2.1.4.1)."""
    return _consistency_plan(first, second)[0]


def _fetch(h: HashSuite, reader: NodeReader, keys: list[NodeKey]) -> list[bytes]:
    if not keys:
        return []
    got = reader.get_nodes(keys)
    out: list[bytes] = []
    for key in keys:
        value = got.get(key)
        if value is None:
            raise MissingNodeError(f"缺少节点 / node {key} missing from storage")
        value = bytes(value)
        if len(value) != h.size:
            raise MissingNodeError(f"节点长度错误 / node {key} has {len(value)} bytes")
        out.append(value)
    return out


def _rehash(h: HashSuite, hashes: list[bytes], begin: int, end: int) -> list[bytes]:
    """Replace hashes[begin:end] (smallest subtree first) by the ephemeral node they form."""
    if end - begin < 2:
        return hashes
    acc = hashes[begin]
    for left in hashes[begin + 1 : end]:
        acc = node_hash(h, left, acc)
    return [*hashes[:begin], acc, *hashes[end:]]


def inclusion_proof(h: HashSuite, reader: NodeReader, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]) with at most one reader call (none if empty)."""
    keys, begin, end = _inclusion_plan(index, size)
    return _rehash(h, _fetch(h, reader, keys), begin, end)


def consistency_proof(h: HashSuite, reader: NodeReader, first: int, second: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(first, D[second]); empty when first is 0 or equals second."""
    keys, begin, end = _consistency_plan(first, second)
    return _rehash(h, _fetch(h, reader, keys), begin, end)


def _fold_peaks(h: HashSuite, hashes: Sequence[bytes]) -> bytes:
    """MTH from the peaks (largest first): right to left, each peak is a left child."""
    if not hashes:
        raise ValueError("no peaks")
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(h, left, acc)
    return acc


def root_at(h: HashSuite, reader: NodeReader, size: int) -> bytes:
    """MTH of the first `size` leaves from the stored peaks (one reader call; none at 0)."""
    if size == 0:
        return empty_root(h)
    return _fold_peaks(h, _fetch(h, reader, peaks(size)))


class Appender:
    """Right-edge (compact range) state: appends leaves in order and reports new nodes."""

    def __init__(self, h: HashSuite, size: int = 0, right_edge: Sequence[bytes] = ()) -> None:
        _check_size(size, "size")
        edge = [bytes(x) for x in right_edge]
        if len(edge) != size.bit_count():
            raise ValueError(
                f"右边缘数目不符 / size {size} needs {size.bit_count()} peaks, got {len(edge)}"
            )
        for x in edge:
            _check_hash(h, x, "peak")
        self._h = h
        self._size = size
        self._edge = edge

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def right_edge(self) -> tuple[bytes, ...]:
        """Hashes of the peaks, largest first (the nodes named by `peaks(size)`)."""
        return tuple(self._edge)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the new complete nodes, the leaf itself first."""
        _check_hash(self._h, leaf_hash, "leaf hash")
        if self._size >= MAX_SIZE:
            raise ValueError("树已满 / tree is full")
        index, level, acc = self._size, 0, bytes(leaf_hash)
        new = [(0, index, acc)]
        while index & 1:  # a left sibling peak exists at this level: merge it
            acc = node_hash(self._h, self._edge.pop(), acc)
            index, level = index >> 1, level + 1
            new.append((level, index, acc))
        self._edge.append(acc)
        self._size += 1
        return new

    def extend(self, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
        """Append many leaf hashes; return all new complete nodes in creation order."""
        out: list[tuple[int, int, bytes]] = []
        for lh in leaf_hashes:
            out.extend(self.append(lh))
        return out

    def root(self) -> bytes:
        """MTH of the current tree (empty_root at size 0)."""
        return _fold_peaks(self._h, self._edge) if self._edge else empty_root(self._h)


# --- verification -------------------------------------------------------------------------


def _check_size(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{what} 必须是整数 / {what} must be an int")
    if not 0 <= value < MAX_SIZE:
        raise ProofError(f"{what} 超出范围 / {what} {value} out of range")


def _check_hash(h: HashSuite, value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) != h.size:
        raise ProofError(f"{what} 长度错误 / {what} is not a {h.size}-byte {h.name} hash")


def _inclusion_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()  # levels below the fork with the right border
    return inner + (index >> inner).bit_count()


def verify_inclusion(
    h: HashSuite, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check PATH(index, D[size]) by the RFC 9162 §2.1.3.2 algorithm; raise ProofError."""
    # `size` and `root` must come from one signed checkpoint: the algorithm alone cannot
    # tell some sizes apart (leaf 0 of sizes 3 and 4 chain identically), the signature can.
    _check_size(index, "index")
    _check_size(size, "size")
    if index >= size:
        raise ProofError(f"叶序号不小于树大小 / leaf index {index} is not below size {size}")
    _check_hash(h, leaf_hash, "leaf hash")
    _check_hash(h, root, "root")
    for p in proof:
        _check_hash(h, p, "proof element")
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(f"包含证明长度错误 / inclusion proof has {len(proof)} hashes, want {want}")
    # §2.1.3.2 steps 2-5
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError("包含证明过长 / inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(h, bytes(p), r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(h, r, bytes(p))
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("包含证明过短 / inclusion proof too short")
    if not compare_digest(r, bytes(root)):
        raise ProofError("包含证明与根不符 / inclusion proof does not lead to the root")


def _consistency_length(first: int, second: int) -> int:
    inner = ((first - 1) ^ (second - 1)).bit_length()  # as for PATH(first - 1, D[second])
    border = ((first - 1) >> inner).bit_count()
    shift = (first & -first).bit_length() - 1  # levels inside the subtree ending at first
    seed = 0 if first & (first - 1) == 0 else 1  # the subtree root itself, unless it is first's
    return seed + inner - shift + border


def verify_consistency(
    h: HashSuite,
    first: int,
    second: int,
    proof: Sequence[bytes],
    first_root: bytes,
    second_root: bytes,
) -> None:
    """Check PROOF(first, D[second]) by the RFC 9162 §2.1.4.2 algorithm; raise ProofError."""
    _check_size(first, "first")
    _check_size(second, "second")
    if first > second:
        raise ProofError(f"新树小于旧树 / second size {second} is below first size {first}")
    _check_hash(h, first_root, "first root")
    _check_hash(h, second_root, "second root")
    for p in proof:
        _check_hash(h, p, "proof element")
    if first == 0 or first == second:
        if proof:
            raise ProofError("此一致性证明应为空 / consistency proof must be empty here")
        if first == 0 and not compare_digest(bytes(first_root), empty_root(h)):
            raise ProofError("空树的根错误 / the root of an empty tree must be HASH('')")
        if first == second and not compare_digest(bytes(first_root), bytes(second_root)):
            raise ProofError("同一大小的根不同 / same size but different roots (a fork)")
        return
    want = _consistency_length(first, second)
    if len(proof) != want:
        raise ProofError(
            f"一致性证明长度错误 / consistency proof has {len(proof)} hashes, want {want}"
        )
    path = [bytes(p) for p in proof]
    if first & (first - 1) == 0:  # step 2: first is an exact power of two
        path.insert(0, bytes(first_root))
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError("一致性证明过长 / consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(h, c, fr)
            sr = node_hash(h, c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(h, sr, c)
        fn, sn = fn >> 1, sn >> 1
    # step 7
    if sn != 0:
        raise ProofError("一致性证明过短 / consistency proof too short")
    if not compare_digest(fr, bytes(first_root)):
        raise ProofError("一致性证明与旧根不符 / consistency proof does not match the first root")
    if not compare_digest(sr, bytes(second_root)):
        raise ProofError("一致性证明与新根不符 / consistency proof does not match the second root")
