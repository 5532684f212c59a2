"""The user database: users, API tokens, encrypted Bybit credentials.

All queries are async (the API and its admin CLI). Repository functions never commit: the caller's
session scope does. Bybit secrets are stored only as ciphertext: ``Vault`` encrypts them under the
master keys (``load_master_keys``) and ``rotate_credentials`` moves them to a new primary key.

Names load on first use (PEP 562), so that a program needing one of them (the token scopes for a
command line's choices, the key file for ``api-admin master-key``) does not load the ORM models and
the database drivers with it.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db_user.credentials import (
        credential_key_ids,
        delete_bybit_credential,
        get_bybit_credential,
        list_bybit_credentials,
        save_bybit_credential,
    )
    from db_user.master_keys import (
        KEY_BYTES,
        MasterKey,
        MasterKeyRing,
        add_primary_key,
        generate_key_file,
        load_master_keys,
        remove_key,
    )
    from db_user.models import ApiToken, BybitCredential, User, UserBase
    from db_user.rotation import RotationReport, rotate_credentials
    from db_user.scopes import TokenScope
    from db_user.session import user_database
    from db_user.spec import USER_DB
    from db_user.tokens import add_api_token, find_active_token, list_api_tokens, revoke_api_token
    from db_user.users import EmailTakenError, create_user, disable_user, get_user, get_user_by_email
    from db_user.vault import CredentialContext, Sealed, Vault, VaultError

_HOMES: dict[str, str] = {
    "ApiToken": "models",
    "BybitCredential": "models",
    "CredentialContext": "vault",
    "EmailTakenError": "users",
    "KEY_BYTES": "master_keys",
    "MasterKey": "master_keys",
    "MasterKeyRing": "master_keys",
    "RotationReport": "rotation",
    "Sealed": "vault",
    "TokenScope": "scopes",
    "USER_DB": "spec",
    "User": "models",
    "UserBase": "models",
    "Vault": "vault",
    "VaultError": "vault",
    "add_api_token": "tokens",
    "add_primary_key": "master_keys",
    "create_user": "users",
    "credential_key_ids": "credentials",
    "delete_bybit_credential": "credentials",
    "disable_user": "users",
    "find_active_token": "tokens",
    "generate_key_file": "master_keys",
    "get_bybit_credential": "credentials",
    "get_user": "users",
    "get_user_by_email": "users",
    "list_api_tokens": "tokens",
    "list_bybit_credentials": "credentials",
    "load_master_keys": "master_keys",
    "remove_key": "master_keys",
    "revoke_api_token": "tokens",
    "rotate_credentials": "rotation",
    "save_bybit_credential": "credentials",
    "user_database": "session",
}


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "KEY_BYTES",
    "USER_DB",
    "ApiToken",
    "BybitCredential",
    "CredentialContext",
    "EmailTakenError",
    "MasterKey",
    "MasterKeyRing",
    "RotationReport",
    "Sealed",
    "TokenScope",
    "User",
    "UserBase",
    "Vault",
    "VaultError",
    "add_api_token",
    "add_primary_key",
    "create_user",
    "credential_key_ids",
    "delete_bybit_credential",
    "disable_user",
    "find_active_token",
    "generate_key_file",
    "get_bybit_credential",
    "get_user",
    "get_user_by_email",
    "list_api_tokens",
    "list_bybit_credentials",
    "load_master_keys",
    "remove_key",
    "revoke_api_token",
    "rotate_credentials",
    "save_bybit_credential",
    "user_database",
]
