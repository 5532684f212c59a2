"""The sync client against the fake V5 server: data, pagination, errors, retries, clock, secrets."""

import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bybit_client import (
    BybitAuthError,
    BybitBudgetError,
    BybitClient,
    BybitError,
    BybitInvalidRequestError,
    BybitRateLimitError,
    BybitTimeWindowError,
    BybitTransientError,
    Category,
    Interval,
)
from bybit_client.budget import RESET_MARGIN_SECONDS
from bybit_client.testing import FakeBybit, Fault
from bybit_client.testing import fast_retry_policy as fast_retry

API_KEY = "testkey00001"  # the key the `bybit` fixture registers
API_SECRET = "testsecret-do-not-leak-9f3a"

INSTRUMENTS = "/v5/market/instruments-info"
QUERY_API = "/v5/user/query-api"
CREATE = "/v5/order/create"


@pytest.mark.parametrize(
    ("category", "size"), [("spot", 620), ("linear", 640), ("inverse", 40), ("option", 560)]
)
def test_iter_instruments_follows_every_page(
    client: BybitClient, bybit: FakeBybit, category: str, size: int
) -> None:
    instruments = list(client.iter_instruments(category, limit=150))
    assert len(instruments) == size
    assert len({instrument.symbol for instrument in instruments}) == size
    assert bybit.count(INSTRUMENTS) == -(-size // 150)
    assert all(instrument.category == Category(category) for instrument in instruments)


def test_default_page_size_paginates_linear(client: BybitClient, bybit: FakeBybit) -> None:
    assert len(list(client.iter_instruments("linear"))) == 640
    assert bybit.count(INSTRUMENTS) == 2


def test_cursor_is_sent_back_exactly_as_received(client: BybitClient, bybit: FakeBybit) -> None:
    page = client.instruments_page("linear", limit=100)
    assert "%3A" in page.next_page_cursor  # Bybit hands cursors out percent-encoded
    client.instruments_page("linear", limit=100, cursor=page.next_page_cursor)
    assert bybit.sent(INSTRUMENTS)[-1].query.endswith(f"cursor={page.next_page_cursor}")


def test_instruments_are_typed(client: BybitClient) -> None:
    linear = next(client.iter_instruments("linear", symbol="BTCUSDT"))
    assert linear.tick_size == Decimal("0.0001")
    assert linear.min_notional_value == Decimal(5)
    assert linear.launch_time is not None
    assert linear.launch_time.tzinfo is UTC
    assert linear.raw["lotSizeFilter"]["qtyStep"] == "0.1"
    spot = next(client.iter_instruments("spot", symbol="BTCUSDT"))
    assert spot.base_precision == Decimal("0.000001")
    assert spot.qty_step is None


def test_klines_come_oldest_first_and_typed(client: BybitClient) -> None:
    end = datetime(2025, 6, 1, tzinfo=UTC)
    klines = client.klines("linear", "BTCUSDT", Interval.HOUR_1, end=end, limit=50).items
    assert len(klines) == 50
    starts = [kline.start for kline in klines]
    assert starts == sorted(starts)
    assert starts[-1] == end
    assert starts[1] - starts[0] == timedelta(hours=1)
    assert all(
        isinstance(kline.close, Decimal) and kline.low <= kline.close <= kline.high for kline in klines
    )


def test_klines_range_pages_by_1000_oldest_first(client: BybitClient, bybit: FakeBybit) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(minutes=2499)
    candles = list(client.iter_klines_range("linear", "ETHUSDT", "1", start, end))
    assert len(candles) == 2500
    assert candles[0].start == start
    assert candles[-1].start == end
    assert all(b.start - a.start == timedelta(minutes=1) for a, b in itertools.pairwise(candles))
    assert bybit.count("/v5/market/kline") == 3
    assert all("limit=1000" in request.query for request in bybit.sent("/v5/market/kline"))


def test_tickers(client: BybitClient) -> None:
    (ticker,) = client.tickers("linear", "BTCUSDT")
    assert ticker.symbol == "BTCUSDT"
    assert ticker.bid1_price is not None
    assert ticker.bid1_price < ticker.last_price


def test_api_key_info_and_wallet_balance(client: BybitClient, bybit: FakeBybit) -> None:
    info = client.api_key_info()
    assert info.api_key == API_KEY
    assert not info.read_only
    assert info.can_trade
    balance = client.wallet_balance(["USDT"])
    assert [coin.coin for coin in balance.coins] == ["USDT"]
    assert balance.coins[0].wallet_balance == Decimal(10000)
    assert balance.total_equity == Decimal(40000)


def test_read_only_key(bybit: FakeBybit) -> None:
    bybit.add_key("readonly01", "ro-secret", read_only=True)
    with BybitClient(bybit.base_url, "readonly01", "ro-secret", retry=fast_retry()) as client:
        info = client.api_key_info()
        assert info.read_only
        assert not info.can_trade
        refused = client.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price="10")
    assert (refused.outcome, refused.ret_code) == ("rejected", 10005)


@pytest.mark.parametrize("coin", ["A B", "A+B", "A/B", "É,Ü", "x%41"])
def test_awkward_values_sign_correctly(client: BybitClient, coin: str) -> None:
    assert client.wallet_balance(coin).coins == []  # signature accepted: no coin by that name


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_class", "ret_code", "http_status"),
    [
        (Fault.HTTP_403, BybitRateLimitError, None, 403),
        (Fault.HTTP_429, BybitRateLimitError, None, 429),
        (Fault.HTTP_5XX, BybitTransientError, None, 502),
        (Fault.SERVER_TIMEOUT, BybitTransientError, 10000, 200),
        (Fault.MALFORMED_JSON, BybitTransientError, None, 200),
        (Fault.RATE_LIMIT_RESET_PAST, BybitRateLimitError, 10006, 200),
    ],
)
def test_every_fault_maps_to_its_error(
    bybit: FakeBybit, fault: Fault, error_class: type[BybitError], ret_code: int | None, http_status: int
) -> None:
    bybit.fail_next(10, fault)
    with (
        BybitClient(bybit.base_url, API_KEY, API_SECRET, retry=fast_retry(max_attempts=1)) as client,
        pytest.raises(error_class) as caught,
    ):
        client.api_key_info()
    assert caught.value.ret_code == ret_code
    assert caught.value.http_status == http_status
    assert caught.value.endpoint == QUERY_API


def test_auth_errors(bybit: FakeBybit) -> None:
    for api_key, secret, code in [("testkey00001", "wrong", 10004), ("unknown", "x", 10003)]:
        with BybitClient(bybit.base_url, api_key, secret) as client, pytest.raises(BybitAuthError) as caught:
            client.api_key_info()
        assert caught.value.ret_code == code
    bybit.add_key("testnetkey", "s", network="testnet")
    with BybitClient(bybit.base_url, "testnetkey", "s") as client, pytest.raises(BybitAuthError) as caught:
        client.api_key_info()
    assert caught.value.ret_code == 10003


def test_invalid_request(client: BybitClient) -> None:
    with pytest.raises(BybitInvalidRequestError) as caught:
        client.tickers("linear", "NOPEUSDT")
    assert caught.value.ret_code == 10001
    with pytest.raises(BybitInvalidRequestError) as caught:
        client.request("GET", "/v5/no/such/path")
    assert caught.value.http_status == 404


def test_timeout_is_transient(bybit: FakeBybit) -> None:
    bybit.slow_seconds = 0.5
    bybit.fail_next(1, Fault.SLOW)
    with (
        BybitClient(bybit.base_url, timeout=0.1, retry=fast_retry(max_attempts=1)) as client,
        pytest.raises(BybitTransientError),
    ):
        client.server_time()


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.HTTP_5XX, Fault.HTTP_429, Fault.SERVER_TIMEOUT, Fault.MALFORMED_JSON, Fault.RATE_LIMIT_RESET_PAST],
)
def test_transient_errors_and_rate_limits_are_retried(
    client: BybitClient, bybit: FakeBybit, fault: Fault
) -> None:
    bybit.fail_next(2, fault)
    assert client.api_key_info().api_key == API_KEY
    assert bybit.count(QUERY_API) == 3


def test_retries_are_bounded(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.fail_next(10, Fault.HTTP_5XX)
    with pytest.raises(BybitTransientError):
        client.server_time()
    assert bybit.count() == 4


def test_http_403_ip_ban_is_not_retried(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.fail_next(1, Fault.HTTP_403)
    with pytest.raises(BybitRateLimitError):
        client.server_time()
    assert bybit.count() == 1


def test_auth_errors_are_not_retried(bybit: FakeBybit) -> None:
    with (
        BybitClient(bybit.base_url, API_KEY, "wrong", retry=fast_retry()) as client,
        pytest.raises(BybitAuthError),
    ):
        client.api_key_info()
    assert bybit.count() == 1


def test_rate_limit_wait_honours_a_future_reset(client: BybitClient, bybit: FakeBybit) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    bybit.rate_limit_reset_ms = 200
    bybit.fail_next(1, Fault.RATE_LIMIT_RESET_FUTURE)
    with BybitClient(bybit.base_url, API_KEY, API_SECRET, retry=fast_retry(), sleep=sleep) as recorder:
        recorder.api_key_info()
    assert 0.1 < sleeps[0] <= 0.2  # the retry waits for the reset Bybit stated
    # The budget may hold it a little longer: the window ends a margin after Bybit's reset.
    assert sum(sleeps[1:]) <= RESET_MARGIN_SECONDS + 0.01
    assert bybit.count(QUERY_API) == 2


def test_rate_limit_wait_for_a_past_reset_is_short_and_not_negative(bybit: FakeBybit) -> None:
    sleeps: list[float] = []
    bybit.fail_next(2, Fault.RATE_LIMIT_RESET_PAST)
    with BybitClient(bybit.base_url, API_KEY, API_SECRET, retry=fast_retry(), sleep=sleeps.append) as client:
        client.api_key_info()
    assert len(sleeps) == 2
    assert all(0 <= seconds <= 0.005 for seconds in sleeps)


def test_a_reset_beyond_the_wait_allowed_fails_without_calling_again(bybit: FakeBybit) -> None:
    sleeps: list[float] = []
    bybit.rate_limit_reset_ms = 600_000
    bybit.fail_next(1, Fault.RATE_LIMIT_RESET_FUTURE)
    policy = fast_retry(max_rate_limit_wait=0.05)
    with (
        BybitClient(bybit.base_url, API_KEY, API_SECRET, retry=policy, sleep=sleeps.append) as client,
        pytest.raises(BybitBudgetError) as raised,
    ):
        client.api_key_info()
    assert sleeps == [0.05]  # the retry's own wait is capped ...
    assert bybit.count(QUERY_API) == 1  # ... but the budget does not send before Bybit's reset
    assert 590 < raised.value.retry_after <= 600.1


def test_rate_limit_status_is_exposed(client: BybitClient) -> None:
    assert client.rate_limits == {}
    client.api_key_info()
    status = client.rate_limit
    assert status is not None
    assert (status.endpoint, status.limit, status.remaining) == (QUERY_API, 50, 49)
    assert status.reset_at is not None
    assert status.reset_at.tzinfo is UTC
    assert QUERY_API in client.rate_limits


def test_a_raw_post_is_never_sent_twice(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.fail_next(1, Fault.HTTP_5XX, path=CREATE)
    order = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "1",
        "price": "1",
    }
    with pytest.raises(BybitTransientError):
        client.request("POST", CREATE, order, signed=True)
    assert bybit.count(CREATE) == 1


# -- clock ------------------------------------------------------------------------------------------


def test_clock_drift_is_recovered_with_the_server_offset(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.clock_offset_ms = 30_000  # Bybit's clock 30 s ahead of ours: every stamp is too old
    assert client.api_key_info().api_key == API_KEY
    assert 29_000 < client.clock_offset_ms < 31_000
    assert bybit.count(QUERY_API) == 2
    assert bybit.count("/v5/market/time") == 1


def test_clock_ahead_is_refused_whatever_the_window(bybit: FakeBybit) -> None:
    bybit.clock_offset_ms = -5_000
    with BybitClient(bybit.base_url, API_KEY, API_SECRET, recv_window=60_000) as client:
        assert client.api_key_info().api_key == API_KEY  # recovered by the offset, not the window
        assert client.clock_offset_ms < -4_000


def test_10002_is_retried_once_only(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.fail_next(1, Fault.CLOCK_SKEW, path=QUERY_API)
    client.api_key_info()
    bybit.fail_next(2, Fault.CLOCK_SKEW, path=QUERY_API)
    with pytest.raises(BybitTimeWindowError):
        client.api_key_info()
    assert bybit.count(QUERY_API) == 4


def test_sync_time(client: BybitClient, bybit: FakeBybit) -> None:
    bybit.clock_offset_ms = -2_000
    assert -2_500 < client.sync_time() < -1_500
    server = client.server_time().time
    assert abs((server - datetime.now(UTC)).total_seconds() + 2) < 0.5


# -- secrets ----------------------------------------------------------------------------------------


def test_the_secret_never_shows(bybit: FakeBybit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bybit.fail_next(1, Fault.HTTP_5XX)
    with BybitClient(bybit.base_url, API_KEY, API_SECRET, retry=fast_retry()) as client:
        client.api_key_info()
        texts = [repr(client), str(client)]
    with BybitClient(bybit.base_url, API_KEY, "another-secret-value") as other:
        with pytest.raises(BybitAuthError) as caught:
            other.api_key_info()
        texts += [repr(other), str(caught.value), repr(caught.value), caught.value.ret_msg]
    texts.append(caplog.text)
    assert caught.value.ret_code == 10004
    for text in texts:
        assert API_SECRET not in text
        assert "another-secret-value" not in text


def test_private_call_without_a_key_fails_before_sending(bybit: FakeBybit) -> None:
    with BybitClient(bybit.base_url) as client, pytest.raises(BybitAuthError):
        client.wallet_balance()
    assert bybit.count() == 0
