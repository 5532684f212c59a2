"""API tokens: made here, shown once, stored only as a SHA-256 hash.

Tokens are 256 random bits, so a plain hash is enough: nothing to brute-force, and lookups stay a
single indexed equality.
"""

import hashlib
import secrets

TOKEN_PREFIX = "bbt_"  # noqa: S105 - a visible prefix, not a secret: it lets scanners spot leaked tokens


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
