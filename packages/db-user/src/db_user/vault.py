"""The credential vault: AES-256-GCM under the master keys, each ciphertext bound to its row.

A ciphertext is ``nonce (12 bytes) || AES-GCM(secret)``, with associated data naming the user,
network, API key and key id: copied to another row or user, it does not decrypt.
"""

import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from core_config import Settings
from db_user.master_keys import MasterKeyRing, load_master_keys

NONCE_BYTES = 12
_FORMAT = b"bybit-credential/v1"


class _HasContext(Protocol):
    user_id: int
    network: str
    api_key: str


class VaultError(Exception):
    """A secret could not be decrypted: wrong row, unknown key id or tampered ciphertext."""


@dataclass(frozen=True)
class CredentialContext:
    """What a ciphertext is bound to."""

    user_id: int
    network: str
    api_key: str

    @classmethod
    def of(cls, credential: "_HasContext") -> "CredentialContext":
        return cls(credential.user_id, credential.network, credential.api_key)

    def associated_data(self, key_id: str) -> bytes:
        parts = (
            _FORMAT,
            str(self.user_id).encode(),
            self.network.encode(),
            self.api_key.encode(),
            key_id.encode(),
        )
        # Length-prefixed, so that no two different contexts give the same bytes.
        return b"".join(len(part).to_bytes(2, "big") + part for part in parts)


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes
    key_id: str


class Vault:
    def __init__(self, keys: MasterKeyRing) -> None:
        self._keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> "Vault":
        """The vault of the key file at ``RENDER_MASTER_KEY_PATH``; strict about permissions outside
        local and test. Raises ``ConfigError`` with one line when the file is not right."""
        return cls(
            load_master_keys(settings.render_master_key_path, strict_permissions=not settings.is_local)
        )

    def __repr__(self) -> str:
        return f"Vault({self._keys!r})"

    @property
    def primary_key_id(self) -> str:
        return self._keys.primary_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys.keys)

    def encrypt(self, secret: SecretStr, context: CredentialContext) -> Sealed:
        """Encrypt under the primary key with a fresh random nonce."""
        key = self._keys.primary
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key.material).encrypt(
            nonce, secret.get_secret_value().encode(), context.associated_data(key.key_id)
        )
        return Sealed(nonce + sealed, key.key_id)

    def decrypt(self, ciphertext: bytes, key_id: str, context: CredentialContext) -> SecretStr:
        """Decrypt with the key that encrypted it (by id)."""
        key = self._keys.keys.get(key_id)
        if key is None:
            raise VaultError(f"master key {key_id!r} is not in the key file; was it removed too early?")
        nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        try:
            plain = AESGCM(key.material).decrypt(nonce, sealed, context.associated_data(key_id))
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
            raise VaultError("the ciphertext does not belong to this credential or was altered") from None
        return SecretStr(plain.decode())

    def reseal(self, ciphertext: bytes, key_id: str, context: CredentialContext) -> Sealed:
        """Decrypt with the old key and encrypt under the primary one (key rotation)."""
        return self.encrypt(self.decrypt(ciphertext, key_id, context), context)
