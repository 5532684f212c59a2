"""Each fault of the fake exchange gives the order outcome it should, and the lookup by orderLinkId
then tells what really happened (client over HTTP, fake served by uvicorn)."""

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bybit_client import BybitClient, RetryPolicy
from bybit_client.testing import FakeBybit, Fault, fast_retry_policy

API_KEY = "testkey00001"
API_SECRET = "testsecret-do-not-leak-9f3a"
CREATE = "/v5/order/create"
TIMEOUT = 0.3  # the client's; the fake holds a faulty answer longer
HELD = 0.6


@pytest.fixture
def once(bybit: FakeBybit) -> Iterator[BybitClient]:
    """A client that sends each request once: the outcome of one attempt shows."""
    bybit.slow_seconds = HELD
    with BybitClient(
        bybit.base_url, API_KEY, API_SECRET, retry=RetryPolicy(max_attempts=1), timeout=TIMEOUT
    ) as client:
        yield client


@pytest.fixture
def retrying(bybit: FakeBybit) -> Iterator[BybitClient]:
    bybit.slow_seconds = HELD
    with BybitClient(
        bybit.base_url, API_KEY, API_SECRET, retry=fast_retry_policy(), timeout=TIMEOUT
    ) as client:
        yield client


def below(bybit: FakeBybit) -> Decimal:
    return bybit.price("BTCUSDT") - 1


@pytest.mark.parametrize(
    ("fault", "placed"),
    [
        (Fault.LOST_ANSWER, True),  # accepted, the answer lost: a timeout
        (Fault.RESET_AFTER_ACCEPT, True),
        (Fault.TIMEOUT_BEFORE, False),  # a timeout before the order reached the book
        (Fault.RESET, False),
        (Fault.HTTP_5XX, False),
        (Fault.SERVER_TIMEOUT, False),  # retCode 10000
    ],
)
def test_each_fault_is_an_unknown_outcome_that_the_lookup_resolves(
    once: BybitClient, bybit: FakeBybit, fault: Fault, placed: bool
) -> None:
    bybit.fail_next(1, fault, path=CREATE)
    outcome = once.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit))
    assert outcome.unknown  # never a failure
    assert outcome.order_link_id is not None
    found = once.find_order("linear", order_link_id=outcome.order_link_id)
    assert (found is not None) == placed
    # Sending the same create again is safe either way: it places the order, or names it.
    again = once.create_order(
        "linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit), order_link_id=outcome.order_link_id
    )
    assert again.accepted
    assert again.repeated == placed
    assert len(bybit.orders(API_KEY)) == 1


def test_a_retry_after_a_lost_answer_reports_the_order_the_first_attempt_placed(
    retrying: BybitClient, bybit: FakeBybit
) -> None:
    bybit.fail_next(1, Fault.LOST_ANSWER, path=CREATE)
    outcome = retrying.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit))
    assert (outcome.outcome, outcome.repeated, outcome.ret_code) == ("accepted", True, 110072)
    (order,) = bybit.orders(API_KEY)
    assert (outcome.order_id, outcome.order_link_id) == (order["orderId"], order["orderLinkId"])
    assert len(bybit.sent(CREATE)) == 2
    assert bybit.sent(CREATE)[0].body == bybit.sent(CREATE)[1].body  # the same orderLinkId


def test_a_late_order_is_unknown_then_found(once: BybitClient, bybit: FakeBybit) -> None:
    bybit.fail_next(1, Fault.SLOW, path=CREATE)  # processed after the client gave up
    outcome = once.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit))
    assert outcome.unknown
    assert outcome.order_link_id is not None
    assert once.find_order("linear", order_link_id=outcome.order_link_id) is None  # not yet
    deadline = time.monotonic() + 5
    while bybit.order(API_KEY, order_link_id=outcome.order_link_id) is None:
        assert time.monotonic() < deadline, "the held order never landed"
        time.sleep(0.02)
    assert once.find_order("linear", order_link_id=outcome.order_link_id) is not None


def test_a_refusal_after_an_unknown_attempt_proves_nothing(retrying: BybitClient, bybit: FakeBybit) -> None:
    # The first attempt gets a 502 (its fate unknown to the client); the retry is refused. The
    # refusal cannot prove the first attempt placed nothing, so the outcome stays unknown.
    bybit.fail_next(1, Fault.HTTP_5XX, path=CREATE)
    bybit.fail_next(1, Fault.CLOCK_SKEW, path=CREATE)
    bybit.fail_next(1, Fault.CLOCK_SKEW, path=CREATE)
    outcome = retrying.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit))
    assert (outcome.outcome, outcome.ret_code) == ("unknown", 10002)


def test_an_amend_or_cancel_is_not_sent_again_after_an_unknown_outcome(
    retrying: BybitClient, bybit: FakeBybit
) -> None:
    placed = retrying.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit))
    bybit.fail_next(1, Fault.RESET_AFTER_ACCEPT, path="/v5/order/cancel")
    cancel = retrying.cancel_order("linear", "BTCUSDT", order_id=placed.order_id)
    assert cancel.unknown
    assert bybit.count("/v5/order/cancel") == 1
    order = retrying.find_order("linear", order_id=placed.order_id)
    assert order is not None
    assert order.order_status == "Cancelled"  # the lookup says what the lost answer would have


def test_faults_switch_per_account(bybit: FakeBybit, once: BybitClient) -> None:
    bybit.add_key("otherkey0001", "other-secret")
    bybit.set_fault_rates({Fault.RESET: 1.0}, api_key="otherkey0001")
    with BybitClient(
        bybit.base_url, "otherkey0001", "other-secret", retry=RetryPolicy(max_attempts=1)
    ) as other:
        assert other.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit)).unknown
    assert once.create_order("linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit)).accepted
    bybit.set_fault_rates({}, api_key="otherkey0001")


def test_fault_rates_repeat_under_a_seed(bybit: FakeBybit, once: BybitClient) -> None:
    def run() -> list[str]:
        bybit.reset()
        bybit.uid_limits.scale = 100  # no 10006 from timing: only the seeded faults decide
        bybit.add_key(API_KEY, API_SECRET)
        bybit.set_fault_rates({Fault.RESET_AFTER_ACCEPT: 0.3, Fault.HTTP_5XX: 0.2}, path=CREATE)
        outcomes = [
            once.create_order(
                "linear", "BTCUSDT", "Buy", "Limit", "1", price=below(bybit), order_link_id=f"o-{n}"
            )
            for n in range(30)
        ]
        placed = {order["orderLinkId"]: order["orderId"] for order in bybit.orders(API_KEY)}
        return [
            f"{outcome.outcome}:{outcome.order_link_id in placed}:{placed.get(outcome.order_link_id or '')}"
            for outcome in outcomes
        ]

    first, second = run(), run()
    assert first == second  # the same faults, the same ids
    assert {entry.split(":")[0] for entry in first} == {"accepted", "unknown"}
    assert any(entry.startswith("unknown:True") for entry in first)  # accepted, answer cut
    assert any(entry.startswith("unknown:False") for entry in first)  # never placed
