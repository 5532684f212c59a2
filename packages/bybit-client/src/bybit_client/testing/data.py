"""Deterministic market data for the fake server: a realistic instrument set and candles on demand."""

import functools
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson

from bybit_client.enums import Category
from bybit_client.times import datetime_to_ms, ms_to_datetime

MAJORS = [
    "BTC",
    "ETH",
    "SOL",
    "XRP",
    "DOGE",
    "ADA",
    "AVAX",
    "LINK",
    "DOT",
    "LTC",
    "TRX",
    "TON",
    "BNB",
    "NEAR",
]
LAUNCH_MS = 1_577_836_800_000  # 2020-01-01: candles exist from here on
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONDAY_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; weekly candles open on Mondays


def _coins(count: int) -> list[str]:
    synthetic = [f"TKN{index:03d}" for index in range(count)]
    return (MAJORS + synthetic)[:count]


def _hash(text: str) -> int:
    return zlib.crc32(text.encode())


def _derivative(
    symbol: str, base: str, quote: str, contract_type: str, status: str = "Trading"
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "contractType": contract_type,
        "status": status,
        "baseCoin": base,
        "quoteCoin": quote,
        "settleCoin": base if contract_type.startswith("Inverse") else quote,
        "launchTime": str(LAUNCH_MS + (_hash(symbol) % 1000) * DAY_MS),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "4",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "25.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.0001", "maxPrice": "19999.9998", "tickSize": "0.0001"},
        "lotSizeFilter": {
            "maxOrderQty": "1000000",
            "minOrderQty": "0.1",
            "qtyStep": "0.1",
            "postOnlyMaxOrderQty": "1000000",
            "maxMktOrderQty": "200000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "copyTrading": "both",
    }


def default_instruments() -> dict[str, list[dict[str, Any]]]:
    """Spot 620, linear 640 (more than one 500-row page), inverse 40 and option 560 instruments."""
    linear = [_derivative(f"{coin}USDT", coin, "USDT", "LinearPerpetual") for coin in _coins(600)]
    linear += [_derivative(f"{coin}PERP", coin, "USDC", "LinearPerpetual") for coin in _coins(30)]
    linear += [_derivative(f"{coin}-27MAR26", coin, "USDC", "LinearFutures") for coin in MAJORS[:10]]
    linear[20]["status"] = "PreLaunch"
    linear[21]["status"] = "Closed"
    inverse = [_derivative(f"{coin}USD", coin, "USD", "InversePerpetual") for coin in _coins(30)]
    inverse += [_derivative(f"{coin}USDH26", coin, "USD", "InverseFutures") for coin in MAJORS[:10]]
    spot = [
        {
            "symbol": f"{coin}{quote}",
            "baseCoin": coin,
            "quoteCoin": quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "both",
            "lotSizeFilter": {
                "basePrecision": "0.000001",
                "quotePrecision": "0.00000001",
                "minOrderQty": "0.000048",
                "maxOrderQty": "71.73956243",
                "minOrderAmt": "1",
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": "0.01"},
        }
        for quote in ("USDT", "USDC")
        for coin in _coins(310)
    ]
    option = [
        {
            "symbol": f"{coin}-{expiry}-{strike}-{kind[0]}",
            "optionsType": kind,
            "status": "Trading",
            "baseCoin": coin,
            "quoteCoin": "USD",
            "settleCoin": "USDC",
            "launchTime": str(LAUNCH_MS),
            "deliveryTime": str(delivery),
            "deliveryFeeRate": "0.00015",
            "priceFilter": {"minPrice": "5", "maxPrice": "10000000", "tickSize": "5"},
            "lotSizeFilter": {"maxOrderQty": "500", "minOrderQty": "0.01", "qtyStep": "0.01"},
        }
        for coin in ("BTC", "ETH")
        for expiry, delivery in (("27MAR26", 1774598400000), ("26JUN26", 1782460800000))
        for strike in range(10_000, 10_000 + 70 * 500, 500)
        for kind in ("Call", "Put")
    ]
    return {Category.SPOT: spot, Category.LINEAR: linear, Category.INVERSE: inverse, Category.OPTION: option}


def _month_start(ms: int) -> int:
    moment = ms_to_datetime(ms)
    return datetime_to_ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def _previous_month(start_ms: int) -> int:
    moment = ms_to_datetime(start_ms)
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return datetime_to_ms(datetime(year, month, 1, tzinfo=UTC))


def candle_starts(interval: str, start: int | None, end: int, limit: int) -> list[int]:
    """Opening times of the newest ``limit`` candles starting in [start, end], newest first."""
    lowest = max(start or LAUNCH_MS, LAUNCH_MS)
    starts: list[int] = []
    if interval == "M":
        current = _month_start(end)
        while current >= lowest and len(starts) < limit:
            starts.append(current)
            current = _previous_month(current)
        return starts
    if interval == "W":
        step, offset = WEEK_MS, MONDAY_OFFSET_MS
    elif interval == "D":
        step, offset = DAY_MS, 0
    else:
        step, offset = int(interval) * 60_000, 0
    newest = (end - offset) // step * step + offset
    return list(range(newest, lowest - 1, -step)[:limit])


def _price(units: int) -> str:
    return f"{units // 10_000}.{units % 10_000:04d}"


@functools.lru_cache(maxsize=100_000)
def candle(symbol: str, interval: str, start: int) -> list[str]:
    """One deterministic ``[startTime, open, high, low, close, volume, turnover]`` row."""
    seed = _hash(f"{symbol}|{interval}|{start}")
    base = 100_000 + _hash(symbol) % 5_000_000
    open_ = base + (seed % 2001 - 1000) * 10
    close = base + ((seed >> 11) % 2001 - 1000) * 10
    high = max(open_, close) + (seed >> 3) % 500
    low = min(open_, close) - (seed >> 7) % 500
    volume = 1_000 + (seed >> 13) % 100_000
    turnover = volume * close // 10_000
    return [str(start), _price(open_), _price(high), _price(low), _price(close), str(volume), str(turnover)]


@functools.lru_cache(maxsize=64)  # a page of 1000 rows is about 75 kB
def candle_page(symbol: str, interval: str, oldest: int, newest: int, count: int) -> orjson.Fragment:
    """The JSON of the ``count`` rows from ``newest`` back to ``oldest``, serialised once: a benchmark
    fetching the same page again and again measures the client, not the fake server."""
    rows = [candle(symbol, interval, moment) for moment in candle_starts(interval, oldest, newest, count)]
    return orjson.Fragment(orjson.dumps(rows))


def ticker(symbol: str) -> dict[str, str]:
    """A deterministic ticker of ``symbol``."""
    base = 100_000 + _hash(symbol) % 5_000_000
    return {
        "symbol": symbol,
        "lastPrice": _price(base),
        "bid1Price": _price(base - 1),
        "ask1Price": _price(base + 1),
        "volume24h": str(1_000 + _hash(symbol) % 900_000),
        "turnover24h": str(base * 7),
        "price24hPcnt": "0.0123",
        "markPrice": _price(base),
        "indexPrice": _price(base),
        "fundingRate": "0.0001",
        "nextFundingTime": "1767225600000",
        "openInterest": "12345.6",
    }
