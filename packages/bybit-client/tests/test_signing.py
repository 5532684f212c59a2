"""Signing known answers and the byte-for-byte query/body encoding."""

from decimal import Decimal

import pytest

from bybit_client import build_query, sign, string_to_sign
from bybit_client.signing import PreEncoded, auth_headers, build_body

# From Bybit's V5 guide (docs/v5/guide.mdx); the secret XXXXXXXXXX is ours, not Bybit's.
GET_QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
GET_TEXT = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
GET_SIGN = "c00720f96c5934ca7057ac28ae65b823f83b8b67a8fe784e7795ca0fa3c148ec"
POST_TEXT = '1658385579423XXXXXXXXXX5000{"category": "option"}'
POST_SIGN = "fbb4648b585b3e62de2c4eaecc8f3b6066aa18e98cc300eaff4d87f15b55724a"


def test_get_known_answer() -> None:
    query = build_query({"category": "option", "symbol": "BTC-29JUL22-25000-C"})
    assert query == GET_QUERY
    assert string_to_sign(1658384314791, "XXXXXXXXXX", 5000, query) == GET_TEXT
    assert sign("XXXXXXXXXX", GET_TEXT) == GET_SIGN


def test_post_known_answer() -> None:
    assert string_to_sign(1658385579423, "XXXXXXXXXX", 5000, '{"category": "option"}') == POST_TEXT
    assert sign("XXXXXXXXXX", POST_TEXT) == POST_SIGN


def test_auth_headers_carry_the_signature_of_the_payload() -> None:
    headers = auth_headers("XXXXXXXXXX", "XXXXXXXXXX", 1658384314791, 5000, GET_QUERY)
    assert headers["X-BAPI-SIGN"] == GET_SIGN
    assert headers["X-BAPI-TIMESTAMP"] == "1658384314791"
    assert headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert headers["X-BAPI-API-KEY"] == "XXXXXXXXXX"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a/b", "a%2Fb"),
        ("USDT,BTC", "USDT,BTC"),
        ("é", "%C3%A9"),
        ("100%", "100%25"),
    ],
)
def test_query_values_are_percent_encoded_once(value: str, wire: str) -> None:
    assert build_query({"v": value}) == f"v={wire}"


def test_query_keeps_order_skips_none_and_formats_values() -> None:
    query = build_query({"b": 1, "a": None, "c": Decimal("0.00001"), "d": True})
    assert query == "b=1&c=0.00001&d=true"


def test_pre_encoded_cursor_goes_back_unchanged() -> None:
    cursor = "116952%3A1%2C116952%3A1"
    assert build_query({"cursor": PreEncoded(cursor)}) == f"cursor={cursor}"


def test_body_is_compact_json_with_string_numbers() -> None:
    assert (
        build_body({"qty": Decimal("0.10"), "price": None, "symbol": "BTCUSDT"})
        == b'{"qty":"0.10","symbol":"BTCUSDT"}'
    )
