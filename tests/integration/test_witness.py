"""G22 end to end: a witness process on loopback killed with SIGKILL between requests keeps its
state (no rollback); the log side submits checkpoints, stores and serves cosignatures, on both
databases; a witness that is down never stops checkpointing."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from citycredit.bootstrap import Container
from citycredit.kernel.jobs import run_due
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerAlarmRow, LedgerCheckpointRow, LedgerCosignatureRow
from citycredit.ledger.merkle import Appender, consistency_proof, leaf_hash
from citycredit.ledger.note import checkpoint_text, make_checkpoint, open_note, sign_note
from citycredit.ledger.signers import generate_signer, verifier_to_vkey
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.witness import (
    Cosigner,
    Witness,
    WitnessStore,
    cosigner_verifier_from_vkey,
    cosigner_vkey,
    make_app,
    read_evidence,
)
from citycredit.ledger.witness_client import cosigned_checkpoint, submit_checkpoint
from citycredit.settings import LedgerWitness
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS_WITH_ID,
    department,
    numbered_penalties,
    write_csv,
)

ORIGIN = "yulin.citycredit/ledger"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citycredit.cli.main", "ledger", "witness", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- a real witness process, SIGKILLed between requests -----------------------------------


class Tree:
    def __init__(self, tag: str, signer: Any) -> None:
        self.h = hash_suite(Suite.sha256_ed25519)
        self.signer = signer
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.roots: dict[int, bytes] = {}
        app = Appender(self.h)
        for i in range(16):
            for lv, ix, hv in app.append(leaf_hash(self.h, f"{tag} {i}".encode())):
                self.nodes[(lv, ix)] = hv
            self.roots[app.size] = app.root()

    def get_nodes(self, keys: Any) -> dict[tuple[int, int], bytes]:
        return {k: self.nodes[k] for k in keys}

    def body(self, old: int, size: int, proof: bool = True) -> str:
        cp = make_checkpoint(ORIGIN, size, self.roots[size], Suite.sha256_ed25519)
        note = sign_note(checkpoint_text(cp), [self.signer])
        p = consistency_proof(self.h, self, old, size) if proof else []
        return (
            f"old {old}\n" + "".join(base64.b64encode(x).decode() + "\n" for x in p) + "\n" + note
        )


class WitnessProcess:
    def __init__(self, tmp: Path, vkey_file: Path, key: Path) -> None:
        self.port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "citycredit.cli.main",
            "ledger",
            "witness",
            "serve",
            "--state",
            str(tmp / "state"),
            "--key",
            str(key),
            "--log",
            f"{ORIGIN}={vkey_file}",
            "--port",
            str(self.port),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}/add-checkpoint"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "witness exited"
            try:
                httpx.get(self.url, timeout=1)  # 405 once it listens
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("witness did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL

    def post(self, body: str) -> httpx.Response:
        return httpx.post(self.url, content=body.encode(), timeout=30)


@pytest.fixture
def witness_process(tmp_path: Path) -> Iterator[tuple[WitnessProcess, Tree, Path]]:
    key = tmp_path / "witness.key"
    done = cli("keygen", "--name", "witness.test/w1", "--out", str(key))
    assert done.returncode == 0, done.stderr
    signer = generate_signer(ORIGIN, Suite.sha256_ed25519)
    vkey_file = tmp_path / "log.vkey"
    vkey_file.write_text(verifier_to_vkey(signer.verifier()) + "\n")
    w = WitnessProcess(tmp_path, vkey_file, key)
    try:
        yield w, Tree("honest", signer), tmp_path
    finally:
        if w.proc is not None and w.proc.poll() is None:
            os.kill(w.proc.pid, signal.SIGKILL)
            w.proc.wait(timeout=30)


@pytest.mark.slow
def test_witness_process_killed_keeps_state(
    witness_process: tuple[WitnessProcess, Tree, Path],
) -> None:
    w, tree, tmp = witness_process
    v = cosigner_verifier_from_vkey((tmp / "witness.key.vkey").read_text())
    w.start()
    r = w.post(tree.body(0, 5))
    assert r.status_code == 200
    assert open_note(tree.body(0, 5).split("\n\n", 1)[1] + r.text, [v]).verified == (v.name,)
    w.kill9()  # right after the reply: the state must already be on disk
    w.start()
    r = w.post(tree.body(0, 3))  # an older checkpoint, as if the witness had forgotten
    assert (r.status_code, r.text, r.headers["content-type"]) == (409, "5\n", "text/x.tlog.size")
    assert w.post(tree.body(5, 9)).status_code == 200
    w.kill9()
    w.start()
    assert w.post(tree.body(5, 12)).text == "9\n"  # no rollback to 5 either
    forked = Tree("forked", tree.signer)
    r = w.post(forked.body(9, 9, proof=False))  # same size, other root
    assert (r.status_code, r.text) == (409, "9\n")
    r = w.post(forked.body(9, 12))  # a fork's proof does not extend the cosigned tree
    assert r.status_code == 422
    w.kill9()
    ev = read_evidence(tmp / "state")
    assert [e["kind"] for e in ev] == ["fork", "bad_proof"]
    out = cli("evidence", "--state", str(tmp / "state"))
    assert out.returncode == 1 and "分叉" in out.stdout  # the monitor flags two roots at size 9
    w.start()
    assert w.post(tree.body(9, 12)).status_code == 200


# -- the log side, on both databases ---------------------------------------------------------

PEN = PENALTY_COLUMNS_WITH_ID


def send(c: Container, tmp: Path, name: str, start: int, n: int) -> None:
    data = numbered_penalties(range(start, start + n), columns=PEN)
    from citycredit.accounts.service import department_principal
    from citycredit.ingest.service import ingest_submission

    actor = department(c) if name == "a.csv" else department_principal(c, "榆林市市场监督管理局")
    ingest_submission(c, actor, path=write_csv(tmp / name, PEN, data), item_code="penalty")


@pytest.fixture
def local_witness(tmp_path: Path, container: Container) -> Iterator[tuple[Witness, TestClient]]:
    cos = Cosigner.generate("witness.test/local")
    store = WitnessStore(tmp_path / "witness")
    w = Witness(cos, {ORIGIN: [container.ledger_signer.verifier()]}, store)
    container.settings.ledger_witnesses = [
        LedgerWitness(name="local", url="http://witness.test/", vkey=cosigner_vkey(cos.verifier()))
    ]
    yield w, TestClient(make_app(w))
    store.close()


def cosig_rows(c: Container) -> list[tuple[int, str]]:
    with c.uow() as uow:
        return [
            (r.checkpoint_size, r.witness)
            for r in uow.session.scalars(
                select(LedgerCosignatureRow).order_by(LedgerCosignatureRow.checkpoint_size)
            )
        ]


@pytest.mark.db
def test_log_submits_and_serves_cosigned_checkpoints(
    container: Container, local_witness: tuple[Witness, TestClient], tmp_path: Path
) -> None:
    c = container
    w, client = local_witness
    vkey = c.settings.ledger_witnesses[0].vkey
    v = cosigner_verifier_from_vkey(vkey)
    assert [o.status for o in submit_checkpoint(c, client=client)] == ["no_checkpoint"]
    send(c, tmp_path, "a.csv", 0, 5)
    ledger.integrate_now(c)
    first = ledger.checkpoint(c)["size"]
    out = submit_checkpoint(c, client=client)
    assert [(o.status, o.size) for o in out] == [("cosigned", first)]
    assert cosig_rows(c) == [(first, "local")]
    st = w.store.state(ORIGIN)
    assert st is not None and st.size == first
    note = cosigned_checkpoint(c)
    assert open_note(note, [v]).verified == (v.name,)  # the witness key verifies it
    assert open_note(note, [c.ledger_signer.verifier()]).verified == (ORIGIN,)  # and the log's
    assert [o.status for o in submit_checkpoint(c, client=client)] == ["already"]
    # the next checkpoint is submitted from the size the witness cosigned (a real proof)
    send(c, tmp_path, "b.csv", 5, 4)
    ledger.integrate_now(c)
    second = ledger.checkpoint(c)["size"]
    assert second > first
    out = submit_checkpoint(c, client=client)
    assert [(o.status, o.size) for o in out] == [("cosigned", second)]
    assert cosig_rows(c) == [(first, "local"), (second, "local")]
    assert open_note(cosigned_checkpoint(c, first), [v]).verified == (v.name,)
    assert open_note(cosigned_checkpoint(c), [v]).verified == (v.name,)
    with c.uow() as uow:
        plain = uow.session.get(LedgerCheckpointRow, second)
        assert plain is not None
    assert cosigned_checkpoint(c).startswith(plain.note) and cosigned_checkpoint(c) != plain.note
    # over HTTP: the plain checkpoint by default, the cosigned note on request
    api = TestClient(create_app(c, scheduler=False))
    assert api.get("/api/v1/ledger/checkpoint").json()["checkpoint"] == plain.note
    got = api.get("/api/v1/ledger/checkpoint", params={"cosigned": "true"}).json()
    assert got["cosigned_by"] == ["local"] and got["checkpoint"] == cosigned_checkpoint(c)
    assert open_note(got["checkpoint"], [v]).verified == (v.name,)
    delay = api.get("/api/v1/ledger/merge-delay").json()
    assert delay == {"mmd_s": 60, "oldest_pending_age_s": None, "pending": 0}


@pytest.mark.db
def test_stale_old_size_is_retried_from_the_witness_size(
    container: Container, local_witness: tuple[Witness, TestClient], tmp_path: Path
) -> None:
    c = container
    w, client = local_witness
    send(c, tmp_path, "a.csv", 0, 3)
    ledger.integrate_now(c)
    first = ledger.checkpoint(c)
    # the witness cosigned `first` through another path: the log has no record of it
    w.add_checkpoint(f"old 0\n\n{first['checkpoint']}")
    send(c, tmp_path, "b.csv", 3, 3)
    ledger.integrate_now(c)
    out = submit_checkpoint(c, client=client)  # old 0 → 409 with size → retry from it
    assert [(o.status, o.size) for o in out] == [("cosigned", ledger.checkpoint(c)["size"])]
    st = w.store.state(ORIGIN)
    assert st is not None and st.size == ledger.checkpoint(c)["size"]


@pytest.mark.db
def test_a_witness_with_another_root_raises_an_alarm(
    container: Container, local_witness: tuple[Witness, TestClient], tmp_path: Path
) -> None:
    c = container
    w, client = local_witness
    send(c, tmp_path, "a.csv", 0, 4)
    ledger.integrate_now(c)
    size = ledger.checkpoint(c)["size"]
    # a split view: the log key signed another root at this size, shown to the witness
    forged = make_checkpoint(ORIGIN, size, bytes(32), Suite(c.settings.ledger_suite))
    w.add_checkpoint(f"old 0\n\n{sign_note(checkpoint_text(forged), [c.ledger_signer])}")
    out = submit_checkpoint(c, client=client)
    assert [o.status for o in out] == ["conflict"]
    assert cosig_rows(c) == []
    with c.uow() as uow:
        alarms = list(uow.session.scalars(select(LedgerAlarmRow)))
    assert [(a.kind, a.detail["witness"], a.detail["witness_size"]) for a in alarms] == [
        ("witness_conflict", "local", size)
    ]
    assert [e["kind"] for e in read_evidence(w.store.directory)] == ["fork"]
    submit_checkpoint(c, client=client)  # one open alarm per witness
    with c.uow() as uow:
        n = uow.session.scalar(select(func.count()).select_from(LedgerAlarmRow))
    assert n == 1


@pytest.mark.db
def test_a_witness_that_is_down_never_blocks_checkpointing(
    container: Container, tmp_path: Path
) -> None:
    c = container
    cos = Cosigner.generate("witness.test/down")
    c.settings.ledger_witnesses = [
        LedgerWitness(
            name="down",
            url=f"http://127.0.0.1:{free_port()}",
            vkey=cosigner_vkey(cos.verifier()),
        )
    ]
    send(c, tmp_path, "a.csv", 0, 3)
    ledger.integrate_now(c)
    first = ledger.checkpoint(c)["size"]
    [result] = run_due(c, force=True, only="ledger_witness")
    assert result.status == "ok"
    [outcome] = result.detail["witnesses"]
    assert (outcome["witness"], outcome["status"]) == ("down", "unreachable")
    send(c, tmp_path, "b.csv", 3, 2)
    ledger.integrate_now(c)
    assert ledger.checkpoint(c)["size"] > first
    assert cosig_rows(c) == []
    assert cosigned_checkpoint(c) == ledger.checkpoint(c)["checkpoint"]
