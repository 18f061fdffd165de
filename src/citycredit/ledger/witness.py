"""A C2SP tlog-witness (c2sp.org/tlog-witness) that cosigns only consistent checkpoints (G22).

The witness keeps, per log origin it knows, the latest checkpoint it cosigned (size, root hash,
note) in ``<state dir>/state.json``. ``POST /add-checkpoint`` takes ``old <size>``, the RFC 6962
/ 9162 consistency proof lines (base64), an empty line and the log's signed checkpoint, and

- 400: malformed body, old size above the checkpoint size, a checkpoint whose suite line does
  not match the log key's suite;
- 404: unknown origin; 403: no valid signature from a configured log key;
- 409 (``Content-Type: text/x.tlog.size``, body ``<size>\\n``): the old size is not the size
  the witness last cosigned — or the same size with another root (a fork, kept as evidence);
- 422: the consistency proof does not verify (kept as evidence too);
- 200: the new state is written (temp file, fsync, rename, fsync of the directory) *before*
  the answer, which is one cosignature line.

Check and write happen under one lock, so two requests cannot roll the state back (the race
the spec describes), and one process per state directory (an ``flock`` on ``.lock``).

Cosignatures (c2sp.org/tlog-cosignature, ``cosignature/v1``): the signed message is
``cosignature/v1\\n`` + ``time <POSIX seconds>\\n`` + the whole checkpoint text; the signature
line carries ``key id || u64 big-endian timestamp || signature``. Ed25519 cosigner keys are of
type 0x04 (key id = SHA-256(name || 0x0A || 0x04 || public key)[:4]), as the spec requires.

Local extension, for GM deployments (密评): an SM2-with-SM3 cosigner (GB/T 32918.2, default
user ID, r || s), same message and timestamped layout, type 0xff followed by the identifier
``citycredit.sm2-cosignature.v1`` (the signed-note way to name a type without an assigned
byte; it is part of the key id). Verifiers elsewhere do not know the type and ignore such
lines, as signed-note requires. It is not part of tlog-cosignature.

Conflicts (two roots at one size, or a proof that fails against what was cosigned) are appended
to ``<state dir>/evidence.jsonl`` with both checkpoints, fsynced before the answer: that file is
what a monitor reads (``citycredit ledger witness evidence``).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citycredit.ledger.merkle import ProofError, empty_root, verify_consistency
from citycredit.ledger.note import Checkpoint, NoteError, open_note, parse_checkpoint
from citycredit.ledger.signers import (
    SM2_TYPE_ID,
    Ed25519Signer,
    Ed25519Verifier,
    KeyFormatError,
    NoteVerifier,
    Sm2Signer,
    Sm2Verifier,
    suite_of,
    valid_key_name,
)
from citycredit.ledger.suites import SHA256, HashSuite, hash_suite
from citycredit.shared.files import fsync_dir

log = logging.getLogger(__name__)

ALG_COSIGNATURE_V1 = 0x04  # tlog-cosignature: Ed25519 cosignature/v1 key ids and vkeys
ALG_EXTENDED = 0xFF
SM2_COSIGNATURE_ID = b"citycredit.sm2-cosignature.v1"  # local extension (see module doc)
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = (1 << 63) - 1
MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more
MAX_BODY = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
STATE_FILE = "state.json"
EVIDENCE_FILE = "evidence.jsonl"
LOCK_FILE = ".lock"

_SIG_PREFIX = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_SIG_LINE = re.compile(r"\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})")
_HEX_ID = re.compile(r"[0-9a-f]{8}")


# -- cosigner keys --------------------------------------------------------------------------


def _key_id(name: str, material: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + material).digest()[:4]


def cosigned_message(text: str, timestamp: int) -> bytes:
    """``cosignature/v1`` signed message: header, time line, whole checkpoint text."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n".encode() + text.encode()


class CosignatureVerifier:
    """Checks cosignatures of one witness key. Fits `NoteVerifier`: `verify(note text, sig)`
    with sig = u64 timestamp || signature, so `note.open_note` checks cosigned notes too."""

    def __init__(self, name: str, public_key: bytes, *, sm2: bool = False) -> None:
        self._inner: Ed25519Verifier | Sm2Verifier
        self._inner = Sm2Verifier(name, public_key) if sm2 else Ed25519Verifier(name, public_key)
        self.name = name
        self.sm2 = sm2
        self.public_key = bytes(public_key)
        self.alg = ALG_EXTENDED if sm2 else ALG_COSIGNATURE_V1
        prefix = bytes([ALG_EXTENDED]) + SM2_COSIGNATURE_ID if sm2 else bytes([self.alg])
        self.key_material = prefix[1:] + self.public_key  # after the type byte
        self.key_id = _key_id(name, prefix + self.public_key)

    def timestamp(self, text: bytes | str, sig: bytes) -> int | None:
        """The cosignature's timestamp if `sig` is a valid cosignature of `text`, else None."""
        if len(sig) != 8 + 64:
            return None
        ts = int.from_bytes(sig[:8], "big")
        if ts > MAX_TIMESTAMP:
            return None
        body = text.decode() if isinstance(text, bytes) else text
        return ts if self._inner.verify(cosigned_message(body, ts), sig[8:]) else None

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """NoteVerifier: True if sig (timestamp || signature) cosigns the note text msg."""
        try:
            return self.timestamp(msg, sig) is not None
        except UnicodeDecodeError:
            return False


class Cosigner:
    """The witness's own key: signs timestamped cosignatures (Ed25519, or SM2 — extension)."""

    def __init__(self, name: str, secret: bytes, *, sm2: bool = False) -> None:
        self._inner: Ed25519Signer | Sm2Signer
        self._inner = Sm2Signer(name, secret) if sm2 else Ed25519Signer(name, secret)
        self._secret = bytes(secret)
        self.name = name
        self.sm2 = sm2
        pub = self._inner.verifier().public_key
        self._verifier = CosignatureVerifier(name, pub, sm2=sm2)
        self.key_id = self._verifier.key_id
        self.alg = self._verifier.alg

    @classmethod
    def generate(cls, name: str, *, sm2: bool = False) -> Cosigner:
        """A new random cosigner key."""
        inner = Sm2Signer.generate(name) if sm2 else Ed25519Signer.generate(name)
        secret = inner.private_material()
        return cls(name, secret[len(SM2_TYPE_ID) :] if sm2 else secret, sm2=sm2)

    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return self._verifier

    def cosign(self, text: str, timestamp: int) -> bytes:
        """u64 big-endian timestamp || signature over the cosignature/v1 message."""
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError(f"时间戳超出范围 / timestamp {timestamp} out of range")
        return timestamp.to_bytes(8, "big") + self._inner.sign(cosigned_message(text, timestamp))

    def cosignature_line(self, text: str, timestamp: int) -> str:
        """One note signature line (with its newline) cosigning the checkpoint text."""
        blob = base64.b64encode(self.key_id + self.cosign(text, timestamp)).decode()
        return f"{_SIG_PREFIX}{self.name} {blob}\n"

    def private_material(self) -> bytes:
        """The bytes after the type byte in the private key string."""
        return (SM2_COSIGNATURE_ID if self.sm2 else b"") + self._secret


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"{what} 不是base64 / {what} is not base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise KeyFormatError(f"{what} 的base64不规范 / {what} is not canonical base64")
    return raw


def _split(payload: bytes) -> tuple[bool, bytes]:
    """(sm2?, key bytes) of type || material; only the two cosignature types are accepted."""
    if payload[:1] == bytes([ALG_COSIGNATURE_V1]):
        return False, payload[1:]
    if payload[:1] == bytes([ALG_EXTENDED]) and payload[1:].startswith(SM2_COSIGNATURE_ID):
        return True, payload[1 + len(SM2_COSIGNATURE_ID) :]
    kind = f"0x{payload[0]:02x}" if payload else "（空）"
    raise KeyFormatError(
        f"不是见证联署密钥（类型 {kind}；应为 0x04 Ed25519 cosignature/v1 或 0xff "
        f"{SM2_COSIGNATURE_ID.decode()}）/ not a cosigner key"
    )


def _parse_id(hex_id: str) -> bytes:
    if not _HEX_ID.fullmatch(hex_id):
        raise KeyFormatError("密钥ID须为8位小写十六进制 / key id must be 8 lowercase hex digits")
    return bytes.fromhex(hex_id)


def cosigner_verifier_from_vkey(vkey: str) -> CosignatureVerifier:
    """Parse a witness verifier key ``<name>+<hex id>+<base64(type || public key)>``."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3 or not valid_key_name(parts[0]):
        raise KeyFormatError(f"见证公钥格式错误 / malformed witness verifier key {vkey[:60]!r}")
    name, hex_id, b64 = parts
    want = _parse_id(hex_id)
    sm2, key = _split(_b64(b64, "witness key"))
    v = CosignatureVerifier(name, key, sm2=sm2)
    if v.key_id != want:
        raise KeyFormatError("密钥ID与公钥不符 / key id does not match the key")
    return v


def cosigner_vkey(v: CosignatureVerifier) -> str:
    """The verifier key string of a witness key."""
    payload = base64.b64encode(bytes([v.alg]) + v.key_material).decode()
    return f"{v.name}+{v.key_id.hex()}+{payload}"


def cosigner_from_skey(skey: str) -> Cosigner:
    """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(type || secret)>`` of a witness key."""
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not valid_key_name(parts[2]):
        raise KeyFormatError("见证私钥格式错误 / malformed witness signer key")
    _, _, name, hex_id, b64 = parts
    want = _parse_id(hex_id)
    sm2, secret = _split(_b64(b64, "witness key"))
    c = Cosigner(name, secret, sm2=sm2)
    if c.key_id != want:
        raise KeyFormatError("密钥ID与公钥不符 / key id does not match the key")
    return c


def cosigner_skey(c: Cosigner) -> str:
    """The private key string of a witness key (secret: store it as a secret)."""
    payload = base64.b64encode(bytes([c.alg]) + c.private_material()).decode()
    return f"PRIVATE+KEY+{c.name}+{c.key_id.hex()}+{payload}"


def verify_cosignature_line(v: CosignatureVerifier, text: str, line: str) -> int | None:
    """The timestamp of a cosignature line by `v` on checkpoint `text`; None for a line of
    another key (to be ignored); NoteError for a malformed line or a bad signature by `v`."""
    m = _SIG_LINE.fullmatch(line.rstrip("\n"))
    if m is None:
        raise NoteError(f"联署行格式错误 / malformed cosignature line {line[:60]!r}")
    try:
        raw = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("联署不是base64 / cosignature is not base64") from exc
    if m.group(1) != v.name or raw[:4] != v.key_id:
        return None
    ts = v.timestamp(text, raw[4:])
    if ts is None:
        raise NoteError(f"联署签名无效 / invalid cosignature by {v.name}+{v.key_id.hex()}")
    return ts


# -- state --------------------------------------------------------------------------------


class WitnessStateError(RuntimeError):
    """The state directory is unreadable, or in use by another witness process."""


@dataclass(frozen=True)
class LogState:
    """The latest checkpoint cosigned for one origin."""

    size: int
    root: bytes
    checkpoint: str
    updated_at: str

    def as_json(self) -> dict[str, Any]:
        """JSON form in state.json."""
        return {
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoint": self.checkpoint,
            "updated_at": self.updated_at,
        }


class WitnessStore:
    """state.json (replaced atomically and durably on every change) and evidence.jsonl."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            raise WitnessStateError(
                f"见证状态目录 {self.directory} 正被另一个见证进程使用"
            ) from exc
        self._logs = self._load()

    def _load(self) -> dict[str, LogState]:
        path = self.directory / STATE_FILE
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {
                origin: LogState(
                    int(s["size"]),
                    base64.b64decode(s["root"], validate=True),
                    str(s["checkpoint"]),
                    str(s["updated_at"]),
                )
                for origin, s in data["logs"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            # never start from nothing: that would cosign a rolled-back log
            raise WitnessStateError(f"见证状态文件 {path} 无法读取：{exc}") from exc

    def close(self) -> None:
        """Release the directory lock."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def state(self, origin: str) -> LogState | None:
        """The latest cosigned checkpoint of an origin, if any."""
        return self._logs.get(origin)

    def put(self, origin: str, st: LogState) -> None:
        """Write the whole state with `origin` updated: temp file, fsync, rename, fsync dir."""
        logs = {**self._logs, origin: st}
        data = {"version": 1, "logs": {o: s.as_json() for o, s in sorted(logs.items())}}
        tmp = self.directory / f"{STATE_FILE}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / STATE_FILE)
        fsync_dir(self.directory)
        self._logs = logs  # only once it is on disk

    def record_evidence(self, item: Mapping[str, Any]) -> None:
        """Append one conflict to evidence.jsonl and fsync it."""
        path = self.directory / EVIDENCE_FILE
        new = not path.exists()
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fsync_dir(self.directory)


def read_evidence(directory: Path) -> list[dict[str, Any]]:
    """The conflicts a witness recorded (a torn last line from a crash is skipped)."""
    path = Path(directory) / EVIDENCE_FILE
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def forks(evidence: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Monitor view: every (origin, size) seen with two roots, and the two roots."""
    return [
        {
            "origin": e["origin"],
            "size": e["size"],
            "roots": [e["cosigned"]["root"], e["submitted"]["root"]],
        }
        for e in evidence
        if e.get("kind") == "fork"
    ]


# -- the witness ----------------------------------------------------------------------------


class WitnessError(Exception):
    """A refused submission: HTTP status, message, and for 409 the witness's size."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.size = size


@dataclass(frozen=True)
class Submission:
    """A parsed add-checkpoint body."""

    old: int
    proof: tuple[bytes, ...]
    note: str


def parse_submission(body: bytes | str) -> Submission:
    """Strictly parse ``old N\\n`` + proof lines + ``\\n`` + signed checkpoint (400 if not)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise WitnessError(400, "请求体不是UTF-8 / body is not UTF-8") from exc
    head, sep, rest = text.partition("\n")
    if not sep or not head.startswith("old ") or not _DECIMAL.fullmatch(head[4:]):
        raise WitnessError(400, f"首行须为 'old <大小>' / first line {head[:40]!r} is not 'old N'")
    old = int(head[4:])
    proof: list[bytes] = []
    while True:
        line, sep, rest = rest.partition("\n")
        if not sep:
            raise WitnessError(400, "缺少证明后的空行 / missing the empty line after the proof")
        if line == "":
            break
        if len(proof) == MAX_PROOF_LINES:
            raise WitnessError(400, f"一致性证明超过 {MAX_PROOF_LINES} 行 / proof too long")
        try:
            proof.append(_b64(line, "proof line"))
        except KeyFormatError as exc:
            msg = f"一致性证明行不是规范base64 / bad proof line {line[:60]!r}"
            raise WitnessError(400, msg) from exc
    return Submission(old, tuple(proof), rest)


def _split_note(note: str) -> tuple[Checkpoint, str]:
    """The checkpoint and its text, with the signature lines' form checked (400 if bad)."""
    split = note.find("\n\n")
    if split < 0:
        raise WitnessError(400, "检查点缺少签名 / checkpoint note has no signature block")
    text, sigs = note[: split + 1], note[split + 2 :]
    try:
        cp = parse_checkpoint(text)
    except NoteError as exc:
        raise WitnessError(400, f"检查点格式错误 / malformed checkpoint: {exc}") from exc
    if not sigs.endswith("\n") or any(
        not _SIG_LINE.fullmatch(line) for line in sigs[:-1].split("\n")
    ):
        raise WitnessError(400, "签名行格式错误 / malformed signature lines")
    return cp, text


class Witness:
    """The witness core: known logs (origin → verifier keys), state store, own key."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Sequence[NoteVerifier]],
        store: WitnessStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = {origin: list(vs) for origin, vs in logs.items()}
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()

    def _hash(self, cp: Checkpoint, verifiers: Sequence[NoteVerifier]) -> HashSuite:
        if cp.suite is None:
            return SHA256  # RFC 6962 default
        key_suites = {suite_of(v) for v in verifiers}
        if cp.suite not in key_suites:
            raise WitnessError(
                400,
                f"检查点套件 {cp.suite.value} 与数据链密钥不符 / suite does not match the log key",
            )
        return hash_suite(cp.suite)

    def add_checkpoint(self, body: bytes | str) -> str:
        """Check a submission; cosign it only once its state is on disk. WitnessError if not."""
        sub = parse_submission(body)
        cp, text = _split_note(sub.note)
        verifiers = self.logs.get(cp.origin)
        if verifiers is None:
            raise WitnessError(404, f"未知的数据链来源 / unknown origin {cp.origin!r}")
        try:
            open_note(sub.note, verifiers)
        except NoteError as exc:
            msg = f"检查点签名无法验证 / not signed by a known key: {exc}"
            raise WitnessError(403, msg) from exc
        h = self._hash(cp, verifiers)
        if sub.old > cp.size:
            raise WitnessError(400, f"旧大小 {sub.old} 大于检查点大小 {cp.size} / old size too big")
        with self._lock:  # check and persist atomically
            st = self.store.state(cp.origin)
            known = st.size if st is not None else 0
            if sub.old != known:
                raise WitnessError(409, f"旧大小应为 {known} / old size is not {known}", size=known)
            if st is not None and cp.size == st.size and cp.root != st.root:
                self._evidence("fork", cp, sub, st)
                msg = f"同一大小 {cp.size} 出现不同的根（分叉）/ fork at size {cp.size}"
                raise WitnessError(409, msg, size=known)
            old_root = st.root if st is not None else empty_root(h)
            try:
                verify_consistency(h, known, cp.size, sub.proof, old_root, cp.root)
            except ProofError as exc:
                if st is not None:
                    self._evidence("bad_proof", cp, sub, st)
                raise WitnessError(422, f"一致性证明无效 / bad consistency proof: {exc}") from exc
            if st is None or cp.size > st.size:
                now = datetime.fromtimestamp(self.clock(), UTC).isoformat()
                self.store.put(cp.origin, LogState(cp.size, cp.root, sub.note, now))
            line = self.cosigner.cosignature_line(text, int(self.clock()))
        log.info("cosigned %s at size %d", cp.origin, cp.size)
        return line

    def _evidence(self, kind: str, cp: Checkpoint, sub: Submission, st: LogState) -> None:
        log.warning("witness conflict (%s) for %s at size %d", kind, cp.origin, cp.size)
        self.store.record_evidence(
            {
                "kind": kind,
                "origin": cp.origin,
                "size": cp.size,
                "recorded_at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
                "cosigned": {
                    "size": st.size,
                    "root": base64.b64encode(st.root).decode(),
                    "checkpoint": st.checkpoint,
                },
                "submitted": {
                    "old": sub.old,
                    "root": base64.b64encode(cp.root).decode(),
                    "proof": [base64.b64encode(p).decode() for p in sub.proof],
                    "checkpoint": sub.note,
                },
            }
        )


def make_app(witness: Witness) -> Any:
    """The witness's HTTP interface (Starlette): ``POST /add-checkpoint``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("请求体过大 / body too large\n", status_code=413)
        try:
            line = await run_in_threadpool(witness.add_checkpoint, body)
        except WitnessError as exc:
            if exc.status == 409 and exc.size is not None:
                return Response(
                    f"{exc.size}\n", status_code=409, headers={"content-type": SIZE_CONTENT_TYPE}
                )
            return PlainTextResponse(exc.message + "\n", status_code=exc.status)
        return PlainTextResponse(line)

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


__all__ = [
    "ALG_COSIGNATURE_V1",
    "SM2_COSIGNATURE_ID",
    "CosignatureVerifier",
    "Cosigner",
    "LogState",
    "Witness",
    "WitnessError",
    "WitnessStateError",
    "WitnessStore",
    "cosigned_message",
    "cosigner_from_skey",
    "cosigner_skey",
    "cosigner_verifier_from_vkey",
    "cosigner_vkey",
    "forks",
    "make_app",
    "parse_submission",
    "read_evidence",
    "verify_cosignature_line",
]
