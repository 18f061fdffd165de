"""C2SP signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint).

A checkpoint names the log's suite in one extension line, "suite sha256-ed25519" or
"suite sm3-sm2". tlog-checkpoint allows any non-empty, opaque extension lines after the
three mandatory lines (and calls them NOT RECOMMENDED, as monitors cannot audit them);
the suite is therefore also bound by the signature type of the log key (0x01 Ed25519,
0xff + identifier for SM2), so a verifier never has to trust the extension alone. This
platform's checkpoints always carry exactly one suite line and their origin is the log key's
name; ledger.bundle.verify_bundle (and the browser verifier) refuse a checkpoint without the
line or with another origin (security goal G18).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from citycredit.ledger.merkle import ProofError, verify_consistency
from citycredit.ledger.signers import NoteSigner, NoteVerifier, valid_key_name
from citycredit.ledger.suites import HashSuite, Suite, hash_suite

SUITE_EXTENSION = "suite "  # followed by a Suite value
MAX_SIGNATURES = 100  # signed-note: verifiers MUST accept at least 16; Go's note uses 100
MAX_TREE_SIZE = (1 << 64) - 1  # RFC 9162 tree_size is uint64
_SIG_PREFIX = "\u2014 "  # em dash, space
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # signed-note: no ASCII controls but newline


class NoteError(ValueError):
    """A note or checkpoint is malformed, unsigned by a known key, or badly signed."""


@dataclass(frozen=True)
class Checkpoint:
    """The note text of a tlog-checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def suite(self) -> Suite | None:
        """The suite named by the "suite …" extension line, if any."""
        return _suite_of(self.extensions)


@dataclass(frozen=True)
class OpenedNote:
    """A note whose signatures checked out: its text and the names that verified it."""

    text: str
    verified: tuple[str, ...]


def suite_extension_line(suite: Suite) -> str:
    """The extension line naming a suite."""
    return SUITE_EXTENSION + Suite(suite).value


def make_checkpoint(
    origin: str, size: int, root: bytes, suite: Suite, extensions: Sequence[str] = ()
) -> Checkpoint:
    """A checkpoint with the suite line first, then any other extension lines."""
    return Checkpoint(origin, size, bytes(root), (suite_extension_line(suite), *extensions))


def _suite_of(extensions: Sequence[str]) -> Suite | None:
    found = [e[len(SUITE_EXTENSION) :] for e in extensions if e.startswith(SUITE_EXTENSION)]
    if not found:
        return None
    if len(found) > 1:
        raise NoteError("检查点含多个套件行 / checkpoint names more than one suite")
    try:
        return Suite(found[0])
    except ValueError as exc:
        raise NoteError(f"未知套件 / unknown suite {found[0]!r}") from exc


def _check_chars(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise NoteError(f"{what} 须为字符串 / {what} must be a str")
    if _CONTROL.search(text):
        raise NoteError(f"{what} 含控制字符 / {what} contains a control character (CR, tab …)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} 不是合法UTF-8 / {what} is not valid UTF-8") from exc


def _b64(text: str, what: str) -> bytes:
    """Strict, canonical standard base64 (RFC 4648 §4), as signed-note specifies."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} 不是base64 / {what} is not base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} 的base64不规范 / {what} is not canonical base64")
    return raw


def _check_root(root: bytes, suite: Suite | None) -> None:
    if not isinstance(root, bytes | bytearray):
        raise NoteError("根哈希须为字节串 / root hash must be bytes")
    want = hash_suite(suite).size if suite is not None else 32  # RFC 6962 SHA-256 otherwise
    if len(root) != want:
        raise NoteError(f"根哈希长度错误 / root hash has {len(root)} bytes, want {want}")


def checkpoint_text(cp: Checkpoint) -> str:
    """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
    lines = [cp.origin, *cp.extensions]
    for line in lines:
        _check_chars(line, "checkpoint line")
        if line == "" or "\n" in line:
            raise NoteError("检查点行须非空且单行 / checkpoint lines must be non-empty, one line")
    if isinstance(cp.size, bool) or not isinstance(cp.size, int):
        raise NoteError("树大小须为整数 / tree size must be an int")
    if not 0 <= cp.size <= MAX_TREE_SIZE:
        raise NoteError(f"树大小超出范围 / tree size {cp.size} out of range")
    _check_root(cp.root, cp.suite)
    root = base64.b64encode(cp.root).decode()
    return f"{cp.origin}\n{cp.size}\n{root}\n" + "".join(e + "\n" for e in cp.extensions)


def parse_checkpoint(text: str, suite: Suite | None = None) -> Checkpoint:
    """Strictly parse checkpoint text; with `suite`, require its extension line and hash size."""
    _check_chars(text, "checkpoint")
    if not text.endswith("\n"):
        raise NoteError("检查点须以换行结尾 / checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise NoteError("检查点须为至少三行非空行 / checkpoint needs three or more non-empty lines")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError(f"树大小不是规范十进制 / tree size {size_text!r} is not canonical decimal")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise NoteError("树大小超出uint64 / tree size exceeds uint64")
    root = _b64(root_text, "root hash")
    found = _suite_of(extensions)
    if suite is not None and found is not Suite(suite):
        raise NoteError(f"检查点套件不符 / checkpoint suite {found} is not {Suite(suite).value}")
    _check_root(root, found)
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Text, a blank line, then "— <name> <base64(key id || signature)>" per signer."""
    _check_chars(text, "note text")
    if not text.endswith("\n"):
        raise NoteError("正文须以换行结尾 / note text must end with a newline")
    if not signers:
        raise NoteError("至少需要一个签名者 / at least one signer is required")
    msg, seen, lines = text.encode(), set(), []
    for s in signers:
        if not valid_key_name(s.name) or len(s.key_id) != 4:
            raise NoteError(f"签名者无效 / invalid signer {s.name!r}")
        if (s.name, s.key_id) in seen:
            raise NoteError(f"重复签名者 / duplicate signer {s.name}")
        seen.add((s.name, s.key_id))
        blob = base64.b64encode(s.key_id + s.sign(msg)).decode()
        lines.append(f"{_SIG_PREFIX}{s.name} {blob}\n")
    return text + "\n" + "".join(lines)


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> OpenedNote:
    """Parse a signed note and check every signature from a known (name, key id)."""
    _check_chars(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("缺少签名前的空行 / missing blank line before the signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs.endswith("\n"):
        raise NoteError("签名块须以换行结尾 / signature block must end with a newline")
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in known:
            raise NoteError(f"验证者重复 / ambiguous verifier {v.name}+{v.key_id.hex()}")
        known[(v.name, v.key_id)] = v
    msg, seen, verified = text.encode(), set(), []
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"签名过多 / more than {MAX_SIGNATURES} signatures")
    for line in lines:
        name, sep, blob = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not line.startswith(_SIG_PREFIX) or not sep or not valid_key_name(name):
            raise NoteError(f"签名行格式错误 / malformed signature line {line[:40]!r}")
        raw = _b64(blob, "signature")
        if len(raw) < 5:
            raise NoteError("签名过短 / signature too short")
        kid, sig = raw[:4], raw[4:]
        verifier = known.get((name, kid))
        if verifier is None or (name, kid) in seen:  # unknown keys MUST be ignored (signed-note)
            continue
        seen.add((name, kid))
        if not verifier.verify(msg, sig):  # a failing known key: reject the whole note
            raise NoteError(f"签名无效 / invalid signature for key {name}+{kid.hex()}")
        verified.append(name)
    if not verified:
        raise NoteError("没有已知密钥的签名 / note has no signature from a known key")
    return OpenedNote(text, tuple(verified))


def open_checkpoint(
    note: str,
    verifiers: Sequence[NoteVerifier],
    suite: Suite | None = None,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """open_note + parse_checkpoint, optionally pinning the origin."""
    cp = parse_checkpoint(open_note(note, verifiers).text, suite)
    if origin is not None and cp.origin != origin:
        raise NoteError(f"检查点来源不符 / checkpoint origin {cp.origin!r} is not {origin!r}")
    return cp


def verify_checkpoint_update(
    h: HashSuite, old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]
) -> None:
    """Accept `new` after trusted `old` only if it extends it (no rollback, no fork)."""
    if new.origin != old.origin:
        raise ProofError(f"来源不同 / origin changed from {old.origin!r} to {new.origin!r}")
    if new.suite != old.suite:
        raise ProofError("套件改变 / suite changed between checkpoints")
    if old.suite is not None and hash_suite(old.suite).name != h.name:
        raise ProofError(f"哈希与套件不符 / {h.name} is not the hash of suite {old.suite.value}")
    if new.size < old.size:
        raise ProofError(
            f"检查点回退（重放旧检查点）/ replayed older checkpoint: size {new.size} < {old.size}"
        )
    if new.size == old.size and new.root != old.root:
        raise ProofError(f"同一大小根不同（分叉）/ fork: two roots for size {new.size}")
    verify_consistency(h, old.size, new.size, proof, old.root, new.root)
