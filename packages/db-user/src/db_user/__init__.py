"""The user database: users, API tokens, encrypted Bybit credentials.

All queries are async (the API and its admin CLI). Repository functions never commit: the caller's
session scope does. Bybit secrets are stored only as ciphertext: ``Vault`` encrypts them under the
master keys (``load_master_keys``) and ``rotate_credentials`` moves them to a new primary key.
"""

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
from db_user.models import ApiToken, BybitCredential, TokenScope, User, UserBase
from db_user.rotation import RotationReport, rotate_credentials
from db_user.session import user_database
from db_user.spec import USER_DB
from db_user.tokens import add_api_token, find_active_token, list_api_tokens, revoke_api_token
from db_user.users import EmailTakenError, create_user, disable_user, get_user, get_user_by_email
from db_user.vault import CredentialContext, Sealed, Vault, VaultError

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
