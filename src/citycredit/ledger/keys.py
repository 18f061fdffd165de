"""The log's identity: its signing key (from settings, or a dev key file) and its stored row."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from citycredit.ledger.db import LedgerLogRow
from citycredit.ledger.signers import (
    NoteSigner,
    generate_signer,
    signer_from_skey,
    signer_to_skey,
    verifier_to_vkey,
)
from citycredit.ledger.suites import Suite
from citycredit.settings import Settings
from citycredit.shared.errors import CityCreditError

LOG_ID = 1


class LedgerConfigError(CityCreditError):
    """The configured key or suite does not match the log that exists."""

    default_code = "ledger_config"


def load_signer(settings: Settings) -> NoteSigner:
    """The log's signer: CITYCREDIT_LEDGER_SKEY, else data_dir/ledger.skey (created in dev)."""
    if settings.ledger_skey is not None:
        return signer_from_skey(settings.ledger_skey.get_secret_value())
    path: Path = settings.data_dir / "ledger.skey"
    if path.exists():
        return signer_from_skey(path.read_text(encoding="ascii").strip())
    signer = generate_signer(settings.ledger_origin, Suite(settings.ledger_suite))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(signer_to_skey(signer) + "\n")
    return signer


def ensure_log(
    session: Session, settings: Settings, signer: NoteSigner, *, now: object
) -> LedgerLogRow:
    """The log's row, created on first use; a changed suite, origin or key is refused."""
    row = session.get(LedgerLogRow, LOG_ID)
    vkey = verifier_to_vkey(signer.verifier())
    if row is None:
        row = LedgerLogRow(
            id=LOG_ID,
            origin=settings.ledger_origin,
            suite=settings.ledger_suite,
            vkey=vkey,
            created_at=now,
        )
        session.add(row)
        session.flush()
        return row
    if (row.suite, row.origin, row.vkey) != (settings.ledger_suite, settings.ledger_origin, vkey):
        raise LedgerConfigError(
            f"数据链已按 {row.suite} / {row.origin} 创建，公钥 {row.vkey}；当前配置为 "
            f"{settings.ledger_suite} / {settings.ledger_origin}，公钥 {vkey}。"
            "套件和密钥在创建后不能更换"
        )
    return row
