"""The master key file: several AES-256 keys with ids, one of them primary, so keys can rotate.

Format (JSON, one object)::

    {"primary": "20261126-3fa9c1",
     "keys": {"20261126-3fa9c1": "<32 random bytes, base64url>", "20250101-0a1b2c": "..."}}

New secrets are encrypted with the primary key; every listed key still decrypts what it
encrypted. Loading refuses anything else with one line naming ``RENDER_MASTER_KEY_PATH``; the key
bytes never appear in an error, a log line or a repr.
"""

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core_config import MASTER_KEY_VARIABLE, ConfigError, get_logger, read_secret_file

KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
logger = get_logger(__name__)


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    material: bytes = field(repr=False)


@dataclass(frozen=True)
class MasterKeyRing:
    """The loaded keys; ``primary`` encrypts, any key decrypts by its id."""

    keys: Mapping[str, MasterKey] = field(repr=False)
    primary_id: str

    @property
    def primary(self) -> MasterKey:
        return self.keys[self.primary_id]

    def __repr__(self) -> str:
        return f"MasterKeyRing(primary={self.primary_id!r}, key_ids={sorted(self.keys)})"


def _problem(message: str) -> ConfigError:
    return ConfigError([(MASTER_KEY_VARIABLE, message)])


def _reject_duplicate_ids(pairs: list[tuple[str, object]]) -> dict[str, object]:
    names = [name for name, _ in pairs]
    duplicated = {name for name in names if names.count(name) > 1}
    if duplicated:
        raise _problem(f"key id {sorted(duplicated)[0]!r} appears twice in the key file")
    return dict(pairs)


def parse_key_file(data: bytes, path: Path) -> MasterKeyRing:
    """Validate a key file's contents: unique ids, exactly 32 bytes per key, one primary."""
    try:
        document = json.loads(data, object_pairs_hook=_reject_duplicate_ids)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _problem(f"{path} is not a JSON master key file (see the README)") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
        raise _problem(f'{path} has no "keys" object')
    keys: dict[str, MasterKey] = {}
    for key_id, encoded in document["keys"].items():
        if not _KEY_ID.match(key_id):
            raise _problem(f"{path}: key id {key_id!r} is not 1-64 letters, digits, '.', '_' or '-'")
        try:
            material = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        except (TypeError, ValueError, binascii.Error):
            raise _problem(f"{path}: key {key_id!r} is not base64url") from None
        if len(material) != KEY_BYTES:
            raise _problem(f"{path}: key {key_id!r} is {len(material)} bytes, not {KEY_BYTES}")
        keys[key_id] = MasterKey(key_id, material)
    if not keys:
        raise _problem(f"{path} holds no key")
    primary = document.get("primary")
    if primary not in keys:
        raise _problem(f'{path}: "primary" must name one of its keys')
    return MasterKeyRing(keys, primary)


def load_master_keys(path: Path, *, strict_permissions: bool) -> MasterKeyRing:
    """Read and validate the key file at ``path``.

    A file readable by group or others is refused when ``strict_permissions`` (staging and
    production) and only warned about otherwise.
    """
    data, mode = read_secret_file(path)
    if mode & 0o077:
        message = f"{path} is readable by group or others (mode {mode:o}); run chmod 600 {path}"
        if strict_permissions:
            raise _problem(message)
        logger.warning(message, variable=MASTER_KEY_VARIABLE)
    return parse_key_file(data, path)


def new_key_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _encode(material: bytes) -> str:
    return base64.urlsafe_b64encode(material).decode().rstrip("=")


def _write_private(path: Path, document: dict[str, object], *, replace: bool) -> None:
    """Write ``document`` with mode 0600 from the first byte; atomically when replacing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(f".{path.name}.tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    descriptor = os.open(target, flags, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        os.replace(target, path)


def generate_key_file(path: Path) -> str:
    """Write a new key file holding one fresh primary key; refuses to overwrite. Returns its id."""
    if path.exists():
        raise _problem(f"{path} already exists; use 'api-admin master-key add' to rotate")
    key_id = new_key_id()
    _write_private(
        path, {"primary": key_id, "keys": {key_id: _encode(secrets.token_bytes(KEY_BYTES))}}, replace=False
    )
    return key_id


def add_primary_key(path: Path) -> str:
    """Add a fresh key to an existing file and make it the primary one. Returns its id."""
    ring = load_master_keys(path, strict_permissions=True)
    key_id = new_key_id()
    while key_id in ring.keys:
        key_id = new_key_id()
    keys = {existing.key_id: _encode(existing.material) for existing in ring.keys.values()}
    keys[key_id] = _encode(secrets.token_bytes(KEY_BYTES))
    _write_private(path, {"primary": key_id, "keys": keys}, replace=True)
    return key_id


def remove_key(path: Path, key_id: str) -> None:
    """Remove a key that is not the primary one from the file (the caller checks no credential
    still uses it)."""
    ring = load_master_keys(path, strict_permissions=True)
    if key_id not in ring.keys:
        raise _problem(f"{path} holds no key {key_id!r}")
    if key_id == ring.primary_id:
        raise _problem(f"{key_id!r} is the primary key of {path}; add a new primary key first")
    keys = {kept.key_id: _encode(kept.material) for kept in ring.keys.values() if kept.key_id != key_id}
    _write_private(path, {"primary": ring.primary_id, "keys": keys}, replace=True)
