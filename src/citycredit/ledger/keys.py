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
    suite_of,
    verifier_to_vkey,
)
from citycredit.ledger.suites import Suite
from citycredit.settings import Settings
from citycredit.shared.errors import CityCreditError

LOG_ID = 1


class LedgerConfigError(CityCreditError):
    """The configured key or suite does not match the log that exists."""

    default_code = "ledger_config"


def check_signer(settings: Settings, signer: NoteSigner) -> None:
    """The key must be named the configured origin and be of the configured suite.

    A checkpoint's origin line is the log's name and verifiers require it to be the key's name
    (ledger.bundle.verify_bundle), so a key named otherwise would sign checkpoints nobody
    accepts — or, shared with another log, checkpoints of that log (security goal G18).
    """
    if signer.name != settings.ledger_origin:
        raise LedgerConfigError(
            f"数据链签名密钥的名称 {signer.name} 与配置的来源 {settings.ledger_origin} 不一致："
            "检查点的来源必须是签名密钥的名称（CITYCREDIT_LEDGER_ORIGIN）"
        )
    if suite_of(signer).value != settings.ledger_suite:
        raise LedgerConfigError(
            f"数据链签名密钥属于 {suite_of(signer).value}，与配置的算法套件 "
            f"{settings.ledger_suite} 不一致（CITYCREDIT_LEDGER_SUITE）"
        )


def load_signer(settings: Settings) -> NoteSigner:
    """The log's signer: CITYCREDIT_LEDGER_SKEY, else data_dir/ledger.skey (created in dev).

    A key not named the configured origin or not of its suite is refused (`check_signer`).
    With ``ledger_signer = "pkcs11"`` the key is in a token and never read (ledger/pkcs11.py)."""
    if settings.ledger_signer == "pkcs11":
        from citycredit.ledger.pkcs11 import Pkcs11Signer

        token_signer = Pkcs11Signer(settings)
        check_signer(settings, token_signer)
        return token_signer
    if settings.ledger_skey is not None:
        signer = signer_from_skey(settings.ledger_skey.get_secret_value())
        check_signer(settings, signer)
        return signer
    path: Path = settings.data_dir / "ledger.skey"
    if path.exists():
        signer = signer_from_skey(path.read_text(encoding="ascii").strip())
        check_signer(settings, signer)
        return signer
    signer = generate_signer(settings.ledger_origin, Suite(settings.ledger_suite))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(signer_to_skey(signer) + "\n")
    return signer


def ensure_log(
    session: Session, settings: Settings, signer: NoteSigner, *, now: object
) -> LedgerLogRow:
    """The log's row, created on first use; a changed suite, origin or key is refused, and so is
    a key not named the origin or not of the suite (`check_signer`)."""
    check_signer(settings, signer)
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
