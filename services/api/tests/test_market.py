"""Market endpoints read the general database: filters, keyset pages, exact decimals, UTC times."""

import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from api_service import routers
from api_service.schemas import Instrument as InstrumentOut
from api_service.schemas import InstrumentPage, KlineList, Live
from core_config import Settings
from db_general.models import Instrument, Kline

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ClientFor = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


def instrument(category: str, symbol: str, *, status: str = "Trading", base: str = "BTC") -> Instrument:
    return Instrument(
        category=category,
        symbol=symbol,
        status=status,
        base_coin=base,
        quote_coin="USDT",
        tick_size=Decimal("0.10"),
        qty_step=Decimal("0.001"),
        min_order_qty=Decimal("0.001"),
        max_order_qty=Decimal("1190.000"),
        min_notional=Decimal("5"),
        launch_time=NOW - timedelta(days=400),
        raw={"symbol": symbol},
        first_seen_at=NOW,
        updated_at=NOW,
        delisted_at=None,
    )


@pytest.fixture
async def market(general_session: AsyncSession) -> None:
    general_session.add_all(
        [instrument("linear", f"C{i:03d}USDT", base=f"C{i:03d}") for i in range(25)]
        + [
            instrument("linear", "BTCUSDT"),
            instrument("linear", "OLDUSDT", status="Closed", base="OLD"),
            instrument("spot", "BTCUSDT"),
        ]
    )
    general_session.add_all(
        Kline(
            category="linear",
            symbol="BTCUSDT",
            interval="60",
            start_time=NOW + timedelta(hours=h),
            open=Decimal("65000.10") + h,
            high=Decimal("65100.5"),
            low=Decimal("64900.25"),
            close=Decimal("65050.123456789"),
            volume=Decimal("12.345"),
            turnover=Decimal("802345.6789"),
        )
        for h in range(10)
    )
    await general_session.flush()


@pytest.mark.usefixtures("market")
async def test_instruments_keyset_pages_cover_everything_once(rolled_back_client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"category": "linear", "limit": 10} | ({"cursor": cursor} if cursor else {})
        response = await rolled_back_client.get("/v1/market/instruments", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["symbol"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 27
    assert seen == sorted(seen)
    assert len(set(seen)) == 27


@pytest.mark.usefixtures("market")
async def test_instrument_filters_and_exact_decimals(rolled_back_client: httpx.AsyncClient) -> None:
    response = await rolled_back_client.get(
        "/v1/market/instruments", params={"status": "Closed", "category": "linear"}
    )
    assert [i["symbol"] for i in response.json()["items"]] == ["OLDUSDT"]
    by_coin = await rolled_back_client.get("/v1/market/instruments", params={"base_coin": "BTC"})
    items = by_coin.json()["items"]
    assert [(i["category"], i["symbol"]) for i in items] == [("linear", "BTCUSDT"), ("spot", "BTCUSDT")]
    assert items[0]["tick_size"] == "0.10"
    assert items[0]["max_order_qty"] == "1190.000"
    assert items[0]["first_seen_at"] == "2026-11-01T12:00:00Z"


@pytest.mark.usefixtures("market")
async def test_one_instrument_or_404(rolled_back_client: httpx.AsyncClient) -> None:
    found = await rolled_back_client.get("/v1/market/instruments/spot/BTCUSDT")
    assert found.status_code == 200
    assert found.json()["category"] == "spot"
    missing = await rolled_back_client.get("/v1/market/instruments/spot/NOPEUSDT")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "instrument_not_found"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 0}, 422),
        ({"limit": 501}, 422),
        ({"category": "futures"}, 422),
        ({"cursor": "not-a-cursor"}, 400),
    ],
)
async def test_bad_instrument_queries_are_4xx(
    rolled_back_client: httpx.AsyncClient, params: dict[str, Any], status: int
) -> None:
    response = await rolled_back_client.get("/v1/market/instruments", params=params)
    assert response.status_code == status
    assert response.json()["error"]["status"] == status


@pytest.mark.usefixtures("market")
async def test_klines_oldest_first_within_range(rolled_back_client: httpx.AsyncClient) -> None:
    params: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": (NOW + timedelta(hours=2)).isoformat(),
        "end": (NOW + timedelta(hours=6)).isoformat(),
    }
    response = await rolled_back_client.get("/v1/market/klines", params=params)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["start_time"] for item in items] == [
        f"2026-11-01T{hour}:00:00Z" for hour in ("14", "15", "16", "17", "18")
    ]
    assert items[0]["open"] == "65002.10"
    assert items[0]["close"] == "65050.123456789"
    limited = await rolled_back_client.get("/v1/market/klines", params={**params, "limit": 2})
    assert len(limited.json()["items"]) == 2
    # Without a start: the newest candles up to the end, still oldest first.
    up_to_end = {key: value for key, value in params.items() if key != "start"} | {"limit": 2}
    newest = (await rolled_back_client.get("/v1/market/klines", params=up_to_end)).json()["items"]
    assert [item["start_time"] for item in newest] == ["2026-11-01T17:00:00Z", "2026-11-01T18:00:00Z"]


async def test_bad_kline_queries_are_422(rolled_back_client: httpx.AsyncClient) -> None:
    base: dict[str, Any] = {"category": "linear", "symbol": "BTCUSDT", "interval": "60"}
    cases: tuple[dict[str, Any], ...] = (
        {**base, "interval": "7"},
        {**base, "limit": 1001},
        {**base, "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {**base, "start": "yesterday"},
        {"category": "linear", "symbol": "BTCUSDT"},
    )
    for params in cases:
        response = await rolled_back_client.get("/v1/market/klines", params=params)
        assert response.status_code == 422, params


async def test_tiny_decimals_stay_plain_and_times_leave_in_utc(
    general_session: AsyncSession, rolled_back_client: httpx.AsyncClient
) -> None:
    tiny = instrument("spot", "SHIBUSDT", base="SHIB")
    tiny.tick_size = Decimal("0.00000001")  # str() of this Decimal is "1E-8"
    tiny.min_notional = Decimal("1E+3")
    tiny.first_seen_at = datetime(2026, 11, 1, 14, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    general_session.add(tiny)
    await general_session.flush()
    response = await rolled_back_client.get("/v1/market/instruments", params={"base_coin": "SHIB"})
    (item,) = response.json()["items"]
    assert (item["tick_size"], item["min_notional"]) == ("0.00000001", "1000")
    assert item["first_seen_at"] == "2026-11-01T12:30:00.250000Z"
    assert item["launch_time"] == "2025-09-27T12:00:00Z"


def routes_answering_without_their_model(app: FastAPI) -> set[str]:
    """Routes that declare a response model yet return a ``Response`` they wrote themselves."""
    modules = (routers.meta, routers.market, routers.tasks, routers.credentials)
    included = (route for module in modules for route in module.router.routes)
    return {
        route.path
        for route in (*app.routes, *included)
        if isinstance(route, APIRoute)
        and route.response_model is not None
        and inspect.signature(route.endpoint).return_annotation is Response
    }


@pytest.mark.usefixtures("market")
async def test_bodies_are_exactly_what_their_documented_models_write(
    app: FastAPI, rolled_back_client: httpx.AsyncClient
) -> None:
    # These routes write their bodies themselves (rows straight to JSON); each body must still be
    # exactly what its declared model would write, and every such route is checked here.
    klines = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": NOW.isoformat(),
        "end": (NOW + timedelta(hours=6)).isoformat(),
    }
    cases: list[tuple[str, str, dict[str, Any], type[BaseModel]]] = [
        ("/health/live", "/health/live", {}, Live),
        ("/v1/market/instruments", "/v1/market/instruments", {"limit": 5}, InstrumentPage),
        (
            "/v1/market/instruments/{category}/{symbol}",
            "/v1/market/instruments/spot/BTCUSDT",
            {},
            InstrumentOut,
        ),
        ("/v1/market/klines", "/v1/market/klines", klines, KlineList),
    ]
    assert {route for route, *_ in cases} == routes_answering_without_their_model(app)
    for _, path, params, model in cases:
        response = await rolled_back_client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body, path
        assert model.model_validate(body).model_dump(mode="json") == body, path


@pytest.mark.timeout(30)  # a hang, not a slow answer, is what this guards against
async def test_a_dead_general_database_is_a_503_in_the_error_shape(
    api_settings: Settings, client_for: ClientFor, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    dead = SecretStr(f"postgresql+psycopg://postgres:secret-password@127.0.0.1:{closed_port}/gone")
    settings = api_settings.model_copy(update={"database_url_general": dead, "db_pool_timeout": 0.5})
    async with client_for(settings) as client:
        for path in ("/v1/market/instruments", "/v1/market/instruments/spot/BTCUSDT"):
            response = await client.get(path, headers={"X-Request-ID": "dead-db-1"})
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert (error["code"], error["request_id"]) == ("database_unavailable", "dead-db-1")
            assert str(closed_port) not in response.text  # where it lives is for the log
    logged = [r for r in caplog.records if r.name == "api_service.errors"]
    assert len(logged) == 2
    assert all("DATABASE_URL_GENERAL" in r.getMessage() for r in logged)
    assert "secret-password" not in caplog.text
