"""The log's signing key inside a PKCS#11 token — an HSM in production, SoftHSM in tests (G19).

The key pair is generated in the token (`generate_in_token`, CLI `citycredit ledger hsm-init`)
as a sensitive, non-extractable Ed25519 key (CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, PKCS#11
3.0); the platform holds only the token's user PIN (CITYCREDIT_LEDGER_PKCS11_PIN) and signs
checkpoints through the token. The verifier key is read from the token's public key object, so
the log's vkey, key id and checkpoints are exactly those of a software key (signed-note type
0x01): verifiers cannot tell the difference.

Only the `sha256-ed25519` suite: PKCS#11 has no standard SM2 mechanism (vendors define their
own, and 密码机 in 密评 deployments usually speak GM/T 0018 SDF instead); an SDF signer for
`sm3-sm2` needs the vendor's library and is not part of this module.

A session is opened per signature: checkpoints are signed a few times a minute at most, and a
token that was reset or reconnected is found again on the next signature.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from citycredit.ledger.signers import ALG_ED25519, Ed25519Verifier, KeyFormatError
from citycredit.ledger.suites import Suite
from citycredit.settings import Settings
from citycredit.shared.errors import CityCreditError

ED25519_OID = "1.3.101.112"  # RFC 8410 id-Ed25519 (CKA_EC_PARAMS as a named curve)


class TokenError(CityCreditError):
    """The token, its PIN or the key pair cannot be used as configured."""

    default_code = "ledger_token"


_LIBS: dict[str, Any] = {}
_LIBS_LOCK = threading.Lock()


def _lib(module: Path) -> Any:
    """The PKCS#11 library, loaded once per process (C_Initialize may run only once)."""
    import pkcs11

    key = str(module)
    with _LIBS_LOCK:
        if key not in _LIBS:
            if not module.is_file():
                raise TokenError(
                    f"PKCS#11 库不存在：{module}（CITYCREDIT_LEDGER_PKCS11_MODULE）",
                )
            _LIBS[key] = pkcs11.lib(key)
        return _LIBS[key]


def _open(settings: Settings, *, rw: bool = False) -> Any:
    import pkcs11

    module = settings.ledger_pkcs11_module
    pin = settings.ledger_pkcs11_pin
    if module is None or pin is None:
        raise TokenError("未配置 PKCS#11 库或口令（CITYCREDIT_LEDGER_PKCS11_MODULE / _PIN）")
    lib = _lib(module)
    label = settings.ledger_pkcs11_token
    try:
        token = lib.get_token(token_label=label)
    except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned) as exc:
        raise TokenError(
            f"找不到唯一的令牌 {label!r}（CITYCREDIT_LEDGER_PKCS11_TOKEN）：{type(exc).__name__}"
        ) from exc
    try:
        return token.open(rw=rw, user_pin=pin.get_secret_value())
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid) as exc:
        raise TokenError(f"令牌 {label!r} 的口令不正确（CITYCREDIT_LEDGER_PKCS11_PIN）") from exc


def _public_point(public_key: Any) -> bytes:
    """The 32-byte Ed25519 key from CKA_EC_POINT (a DER OCTET STRING, or raw on some tokens)."""
    from pkcs11 import Attribute

    point = bytes(public_key[Attribute.EC_POINT])
    if len(point) == 34 and point[0] == 0x04 and point[1] == 32:
        point = point[2:]
    if len(point) != 32:
        raise TokenError(f"令牌中的公钥不是 Ed25519 公钥（{len(point)} 字节）")
    return point


def _find(session: Any, label: str, cls: Any) -> list[Any]:
    from pkcs11 import Attribute, KeyType

    return list(
        session.get_objects(
            {Attribute.CLASS: cls, Attribute.LABEL: label, Attribute.KEY_TYPE: KeyType.EC_EDWARDS}
        )
    )


def _check_suite(settings: Settings) -> None:
    if settings.ledger_suite != Suite.sha256_ed25519.value:
        raise TokenError(
            f"PKCS#11 签名只支持 {Suite.sha256_ed25519.value} 套件，当前为 {settings.ledger_suite}"
            "（SM2 需厂商的 SDF 接口）"
        )


def generate_in_token(settings: Settings) -> Pkcs11Signer:
    """Generate the log's key pair inside the token (sensitive, never extractable).

    Refused when a key pair of that label already exists: replacing the log's key would make
    every earlier checkpoint unverifiable under the stored vkey (ledger/keys.ensure_log)."""
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    if settings.ledger_signer != "pkcs11":
        raise TokenError("CITYCREDIT_LEDGER_SIGNER 不是 pkcs11：数据链密钥不在令牌中")
    _check_suite(settings)
    label = settings.ledger_pkcs11_key_label
    with _open(settings, rw=True) as session:
        if _find(session, label, ObjectClass.PRIVATE_KEY):
            raise TokenError(f"令牌中已有标签为 {label!r} 的密钥，不能覆盖")
        params = session.create_domain_parameters(
            KeyType.EC_EDWARDS,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
            local=True,
        )
        params.generate_keypair(
            store=True,
            label=label,
            id=settings.ledger_origin.encode("utf-8"),  # the log the key belongs to (G18)
            mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
            private_template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
            },
        )
    return Pkcs11Signer(settings)


class Pkcs11Signer:
    """A NoteSigner whose Ed25519 key stays inside a PKCS#11 token."""

    alg = ALG_ED25519
    suite = Suite.sha256_ed25519

    def __init__(self, settings: Settings) -> None:
        from pkcs11 import Attribute, ObjectClass

        _check_suite(settings)
        self._settings = settings
        self.name = settings.ledger_origin
        label = settings.ledger_pkcs11_key_label
        with _open(settings) as session:
            publics = _find(session, label, ObjectClass.PUBLIC_KEY)
            privates = _find(session, label, ObjectClass.PRIVATE_KEY)
            if len(publics) != 1 or len(privates) != 1:
                raise TokenError(
                    f"令牌 {settings.ledger_pkcs11_token!r} 中标签为 {label!r} 的 Ed25519 密钥对"
                    f"应恰有一对（公钥 {len(publics)} 个，私钥 {len(privates)} 个）；"
                    "新部署先运行 citycredit ledger hsm-init"
                )
            public = _public_point(publics[0])
            bound = bytes(privates[0][Attribute.ID]).decode("utf-8", "replace")
        if bound != self.name:  # a key made for another log signs only that log's checkpoints
            raise TokenError(
                f"令牌中的密钥属于数据链 {bound!r}，与配置的来源 {self.name!r} 不一致"
                "（CITYCREDIT_LEDGER_ORIGIN）：检查点的来源必须是签名密钥的名称"
            )
        try:
            self._verifier = Ed25519Verifier(self.name, public)
        except KeyFormatError as exc:
            raise TokenError(f"令牌中的公钥无效：{exc}") from exc
        self.key_id = self._verifier.key_id

    def sign(self, msg: bytes) -> bytes:
        """64-byte Ed25519 signature made by the token (CKM_EDDSA)."""
        from pkcs11 import Mechanism, ObjectClass

        with _open(self._settings) as session:
            (key,) = _find(session, self._settings.ledger_pkcs11_key_label, ObjectClass.PRIVATE_KEY)
            sig = bytes(key.sign(msg, mechanism=Mechanism.EDDSA))
        if not self._verifier.verify(msg, sig):  # a token fault must not sign a bad checkpoint
            raise TokenError("令牌返回的签名无法用其公钥验证")
        return sig

    def verifier(self) -> Ed25519Verifier:
        """The matching verifier (its vkey is the log's)."""
        return self._verifier
