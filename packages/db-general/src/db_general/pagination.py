"""Opaque keyset cursors: the last (category, symbol) of a page, base64url-encoded JSON."""

import base64
import binascii
import json


class InvalidCursorError(ValueError):
    """A cursor that this module did not produce."""


def encode_cursor(*key: str) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")
    )


def _storable(value: object) -> bool:
    """A string PostgreSQL can take as text: no NUL, no lone surrogate (which UTF-8 cannot encode)."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def decode_cursor(cursor: str, parts: int) -> tuple[str, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidCursorError("invalid cursor") from None
    if not isinstance(key, list) or len(key) != parts or not all(_storable(k) for k in key):
        raise InvalidCursorError("invalid cursor")
    return tuple(key)
