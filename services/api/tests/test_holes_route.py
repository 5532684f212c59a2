"""An operator sees the holes of a stored series over a range, before any sync fills them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from test_support.tokens import Tokens

from db_general import Kline

START = datetime(2026, 11, 2, tzinfo=UTC)
ONE = Decimal(1)


def _kline(minute: int) -> Kline:
    return Kline(
        category="linear",
        symbol="HOLEUSDT",
        interval="1",
        start_time=START + timedelta(minutes=minute),
        open=ONE,
        high=ONE,
        low=ONE,
        close=ONE,
        volume=ONE,
        turnover=ONE,
    )


def _at(minute: int) -> str:
    return (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


QUERY = {"category": "linear", "symbol": "HOLEUSDT", "interval": "1", "start": _at(0), "end": _at(59)}
HOLES = "/v1/market/klines/holes"


async def test_an_operator_sees_the_missing_candles_of_a_series(
    rolled_back_client: httpx.AsyncClient, general_session: AsyncSession, tokens: Tokens
) -> None:
    # An hour stored, but for minutes 10 to 14 and the last one (rows deleted, or never fetched).
    general_session.add_all(_kline(minute) for minute in range(60) if not 10 <= minute <= 14 and minute != 59)
    await general_session.flush()
    response = await rolled_back_client.get(
        "/v1/market/klines/holes", params=QUERY, headers=tokens.operator_auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["candles"], body["missing"]) == (60, 6)
    assert body["holes"] == [
        {"first_start": _at(10), "last_start": _at(14), "candles": 5},
        {"first_start": _at(59), "last_start": _at(59), "candles": 1},
    ]
    assert (body["exchange_gaps"], body["repairs"]) == ([], [])


async def test_holes_are_for_operators_and_a_bounded_range(
    rolled_back_client: httpx.AsyncClient, tokens: Tokens
) -> None:
    user = await rolled_back_client.get(HOLES, params=QUERY, headers=tokens.user_auth)
    assert user.status_code == 403
    assert "operator" in user.json()["error"]["message"]
    too_long = {**QUERY, "start": "2020-01-01T00:00:00Z"}
    refused = await rolled_back_client.get(HOLES, params=too_long, headers=tokens.operator_auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "range_too_large"
    backwards = {**QUERY, "start": _at(59), "end": _at(0)}
    assert (
        await rolled_back_client.get(
            "/v1/market/klines/holes", params=backwards, headers=tokens.operator_auth
        )
    ).status_code == 422
