"""API tokens: made here, shown once, stored only as a SHA-256 hash.

A token reads ``bbt_`` + 40 random base62 characters (238 bits) + a 6-character base62 CRC32 of
them. The prefix lets secret scanners spot a leaked token and the checksum lets them (and this API)
tell a real token from a look-alike without a database lookup. Tokens issued before the checksum
(``bbt_`` + 43 URL-safe base64 characters) are still accepted.

Tokens are random enough that a plain hash is enough: nothing to brute-force, and lookups stay a
single indexed equality.
"""

import hashlib
import re
import secrets
import string
import zlib

TOKEN_PREFIX = "bbt_"  # noqa: S105 - a visible prefix, not a secret: it lets scanners spot leaked tokens
_ALPHABET = string.digits + string.ascii_letters
_RANDOM_CHARS = 40
_CHECKSUM_CHARS = 6
_LEGACY_SHAPE = re.compile(r"bbt_[A-Za-z0-9_-]{43}")
_SHAPE = re.compile(rf"bbt_[0-9A-Za-z]{{{_RANDOM_CHARS + _CHECKSUM_CHARS}}}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), _CHECKSUM_CHARS)


def new_token() -> str:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    return TOKEN_PREFIX + random_part + _checksum(random_part)


def is_well_formed(token: str) -> bool:
    """True for a token this API could have issued (its checksum holds), or one of the older shape."""
    if _SHAPE.fullmatch(token):
        random_part = token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _RANDOM_CHARS]
        return token.endswith(_checksum(random_part))
    return _LEGACY_SHAPE.fullmatch(token) is not None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
