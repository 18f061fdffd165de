"""The log's side of witnessing (G22): submit the latest checkpoint to each configured witness
(c2sp.org/tlog-witness), keep the cosignatures it returns, serve cosigned checkpoints.

The scheduled job `ledger_witness` (every minute) does the submitting, apart from the
sequencer: a witness that is down or slow never delays checkpointing; the failure is logged
and the next run tries again with the then-latest checkpoint.

Per witness (`settings.ledger_witnesses`): ``old`` is the size of the latest checkpoint that
witness cosigned (from `ledger_cosignatures`; 0 at first), with the RFC 9162 consistency proof
from there. A 409 carries the witness's size; the submission is retried once with a proof
from that size. A 409 at our own old size (another root at a size the witness cosigned), a
witness size beyond our tree, or a 422 (our proof does not match what it cosigned) means the
witness has seen another version of this log: a `witness_conflict` alarm for the credit
office (ledger.service.alarms), besides the evidence the witness keeps.

A returned cosignature is stored only if it verifies against the witness's configured key.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from citycredit.bootstrap import Container
from citycredit.kernel.jobs import Job
from citycredit.ledger.db import (
    LedgerAlarmRow,
    LedgerCheckpointRow,
    LedgerCosignatureRow,
    LedgerLogRow,
)
from citycredit.ledger.merkle import consistency_proof
from citycredit.ledger.note import MAX_SIGNATURES, NoteError
from citycredit.ledger.store import DbNodeReader, latest_checkpoint
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.witness import (
    SIZE_CONTENT_TYPE,
    CosignatureVerifier,
    cosigner_verifier_from_vkey,
    verify_cosignature_line,
)
from citycredit.settings import LedgerWitness
from citycredit.shared.errors import NotFound

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0)
ALARM_KIND = "witness_conflict"


@dataclass(frozen=True)
class Outcome:
    """What one submission to one witness came to (job detail)."""

    witness: str
    status: str  # cosigned | already | no_checkpoint | unreachable | conflict | refused
    size: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Request:
    old: int
    size: int
    note: str
    proof: list[bytes]


def _body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof), ""]
    return ("\n".join(lines) + "\n" + note).encode()


def _prepare(c: Container, w: LedgerWitness, old: int | None = None) -> _Request | Outcome:
    """The latest checkpoint and a proof from `old` (default: what `w` last cosigned)."""
    with c.uow() as uow:
        s = uow.session
        logrow = s.get(LedgerLogRow, 1)
        cp = latest_checkpoint(s)
        if logrow is None or cp is None:
            return Outcome(w.name, "no_checkpoint")
        done = s.scalar(
            select(LedgerCosignatureRow.id).where(
                LedgerCosignatureRow.witness == w.name,
                LedgerCosignatureRow.checkpoint_size == cp.size,
            )
        )
        if done is not None:
            return Outcome(w.name, "already", cp.size)
        if old is None:
            old = int(
                s.scalar(
                    select(func.max(LedgerCosignatureRow.checkpoint_size)).where(
                        LedgerCosignatureRow.witness == w.name,
                        LedgerCosignatureRow.checkpoint_size <= cp.size,
                    )
                )
                or 0
            )
        h = hash_suite(Suite(logrow.suite))
        proof = consistency_proof(h, DbNodeReader(s), old, cp.size)
        return _Request(old, cp.size, cp.note, proof)


def _submit_once(
    c: Container, client: httpx.Client, w: LedgerWitness, old: int | None
) -> tuple[_Request | Outcome, httpx.Response | None]:
    prepared = _prepare(c, w, old)
    if isinstance(prepared, Outcome):
        return prepared, None
    resp = client.post(
        w.url.rstrip("/") + "/add-checkpoint",
        content=_body(prepared.old, prepared.proof, prepared.note),
        headers={"content-type": "text/plain; charset=utf-8"},
    )
    return prepared, resp


def _witness_size(resp: httpx.Response) -> int | None:
    ctype = resp.headers.get("content-type", "").split(";")[0].strip()
    text = resp.text
    if ctype != SIZE_CONTENT_TYPE or not text.endswith("\n") or not text[:-1].isdigit():
        return None
    return int(text[:-1])


def _alarm(c: Container, w: LedgerWitness, detail: dict[str, Any]) -> None:
    """One open `witness_conflict` alarm per witness."""
    log.error("witness %s reports a conflicting view of the log: %s", w.name, detail)
    with c.uow() as uow:
        s = uow.session
        open_ones = s.scalars(
            select(LedgerAlarmRow).where(
                LedgerAlarmRow.kind == ALARM_KIND, LedgerAlarmRow.acknowledged_at.is_(None)
            )
        )
        if any(a.detail.get("witness") == w.name for a in open_ones):
            return
        s.add(
            LedgerAlarmRow(
                raised_at=c.clock.now(), kind=ALARM_KIND, detail={"witness": w.name, **detail}
            )
        )
        uow.commit()


def _store(
    c: Container, w: LedgerWitness, v: CosignatureVerifier, req: _Request, body: str
) -> Outcome:
    text = req.note[: req.note.find("\n\n") + 1]
    good: list[str] = []
    try:
        for line in body.splitlines():
            if verify_cosignature_line(v, text, line) is not None:
                good.append(line)
    except NoteError as exc:
        log.error("witness %s returned a bad cosignature: %s", w.name, exc)
        return Outcome(w.name, "refused", req.size, f"bad cosignature: {exc}")
    if not good:
        log.error("witness %s returned no cosignature by its configured key", w.name)
        return Outcome(w.name, "refused", req.size, "no cosignature by the configured key")
    try:
        with c.uow() as uow:
            uow.session.add(
                LedgerCosignatureRow(
                    checkpoint_size=req.size,
                    witness=w.name,
                    cosignature=good[0],
                    received_at=c.clock.now(),
                )
            )
            uow.commit()
    except IntegrityError:  # another process stored this witness's cosignature first
        return Outcome(w.name, "already", req.size)
    log.info("witness %s cosigned size %d", w.name, req.size)
    return Outcome(w.name, "cosigned", req.size)


def submit_to_witness(c: Container, w: LedgerWitness, client: httpx.Client) -> Outcome:
    """Submit the latest checkpoint to one witness; store its cosignature (see module doc)."""
    v = cosigner_verifier_from_vkey(w.vkey)
    old: int | None = None
    for attempt in range(2):
        try:
            prepared, resp = _submit_once(c, client, w, old)
        except httpx.HTTPError as exc:
            log.warning("witness %s unreachable: %s", w.name, exc)
            return Outcome(w.name, "unreachable", None, f"{type(exc).__name__}: {exc}")
        if isinstance(prepared, Outcome):
            return prepared
        assert resp is not None
        if resp.status_code == 200:
            return _store(c, w, v, prepared, resp.text)
        if resp.status_code == 409:
            theirs = _witness_size(resp)
            if theirs is None:
                detail = f"409 without a size: {resp.text[:200]}"
                return Outcome(w.name, "refused", prepared.size, detail)
            if theirs == prepared.old or theirs > prepared.size or attempt == 1:
                _alarm(
                    c,
                    w,
                    {
                        "status": 409,
                        "size": prepared.size,
                        "old": prepared.old,
                        "witness_size": theirs,
                        "message": "见证方在同一树大小见过另一个树根，或见过比本数据链更大的树",
                    },
                )
                return Outcome(w.name, "conflict", prepared.size, f"witness size {theirs}")
            old = theirs  # retry once from the size the witness has
            continue
        if resp.status_code == 422:
            _alarm(
                c,
                w,
                {
                    "status": 422,
                    "size": prepared.size,
                    "old": prepared.old,
                    "message": "一致性证明与见证方已联署的检查点不符",
                },
            )
            return Outcome(w.name, "conflict", prepared.size, resp.text[:200])
        log.warning("witness %s refused size %d: %s", w.name, prepared.size, resp.status_code)
        detail = f"{resp.status_code}: {resp.text[:200]}"
        return Outcome(w.name, "refused", prepared.size, detail)
    raise AssertionError("unreachable")  # pragma: no cover


def submit_checkpoint(c: Container, *, client: httpx.Client | None = None) -> list[Outcome]:
    """Submit the latest checkpoint to every configured witness; never raises for a witness."""
    witnesses = list(c.settings.ledger_witnesses)
    if not witnesses:
        return []
    own = client is None
    http = client if client is not None else httpx.Client(timeout=TIMEOUT)
    try:
        out = []
        for w in witnesses:
            try:
                out.append(submit_to_witness(c, w, http))
            except Exception as exc:  # one witness's failure must not stop the others
                log.exception("submitting to witness %s failed", w.name)
                out.append(Outcome(w.name, "unreachable", None, f"{type(exc).__name__}: {exc}"))
        return out
    finally:
        if own:
            http.close()


def cosigned_checkpoint(c: Container, size: int | None = None) -> str:
    """The signed checkpoint note (latest, or of `size`) with the stored cosignature lines
    appended: one signed note, verifiable with the log key and each witness key."""
    with c.uow() as uow:
        s = uow.session
        cp = latest_checkpoint(s) if size is None else s.get(LedgerCheckpointRow, size)
        if cp is None:
            what = "数据链尚无检查点" if size is None else f"没有树大小为 {size} 的检查点"
            raise NotFound(what, code="checkpoint_not_found")
        lines = list(
            s.scalars(
                select(LedgerCosignatureRow.cosignature)
                .where(LedgerCosignatureRow.checkpoint_size == cp.size)
                .order_by(LedgerCosignatureRow.witness)
            )
        )
        room = MAX_SIGNATURES - cp.note[cp.note.find("\n\n") + 2 :].count("\n")
        return cp.note + "".join(line + "\n" for line in lines[: max(room, 0)])


def witnesses_of(c: Container, size: int) -> list[str]:
    """The names of the witnesses that cosigned the checkpoint of `size`."""
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(LedgerCosignatureRow.witness)
                .where(LedgerCosignatureRow.checkpoint_size == size)
                .order_by(LedgerCosignatureRow.witness)
            )
        )


def _job(c: Container) -> dict[str, Any]:
    return {"witnesses": [asdict(o) for o in submit_checkpoint(c)]}


JOBS = [
    Job(
        "ledger_witness",
        timedelta(minutes=1),
        _job,
        "把数据链最新检查点提交给各见证方联署（防分叉视图），保存联署；见证方不可达时下次重试",
    )
]
