"""The user database: users, API tokens, encrypted Bybit credentials.

All queries are async (the API and its admin CLI). Repository functions never commit: the caller's
session scope does. Encryption is not done here: credentials arrive as ciphertext plus key id.
"""

from db_user.credentials import (
    delete_bybit_credential,
    get_bybit_credential,
    list_bybit_credentials,
    save_bybit_credential,
)
from db_user.models import NETWORKS, ApiToken, BybitCredential, User, UserBase
from db_user.session import user_database
from db_user.spec import USER_DB
from db_user.tokens import add_api_token, find_active_token, list_api_tokens, revoke_api_token
from db_user.users import EmailTakenError, create_user, get_user, get_user_by_email

__all__ = [
    "NETWORKS",
    "USER_DB",
    "ApiToken",
    "BybitCredential",
    "EmailTakenError",
    "User",
    "UserBase",
    "add_api_token",
    "create_user",
    "delete_bybit_credential",
    "find_active_token",
    "get_bybit_credential",
    "get_user",
    "get_user_by_email",
    "list_api_tokens",
    "list_bybit_credentials",
    "revoke_api_token",
    "save_bybit_credential",
    "user_database",
]
