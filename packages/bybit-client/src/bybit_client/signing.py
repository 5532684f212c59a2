"""V5 HMAC-SHA256 signing and the query/body encoding that is signed byte for byte as sent."""

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from urllib.parse import quote

import orjson

from bybit_client.times import datetime_to_ms

SIGN_TYPE_HMAC = "2"


class PreEncoded(str):
    """A query value that is already percent-encoded (a cursor from Bybit): sent back unchanged."""

    __slots__ = ()


def wire_value(value: object) -> str:
    """The text of one parameter value as Bybit expects it (before percent-encoding)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return str(datetime_to_ms(value))
    return str(value)


def build_query(params: Mapping[str, object]) -> str:
    """The exact query string to sign and to send: insertion order, None skipped, RFC 3986 encoded.

    Commas stay literal (Bybit's comma lists read ``coin=USDT,BTC``); everything outside the
    unreserved set is percent-encoded, so the server decodes the very text that was signed.
    """
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, PreEncoded):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={quote(wire_value(value), safe=',')}")
    return "&".join(parts)


def build_body(params: Mapping[str, object]) -> bytes:
    """The compact JSON body to sign and to send (None skipped, every value as Bybit's strings)."""
    clean = {key: _json_value(value) for key, value in params.items() if value is not None}
    return orjson.dumps(clean)


def _json_value(value: object) -> object:
    if isinstance(value, bool | int | float | str) and not isinstance(value, Enum):
        return value
    if isinstance(value, list | tuple):  # a batch's orders
        return [_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json_value(item) for key, item in value.items() if item is not None}
    return wire_value(value)


def string_to_sign(timestamp_ms: int, api_key: str, recv_window: int, payload: str) -> str:
    """``timestamp + api_key + recv_window + payload`` where payload is the query string or JSON body."""
    return f"{timestamp_ms}{api_key}{recv_window}{payload}"


def sign(secret: str, text: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``text`` keyed by ``secret``."""
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def auth_headers(
    api_key: str, secret: str, timestamp_ms: int, recv_window: int, payload: str
) -> dict[str, str]:
    """The ``X-BAPI-*`` headers of a signed request."""
    signature = sign(secret, string_to_sign(timestamp_ms, api_key, recv_window, payload))
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window),
        "X-BAPI-SIGN": signature,
        "X-BAPI-SIGN-TYPE": SIGN_TYPE_HMAC,
    }
