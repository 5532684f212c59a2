"""Bybit's terms and times: one module each, cheap to import, exact conversions."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

import bybit_client
from bybit_client import KLINE_CATEGORIES, Category, Interval, Network, datetime_to_ms, ms_to_datetime
from bybit_client.times import ms_texts_to_datetimes


def test_the_terms_load_without_the_http_transports() -> None:
    probe = (
        "import sys, bybit_client.enums, bybit_client.times, bybit_client;"
        "print(sorted(m for m in ('aiohttp', 'pycurl', 'pydantic') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in bybit_client.__all__:
        assert getattr(bybit_client, name) is not None, name
    assert set(dir(bybit_client)) >= set(bybit_client.__all__)
    with pytest.raises(AttributeError, match="Nope"):
        _ = bybit_client.Nope  # type: ignore[attr-defined]


@pytest.mark.parametrize("network", [network for network in Network if network.is_bybit])
def test_every_network_of_bybit_has_its_hosts(network: Network) -> None:
    assert network.rest_url.startswith("https://api")
    assert network.public_stream_url(Category.LINEAR).endswith("/v5/public/linear")
    assert network.public_stream_url(Category.SPOT).startswith("wss://stream")
    assert network.private_stream_url.startswith("wss://stream")
    assert network.private_stream_url.endswith("/v5/private")


def test_the_simulated_exchange_is_on_this_machine() -> None:
    assert Network.SIMULATED.rest_url == "http://127.0.0.1:8810"
    assert Network.SIMULATED.public_stream_url(Category.LINEAR) == "ws://127.0.0.1:8811/v5/public/linear"
    assert Network.SIMULATED.private_stream_url == "ws://127.0.0.1:8811/v5/private"


def test_demo_trading_streams() -> None:
    # Demo trading serves its own private stream; its market data is mainnet's.
    assert Network.DEMO.private_stream_url == "wss://stream-demo.bybit.com/v5/private"
    assert Network.DEMO.public_stream_url(Category.SPOT) == Network.MAINNET.public_stream_url(Category.SPOT)


def test_klines_exist_for_every_category_but_options() -> None:
    assert set(KLINE_CATEGORIES) == set(Category) - {Category.OPTION}
    assert all(type(category) is Category for category in KLINE_CATEGORIES)


def test_a_category_shows_as_its_wire_value() -> None:
    assert repr(Category.LINEAR) == "'linear'"
    assert f"{Category.INVERSE}" == "inverse"


@pytest.mark.parametrize(
    ("interval", "milliseconds"),
    [
        (Interval.MIN_1, 60_000),
        (Interval.HOUR_12, 43_200_000),
        (Interval.WEEK, 604_800_000),
        (Interval.MONTH, None),
    ],
)
def test_interval_lengths(interval: Interval, milliseconds: int | None) -> None:
    assert interval.milliseconds == milliseconds


@pytest.mark.parametrize("ms", [0, 1, 999, 1_700_000_000_123, 253_402_300_799_999, -1, -86_400_001])
def test_milliseconds_round_trip_exactly(ms: int) -> None:
    moment = ms_to_datetime(ms)
    assert moment.tzinfo is UTC
    assert datetime_to_ms(moment) == ms
    assert ms_to_datetime(str(ms)) == moment


def test_datetimes_to_milliseconds() -> None:
    assert datetime_to_ms(datetime(2024, 1, 1, tzinfo=UTC)) == 1_704_067_200_000
    # Another offset is the same instant; sub-millisecond parts are floored, never rounded up.
    assert datetime_to_ms(datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == 1_704_067_200_000
    assert datetime_to_ms(datetime(2024, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC)) == 1_704_067_200_999
    with pytest.raises(TypeError):
        datetime_to_ms(datetime(2024, 1, 1))  # naive: which clock it means is unknown


@pytest.mark.parametrize(
    "texts",
    [
        ["1700000040000", "1700000100000", "-60000"],  # whole seconds
        ["1700000040000", "1700000040123", "0"],  # one that is not
        [],
    ],
)
def test_a_column_converts_as_each_value_does(texts: list[str]) -> None:
    assert ms_texts_to_datetimes(texts) == [ms_to_datetime(text) for text in texts]
    assert all(moment.tzinfo is UTC for moment in ms_texts_to_datetimes(texts))
