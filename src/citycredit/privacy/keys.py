"""The personal-data keyring: from settings (a file outside the database), or a dev key file.

A ring is used only once it is known to be this database's ring (`privacy.keycheck`): a wrong
ring refuses to load instead of sealing what nobody can open and finding nothing. A process
keeps its codec (`CodecProvider`) and looks at the ring file again at most once per
``RELOAD_SECONDS``: after `crypto new-key` or `crypto retire` a running server seals with the
new key without a restart. A retired key stays in the ring and still opens, so a value sealed by
a process that had not yet noticed the change stays readable and the next `crypto rotate`
re-seals it (docs/personal-data.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from citycredit.settings import Settings
from citycredit.shared.personal import Keyring, PersonalCodec, PersonalDataError, generate_keyring

DEV_KEYRING = "personal.keys"
RELOAD_SECONDS = 1.0  # a running process looks at the ring file at most this often

# What identifies the content of a ring file: (device, inode, size, mtime in ns). `Keyring.save`
# replaces the file (a new inode), so even a same-size rewrite within one mtime tick is seen.
Signature = tuple[int, int, int, int]


def keyring_path(settings: Settings) -> Path | None:
    """The keyring file in use; None when the keyring is given inline (JSON in the setting)."""
    if settings.personal_keys is not None:
        value = settings.personal_keys.get_secret_value().strip()
        return None if value.startswith("{") else Path(value)
    return settings.data_dir / DEV_KEYRING


def keyring_source(settings: Settings) -> str:
    """Where the ring comes from, for messages."""
    path = keyring_path(settings)
    return "CITYCREDIT_PERSONAL_KEYS" if path is None else str(path)


def load_keyring(settings: Settings, *, now: datetime, engine: Engine | None = None) -> Keyring:
    """CITYCREDIT_PERSONAL_KEYS (a path, or the ring's JSON), else data_dir/personal.keys (dev).

    The dev ring is generated on first start — only while the database (`engine`, when given)
    holds no sealed value; production refuses a missing file and a ring that was generated as a
    dev ring. The ring is not checked against the database here (`load_codec` does that).
    """
    return _load(settings, now=now, engine=engine)[0]


def load_codec(settings: Settings, *, now: datetime, engine: Engine | None = None) -> PersonalCodec:
    """The codec of this deployment, its ring checked against the database when given one."""
    ring = load_keyring(settings, now=now, engine=engine)
    if engine is not None:
        from citycredit.privacy.keycheck import verify_keyring

        verify_keyring(engine, ring, source=keyring_source(settings))
    return PersonalCodec(ring)


class CodecProvider:
    """A process's codec (`Container.personal_codec`), reloaded when the ring file changes.

    The first use loads the ring and checks it against the database; afterwards the ring file
    is looked at (one ``stat``) at most every ``interval`` seconds and, when it changed, loaded
    and checked again. A changed ring that fails (unreadable, another blind-index key, not this
    database's ring) makes every use raise until the file is fixed: never silently on with
    either ring. An inline ring (JSON in the setting) is never reloaded: restart the process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        now: Callable[[], datetime],
        interval: float = RELOAD_SECONDS,
    ) -> None:
        self.settings, self.engine, self.now, self.interval = settings, engine, now, interval
        self._path = keyring_path(settings)
        self._lock = threading.Lock()
        self._codec: PersonalCodec | None = None
        self._signature: Signature | None = None
        self._next_look = 0.0
        self._error: PersonalDataError | None = None
        self._failed: Signature | None = None

    def codec(self) -> PersonalCodec:
        codec = self._codec
        if codec is None:
            return self._first()
        if self._path is not None and time.monotonic() >= self._next_look:
            self._look()
        if self._error is not None:
            raise self._error
        return self._codec or codec

    def _first(self) -> PersonalCodec:
        with self._lock:
            if self._codec is None:
                ring, signature = self._load_checked()
                self._codec, self._signature = PersonalCodec(ring), signature
                self._next_look = time.monotonic() + self.interval
            return self._codec

    def _look(self) -> None:
        with self._lock:
            moment = time.monotonic()
            if moment < self._next_look:
                return
            self._next_look = moment + self.interval
            current = _stat(self._path)
            if current == self._signature and self._error is None:
                return
            if current is not None and current == self._failed:
                return  # the same broken file: the error stands
            try:
                ring, signature = self._load_checked()
                assert self._codec is not None
                _check_successor(self._codec.keyring, ring, keyring_source(self.settings))
            except PersonalDataError as e:
                self._error, self._failed = e, current
                return
            self._codec, self._signature = PersonalCodec(ring), signature
            self._error = self._failed = None

    def _load_checked(self) -> tuple[Keyring, Signature | None]:
        from citycredit.privacy.keycheck import verify_keyring

        ring, signature = _load(self.settings, now=self.now(), engine=self.engine)
        verify_keyring(self.engine, ring, source=keyring_source(self.settings))
        return ring, signature


def _check_successor(old: Keyring, new: Keyring, source: str) -> None:
    """A ring reloaded while running keeps the blind-index key and the bytes of every key id."""
    if (new.index_kid, new.index_alg, new.index_key) != (
        old.index_kid,
        old.index_alg,
        old.index_key,
    ):
        raise PersonalDataError(
            f"个人信息密钥环 {source} 在运行中换了盲索引密钥（{old.index_kid} → {new.index_kid}）："
            "盲索引与内容摘要都依赖它。若确是更换，请停止服务、运行 citycredit crypto reindex "
            "后再启动；否则请恢复原密钥环",
            code="personal_key_mismatch",
        )
    for key in new.keys:
        before = old.get(key.kid)
        if before is not None and (before.alg, before.key) != (key.alg, key.key):
            raise PersonalDataError(
                f"个人信息密钥环 {source} 在运行中改变了密钥 {key.kid} 的内容；请恢复原密钥环",
                code="personal_key_mismatch",
            )


def _load(
    settings: Settings, *, now: datetime, engine: Engine | None
) -> tuple[Keyring, Signature | None]:
    if settings.personal_keys is not None:
        value = settings.personal_keys.get_secret_value().strip()
        if value.startswith("{"):
            ring, signature = Keyring.from_json(value, source="CITYCREDIT_PERSONAL_KEYS"), None
        else:
            path = Path(value)
            if not path.is_file():
                raise PersonalDataError(
                    f"个人信息密钥环文件 {path} 不存在（CITYCREDIT_PERSONAL_KEYS）",
                    code="personal_key_missing",
                )
            ring, signature = _read(path)
    else:
        ring, signature = _dev_keyring(settings, now, engine)
    if settings.environment == "production" and ring.dev:
        raise PersonalDataError(
            "生产环境不能使用开发用的个人信息密钥环（dev: true），请用 "
            "citycredit crypto init 生成正式密钥环",
            code="personal_key_dev",
        )
    return ring, signature


def _read(path: Path) -> tuple[Keyring, Signature]:
    """The ring in a file and the signature of exactly the file that was read."""
    with path.open("rb") as fh:
        signature = _signature(os.fstat(fh.fileno()))
        text = fh.read().decode("utf-8")
    return Keyring.from_json(text, source=str(path)), signature


def _stat(path: Path | None) -> Signature | None:
    if path is None:
        return None
    try:
        return _signature(path.stat())
    except OSError:
        return None


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _dev_keyring(
    settings: Settings, now: datetime, engine: Engine | None
) -> tuple[Keyring, Signature | None]:
    path = settings.data_dir / DEV_KEYRING
    if path.exists():
        return _read(path)
    if engine is not None:
        from citycredit.privacy.keycheck import holds_sealed_values

        if holds_sealed_values(engine):
            raise PersonalDataError(
                f"开发用个人信息密钥环 {path} 不存在，但数据库中已有加密的个人信息：新生成的"
                f"密钥环打不开它们，重复数据会被当作更正、按号码查找会一无所获，所以不会自动生成。"
                f"请从备份恢复 {path}（或用 CITYCREDIT_PERSONAL_KEYS 指向原密钥环）；若这些数据"
                "可以丢弃，请删除数据库后重新启动",
                code="personal_key_missing",
            )
    ring = generate_keyring(settings.personal_cipher, now=now, dev=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(ring.to_json() + "\n")
    try:
        os.link(tmp, path)  # atomic and exclusive: a complete file or none
    except FileExistsError:  # another process generated it first: use theirs
        return _read(path)
    finally:
        tmp.unlink(missing_ok=True)
    return ring, _stat(path)
