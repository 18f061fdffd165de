"""G19: the log's key in a PKCS#11 token (SoftHSM2 standing in for an HSM), and no key material
in the database or the configuration."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import MetaData, select

from citycredit.bootstrap import Container
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLogRow
from citycredit.ledger.keys import load_signer
from citycredit.ledger.note import open_checkpoint
from citycredit.ledger.pkcs11 import Pkcs11Signer, TokenError, generate_in_token
from citycredit.ledger.signers import (
    Ed25519Signer,
    signer_from_skey,
    signer_to_skey,
    verifier_from_vkey,
)
from citycredit.ledger.verify import verify_log
from citycredit.settings import Settings
from support import (
    submit_penalties,
)

pytestmark = pytest.mark.db

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")  # Debian softhsm2 (scripts/install.sh)
TOKEN = "cc-test-ledger"
PIN = "246813579"


@dataclass(frozen=True)
class Token:
    module: Path
    label: str
    pin: str


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """One SoftHSM2 token for the session (the library reads its configuration once per
    process); each test uses its own key label."""
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n",
        encoding="utf-8",
    )
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    init = ("--init-token", "--free", "--label", TOKEN, "--so-pin", "13572468", "--pin", PIN)
    subprocess.run(
        ["softhsm2-util", *init],
        check=True,
        capture_output=True,
    )
    yield Token(MODULE, TOKEN, PIN)
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


def token_settings(c: Container, token: Token, **kw: object) -> Settings:
    update: dict[str, object] = {
        "ledger_signer": "pkcs11",
        "ledger_pkcs11_module": token.module,
        "ledger_pkcs11_token": token.label,
        "ledger_pkcs11_pin": SecretStr(token.pin),
        "ledger_pkcs11_key_label": f"ledger-{uuid.uuid4().hex[:8]}",
    }
    update.update(kw)
    return c.settings.model_copy(update=update)


def submit(c: Container, tmp: Path, n: int, start: int = 0) -> None:
    submit_penalties(c, tmp, n, start, tag="MA6H")


def test_the_log_signs_with_a_token_key_that_never_leaves_it(
    container: Container, softhsm: Token, tmp_path: Path
) -> None:
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    c = container
    c.settings = token_settings(c, softhsm)
    made = generate_in_token(c.settings)
    submit(c, tmp_path, 3)
    assert ledger.integrate_now(c) > 0
    cp = ledger.checkpoint(c)
    # the log's stored vkey is the token's, and the checkpoint verifies under it alone
    assert cp["vkey"] == ledger_vkey(made)
    opened = open_checkpoint(cp["checkpoint"], [verifier_from_vkey(cp["vkey"])])
    assert opened.size == cp["size"] >= 3
    assert isinstance(c.ledger_signer, Pkcs11Signer)
    assert verify_log(c).ok
    # no key file was written, and the private key is sensitive and not extractable
    assert not (c.settings.data_dir / "ledger.skey").exists()
    from citycredit.ledger.pkcs11 import _open

    with _open(c.settings) as session:
        (key,) = session.get_objects(
            {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.LABEL: c.settings.ledger_pkcs11_key_label,
            }
        )
        assert key[Attribute.SENSITIVE] is True and key[Attribute.EXTRACTABLE] is False
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
    with pytest.raises(TypeError, match="only software signers"):
        signer_to_skey(c.ledger_signer)
    # a second process (a fresh signer over the same token) signs on under the same key
    again = load_signer(c.settings)
    assert again.key_id == made.key_id
    submit(c, tmp_path, 2, start=10)
    c.__dict__["ledger_signer"] = again
    ledger.integrate_now(c)
    later = ledger.checkpoint(c)
    assert later["size"] > cp["size"]
    assert (
        open_checkpoint(later["checkpoint"], [verifier_from_vkey(later["vkey"])]).size
        == later["size"]
    )
    assert verify_log(c).ok


def ledger_vkey(signer: Pkcs11Signer) -> str:
    from citycredit.ledger.signers import verifier_to_vkey

    return verifier_to_vkey(signer.verifier())


def test_token_misconfiguration_is_refused_with_the_setting_named(
    container: Container, softhsm: Token
) -> None:
    c = container
    s = token_settings(c, softhsm)
    with pytest.raises(TokenError, match="hsm-init"):
        Pkcs11Signer(s)  # no key pair yet
    generate_in_token(s)
    with pytest.raises(TokenError, match="不能覆盖"):
        generate_in_token(s)  # the log's key is never replaced
    with pytest.raises(TokenError, match="CITYCREDIT_LEDGER_PKCS11_PIN"):
        Pkcs11Signer(s.model_copy(update={"ledger_pkcs11_pin": SecretStr("000000000")}))
    with pytest.raises(TokenError, match="CITYCREDIT_LEDGER_PKCS11_TOKEN"):
        Pkcs11Signer(s.model_copy(update={"ledger_pkcs11_token": "no-such-token"}))
    with pytest.raises(TokenError, match="sm3-sm2"):
        Pkcs11Signer(s.model_copy(update={"ledger_suite": "sm3-sm2"}))
    with pytest.raises(ValidationError, match="CITYCREDIT_LEDGER_PKCS11_MODULE"):
        Settings(ledger_signer="pkcs11", database_url=None, data_dir=c.settings.data_dir)
    # a key of another origin is refused like a software key of another name (G18)
    with pytest.raises(TokenError, match="CITYCREDIT_LEDGER_ORIGIN"):
        load_signer(s.model_copy(update={"ledger_origin": "other.example/log"}))


def test_no_key_material_in_the_database_or_the_configuration(
    container: Container, tmp_path: Path
) -> None:
    """A software key (CITYCREDIT_LEDGER_SKEY) signs checkpoints; neither the database's rows
    nor the settings as printed or dumped hold the key string, its seed or the seed's hex."""
    c = container
    key = Ed25519Signer.generate(c.settings.ledger_origin)
    skey = signer_to_skey(key)
    c.settings = c.settings.model_copy(update={"ledger_skey": SecretStr(skey)})
    submit(c, tmp_path, 3)
    ledger.integrate_now(c)
    assert signer_from_skey(skey).key_id == c.ledger_signer.key_id
    seed = key.private_material()
    needles = {
        "skey": skey.encode(),
        "skey payload": skey.split("+", 4)[4].encode(),  # base64 may itself hold '+'
        "seed": seed,
        "seed hex": seed.hex().encode(),
        "seed base64": base64.b64encode(seed).rstrip(b"="),
    }
    assert all(len(n) >= 32 for n in needles.values())  # no empty or short needle
    dumped = bytearray()
    with c.uow() as uow:
        meta = MetaData()
        meta.reflect(bind=uow.session.connection())
        assert "ledger_checkpoints" in meta.tables
        for table in meta.sorted_tables:
            for row in uow.session.execute(select(table)):
                for value in row:
                    dumped += (
                        value if isinstance(value, bytes | memoryview) else repr(value).encode()
                    )
                    dumped += b"\x00"
        assert uow.session.scalar(select(LedgerLogRow.vkey)) is not None
    assert len(dumped) > 10_000  # the dump really holds the city's rows
    config = (repr(c.settings) + c.settings.model_dump_json()).encode()
    for what, needle in needles.items():
        assert needle not in dumped, f"{what} found in the database"
        assert needle not in config, f"{what} found in the printed settings"


def test_hsm_init_and_the_log_from_the_command_line(
    container: Container, softhsm: Token, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`citycredit ledger hsm-init` makes the key in the token and prints its vkey; the
    platform's commands then sign with it; a second hsm-init is refused."""
    from typer.testing import CliRunner

    from citycredit.cli.main import app

    s = container.settings
    label = f"cli-{uuid.uuid4().hex[:8]}"
    env = {
        "CITYCREDIT_DATABASE_URL": s.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(s.data_dir),
        "CITYCREDIT_SECRET_KEY": s.secret_key.get_secret_value(),
        "CITYCREDIT_LEDGER_SIGNER": "pkcs11",
        "CITYCREDIT_LEDGER_PKCS11_MODULE": str(softhsm.module),
        "CITYCREDIT_LEDGER_PKCS11_TOKEN": softhsm.label,
        "CITYCREDIT_LEDGER_PKCS11_PIN": softhsm.pin,
        "CITYCREDIT_LEDGER_PKCS11_KEY_LABEL": label,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()
    made = runner.invoke(app, ["ledger", "hsm-init"])
    assert made.exit_code == 0, made.output
    vkey = made.output.strip().splitlines()[-1]
    assert vkey.startswith(s.ledger_origin + "+")
    again = runner.invoke(app, ["ledger", "hsm-init"])
    assert again.exit_code != 0 and "不能覆盖" in again.output
    c = container
    c.settings = token_settings(c, softhsm, ledger_pkcs11_key_label=label)
    submit(c, tmp_path, 2)
    assert runner.invoke(app, ["ledger", "integrate"]).exit_code == 0
    shown = runner.invoke(app, ["ledger", "checkpoint"])
    assert shown.exit_code == 0, shown.output
    note = shown.output.split("公钥：")[0]
    assert open_checkpoint(note, [verifier_from_vkey(vkey)]).size >= 2
    monkeypatch.setenv("CITYCREDIT_LEDGER_SIGNER", "key")
    refused = runner.invoke(app, ["ledger", "hsm-init"])
    assert refused.exit_code == 2 and "不是 pkcs11" in refused.output
