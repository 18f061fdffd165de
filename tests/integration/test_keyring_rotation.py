"""Key changes reach running processes, and no row becomes unreadable on the way.

A long-running server used to keep its ring until restarted: after `new-key`, `rotate` and
`retire OLD` run from the command line, it went on sealing with OLD, which had left the ring —
those rows could no longer be read and the next `rotate` failed on them. Now a running process
reloads a changed ring file, and a retired key stays in the ring open-only, so even a process
that has not yet noticed leaves readable rows that the next rotation re-seals.
Also: `crypto init` / `new-key` follow CITYCREDIT_PERSONAL_CIPHER (密评 deployments: SM4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.cli.main import app
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission
from citycredit.privacy.keys import keyring_path
from citycredit.privacy.service import reveal_personal
from citycredit.shared.personal import Keyring, PersonalDataError, generate_keyring
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    department,
    id_number,
    penalty_row,
    write_csv,
)

pytestmark = pytest.mark.db

FIRST_ID = id_number("610881", "19790921", "538")
LATE_ID = id_number("610825", "19660606", "737")


def person_file(path: Path, pid: str, number: int) -> Path:
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC=f"自然人{number}",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=pid,
        CF_WSH=f"榆市监罚〔2026〕{number}号",
    )
    return write_csv(path, PENALTY_COLUMNS_WITH_ID, [row])


def cli_env(c: Container, **extra: str) -> dict[str, str]:
    return {
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        "CITYCREDIT_ENVIRONMENT": "test",
        **extra,
    }


def record_with(c: Container, decision_no: str) -> str:
    with c.uow() as uow:
        rid = uow.session.scalar(
            select(RecordRow.id).where(RecordRow.key_text.contains(decision_no))
        )
        assert rid is not None
        return rid


def stored_kid(c: Container, record_id: str) -> str:
    with c.uow() as uow:
        v = uow.session.scalar(
            select(RecordVersionRow).where(RecordVersionRow.record_id == record_id)
        )
        assert v is not None
        return str(v.personal["kid"])


def clear_id(c: Container, record_id: str) -> str:
    shown = reveal_personal(c, SYSTEM, record_id, purpose="轮换后核对")
    return {f["code"]: f["value"] for f in shown["fields"]}["CF_XDR_ZJHM"]


def test_a_stale_process_never_leaves_an_unreadable_row(
    container: Container, tmp_path: Path
) -> None:
    server = container
    server.personal_keys.interval = 0  # look at the ring file on every use (default: 1 s)
    samr = department(server)
    ingest_submission(
        server, samr, path=person_file(tmp_path / "a.csv", FIRST_ID, 601), item_code="penalty"
    )
    first = record_with(server, "601号")
    old = server.personal_codec.key_id
    # A second process that has not looked at the ring file since it started (worst case).
    stale = build_container(server.settings, clock=server.clock)
    stale.personal_keys.interval = float("inf")
    assert stale.personal_codec.key_id == old

    runner, env = CliRunner(), cli_env(server)
    added = runner.invoke(app, ["crypto", "new-key"], env=env)
    assert added.exit_code == 0, added.output
    new = server.personal_codec.key_id  # no restart: the running process reloaded the file
    assert new != old
    rotated = runner.invoke(app, ["crypto", "rotate", "--json"], env=env)
    assert rotated.exit_code == 0 and json.loads(rotated.stdout)["ok"], rotated.output
    retired = runner.invoke(app, ["crypto", "retire", old], env=env)
    assert retired.exit_code == 0, retired.output
    assert stored_kid(server, first) == new

    # The stale process still seals with the retired key ...
    ingest_submission(
        stale,
        department_principal(stale, SAMR),
        path=person_file(tmp_path / "b.csv", LATE_ID, 602),
        item_code="penalty",
    )
    late = record_with(server, "602号")
    assert stored_kid(server, late) == old
    # ... and the row stays readable: the retired key is still in the ring, open-only.
    assert clear_id(server, late) == LATE_ID
    fresh = build_container(server.settings, clock=server.clock)
    assert fresh.personal_codec.key_id == new and clear_id(fresh, late) == LATE_ID
    status = runner.invoke(app, ["crypto", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["ok"] and data["stale"] == 1 and data["usage"]["record_versions"][old] == 1
    refused = runner.invoke(app, ["crypto", "retire", old, "--delete"], env=env)
    assert refused.exit_code == 2 and "rotate" in refused.output

    # The next rotation re-seals it; only then can the retired key leave the ring.
    rotated = runner.invoke(app, ["crypto", "rotate", "--json"], env=env)
    assert rotated.exit_code == 0, rotated.output
    report = json.loads(rotated.stdout)
    assert report["ok"] and report["tables"]["record_versions"]["resealed"] == 1
    deleted = runner.invoke(app, ["crypto", "retire", old, "--delete"], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert [k.kid for k in server.personal_codec.keyring.keys] == [new]
    assert clear_id(server, late) == LATE_ID and clear_id(server, first) == FIRST_ID
    assert stored_kid(server, late) == new
    for c in (stale, fresh):
        c.dispose()


def test_a_running_process_refuses_a_ring_file_replaced_by_another(
    container: Container, tmp_path: Path
) -> None:
    c = container
    c.personal_keys.interval = 0
    samr = department(c)
    ingest_submission(
        c, samr, path=person_file(tmp_path / "a.csv", FIRST_ID, 611), item_code="penalty"
    )
    rec = record_with(c, "611号")
    path = keyring_path(c.settings)
    assert path is not None
    saved = path.read_bytes()
    other = Keyring.from_json(saved.decode()).with_new_key("sm4-gcm", now=c.clock.now())
    generate_keyring("aes-256-gcm", now=c.clock.now(), dev=True).save(path)
    with pytest.raises(PersonalDataError) as e:
        clear_id(c, rec)
    assert e.value.code == "personal_key_mismatch"
    with pytest.raises(PersonalDataError) as e:  # and it stays refused until the file is fixed
        c.personal_codec  # noqa: B018
    assert e.value.code == "personal_key_mismatch"
    other.save(path)  # the right ring with a new key: accepted, seals with the new key
    assert clear_id(c, rec) == FIRST_ID and c.personal_codec.algorithm == "sm4-gcm"


def test_init_and_new_key_follow_the_configured_cipher(
    container: Container, tmp_path: Path
) -> None:
    runner = CliRunner()
    sm4 = {"CITYCREDIT_PERSONAL_CIPHER": "sm4-gcm"}
    # `init` runs before CITYCREDIT_PERSONAL_KEYS exists, also in production
    made = runner.invoke(
        app,
        ["crypto", "init", str(tmp_path / "gm.keys")],
        env={**sm4, "CITYCREDIT_ENVIRONMENT": "production"},
    )
    assert made.exit_code == 0, made.output
    ring = Keyring.load(tmp_path / "gm.keys")
    assert (ring.current.alg, ring.index_alg) == ("sm4-gcm", "hmac-sm3")
    aes = runner.invoke(
        app, ["crypto", "init", str(tmp_path / "aes.keys"), "--algorithm", "aes-256-gcm"], env=sm4
    )
    assert aes.exit_code == 0 and "CITYCREDIT_PERSONAL_CIPHER 是 sm4-gcm" in aes.output
    assert Keyring.load(tmp_path / "aes.keys").index_alg == "hmac-sha256"
    plain = runner.invoke(app, ["crypto", "init", str(tmp_path / "d.keys")], env={})
    assert plain.exit_code == 0 and Keyring.load(tmp_path / "d.keys").current.alg == "aes-256-gcm"

    c = container  # an AES deployment switching to SM4 for 密评
    department(c)
    ingest_submission(
        c,
        department_principal(c, SAMR),
        path=person_file(tmp_path / "a.csv", FIRST_ID, 621),
        item_code="penalty",
    )
    aes_kid = c.personal_codec.key_id
    env = cli_env(c, **sm4)
    added = runner.invoke(app, ["crypto", "new-key"], env=env)
    assert added.exit_code == 0, added.output
    assert f"与当前加密密钥 {aes_kid} 的算法 aes-256-gcm 不同" in added.output
    path = keyring_path(c.settings)
    assert path is not None
    ring = Keyring.load(path)
    assert ring.current.alg == "sm4-gcm" and ring.current.kid != aes_kid
    again = runner.invoke(app, ["crypto", "new-key"], env=env)
    assert again.exit_code == 0 and "注意" not in again.output
    assert Keyring.load(path).current.alg == "sm4-gcm"
