"""The public names of this package, read by type checkers and by lazy_loader (loaded on first use)."""

from .credentials import (
    credential_key_ids,
    delete_bybit_credential,
    get_bybit_credential,
    list_bybit_credentials,
    save_bybit_credential,
)
from .master_keys import (
    MasterKey,
    MasterKeyRing,
    add_primary_key,
    generate_key_file,
    load_master_keys,
    remove_key,
)
from .models import (
    ApiToken,
    BybitCredential,
    User,
    UserBase,
)
from .rotation import (
    RotationReport,
    rotate_credentials,
)
from .scopes import (
    TokenScope,
)
from .spec import (
    USER_DB,
)
from .tokens import (
    add_api_token,
    find_active_token,
    list_api_tokens,
    revoke_api_token,
    token_id_for,
)
from .users import (
    EmailTakenError,
    create_user,
    disable_user,
    get_user,
    get_user_by_email,
)
from .vault import (
    CredentialContext,
    Sealed,
    Vault,
    VaultError,
)

__all__ = [
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
    "token_id_for",
]
