"""The personal-data keyring: from settings (a file outside the database), or a dev key file."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from citycredit.settings import Settings
from citycredit.shared.personal import Keyring, PersonalCodec, PersonalDataError, generate_keyring

DEV_KEYRING = "personal.keys"


def keyring_path(settings: Settings) -> Path | None:
    """The keyring file in use; None when the keyring is given inline (JSON in the setting)."""
    if settings.personal_keys is not None:
        value = settings.personal_keys.get_secret_value().strip()
        return None if value.startswith("{") else Path(value)
    return settings.data_dir / DEV_KEYRING


def load_keyring(settings: Settings, *, now: datetime) -> Keyring:
    """CITYCREDIT_PERSONAL_KEYS (a path, or the ring's JSON), else data_dir/personal.keys (dev).

    The dev ring is generated on first start; production refuses a missing file and a ring
    that was generated as a dev ring.
    """
    if settings.personal_keys is not None:
        value = settings.personal_keys.get_secret_value().strip()
        if value.startswith("{"):
            ring = Keyring.from_json(value, source="CITYCREDIT_PERSONAL_KEYS")
        else:
            path = Path(value)
            if not path.is_file():
                raise PersonalDataError(
                    f"个人信息密钥环文件 {path} 不存在（CITYCREDIT_PERSONAL_KEYS）",
                    code="personal_key_missing",
                )
            ring = Keyring.load(path)
    else:
        ring = _dev_keyring(settings, now)
    if settings.environment == "production" and ring.dev:
        raise PersonalDataError(
            "生产环境不能使用开发用的个人信息密钥环（dev: true），请用 "
            "citycredit crypto init 生成正式密钥环",
            code="personal_key_dev",
        )
    return ring


def _dev_keyring(settings: Settings, now: datetime) -> Keyring:
    path = settings.data_dir / DEV_KEYRING
    if path.exists():
        return Keyring.load(path)
    ring = generate_keyring(settings.personal_cipher, now=now, dev=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(ring.to_json() + "\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: a complete file or none
    except FileExistsError:  # another process generated it first: use theirs
        return Keyring.load(path)
    finally:
        tmp.unlink(missing_ok=True)
    return ring


def load_codec(settings: Settings, *, now: datetime) -> PersonalCodec:
    """The codec of this deployment (Container.personal_codec); `now` dates a new dev key."""
    return PersonalCodec(load_keyring(settings, now=now))
