"""The vault: AES-256-GCM bound to its row, keys picked by id, fresh nonces, clear failures."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from db_user import CredentialContext, Vault, VaultError, add_primary_key, generate_key_file, load_master_keys

SECRET = SecretStr("bybit-secret-canary-0001")
ROW = CredentialContext(user_id=7, network="testnet", api_key="KEY-A")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    generate_key_file(path)
    return path


def test_round_trip_and_fresh_nonce(key_file: Path) -> None:
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    first, second = vault.encrypt(SECRET, ROW), vault.encrypt(SECRET, ROW)
    assert first.ciphertext != second.ciphertext  # a fresh nonce every time
    assert first.ciphertext[:12] != second.ciphertext[:12]
    assert SECRET.get_secret_value().encode() not in first.ciphertext
    assert vault.decrypt(first.ciphertext, first.key_id, ROW).get_secret_value() == SECRET.get_secret_value()


@pytest.mark.parametrize(
    "other_row",
    [
        CredentialContext(user_id=8, network="testnet", api_key="KEY-A"),
        CredentialContext(user_id=7, network="mainnet", api_key="KEY-A"),
        CredentialContext(user_id=7, network="testnet", api_key="KEY-B"),
    ],
)
def test_ciphertext_copied_to_another_row_does_not_decrypt(
    key_file: Path, other_row: CredentialContext
) -> None:
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    sealed = vault.encrypt(SECRET, ROW)
    with pytest.raises(VaultError, match="does not belong") as caught:
        vault.decrypt(sealed.ciphertext, sealed.key_id, other_row)
    assert SECRET.get_secret_value() not in str(caught.value)


def test_tampered_ciphertext_is_refused(key_file: Path) -> None:
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    sealed = vault.encrypt(SECRET, ROW)
    tampered = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1])
    with pytest.raises(VaultError):
        vault.decrypt(tampered, sealed.key_id, ROW)


def test_rotation_keeps_old_keys_decrypting(key_file: Path) -> None:
    old_vault = Vault(load_master_keys(key_file, strict_permissions=True))
    old = old_vault.encrypt(SECRET, ROW)
    new_id = add_primary_key(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    assert vault.primary_key_id == new_id != old.key_id
    assert vault.decrypt(old.ciphertext, old.key_id, ROW) == SECRET
    resealed = vault.reseal(old.ciphertext, old.key_id, ROW)
    assert resealed.key_id == new_id
    assert vault.decrypt(resealed.ciphertext, resealed.key_id, ROW) == SECRET


def test_unknown_key_id_says_so(key_file: Path) -> None:
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    sealed = vault.encrypt(SECRET, ROW)
    with pytest.raises(VaultError, match="'gone' is not in the key file"):
        vault.decrypt(sealed.ciphertext, "gone", ROW)


def test_reprs_hold_no_key_material(key_file: Path) -> None:
    ring = load_master_keys(key_file, strict_permissions=True)
    material = ring.primary.material
    for text in (repr(ring), repr(ring.primary), repr(Vault(ring))):
        assert str(material) not in text
        assert material.hex() not in text
    assert ring.primary_id in repr(ring)


def test_truncated_ciphertext_is_a_vault_error(key_file: Path) -> None:
    vault = Vault(load_master_keys(key_file, strict_permissions=True))
    sealed = vault.encrypt(SECRET, ROW)
    with pytest.raises(VaultError):
        vault.decrypt(sealed.ciphertext[:5], sealed.key_id, ROW)
