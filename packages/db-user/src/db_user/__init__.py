"""The user database: users, API tokens, encrypted Bybit credentials.

All queries are async (the API and its admin CLI). Repository functions never commit: the caller's
session scope does. Bybit secrets are stored only as ciphertext: ``Vault`` encrypts them under the
master keys (``load_master_keys``) and ``rotate_credentials`` moves them to a new primary key.

Names load on first use (PEP 562), so that a program needing one of them (the token scopes for a
command line's choices, the key file for ``api-admin master-key``) does not load the ORM models and
the database drivers with it.
"""

import lazy_loader

# The names and their modules are declared once, in __init__.pyi.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
