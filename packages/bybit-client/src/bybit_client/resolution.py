"""Order calls to outcomes, and the lookup that finds an order again (flows of the shared core).

``decide`` sends an ``OrderCall`` (with the core's retries: a create goes again with the same
``orderLinkId``) and says what the answers prove (``outcomes``). A create refused because its
``orderLinkId`` is taken is looked up: found, and the same order, it is accepted (``repeated``: an
earlier attempt placed it); found but another order, rejected; not found, unknown. ``find_order``
is that lookup: the realtime query (open and recently closed orders), then the history.

These flows raise only when nothing reached Bybit: a ``BybitBudgetError`` (the budget held the call
too long) or a ``BybitAuthError`` (the client has no key). Every answer, and every missing answer,
is an outcome.
"""

from collections.abc import Sequence
from typing import TypeVar, cast

from bybit_client.core import ClientCore, Flow
from bybit_client.errors import BybitError
from bybit_client.models import Order, OrderAck
from bybit_client.orders import OrderRequest
from bybit_client.outcomes import DUPLICATE_CODES, OrderOutcome, Outcome, outcome_of_code, outcome_of_error
from bybit_client.trading import BatchCall, OrderCall, OrderRef, order_lookup

T = TypeVar("T")


def find_order(
    core: ClientCore, category: str, *, order_id: str | None = None, order_link_id: str | None = None
) -> Flow[Order | None]:
    """The order with ``order_id`` or ``order_link_id``, as Bybit knows it now; None when neither the
    realtime query nor the history has it (not proof it never existed: see ``order_history``)."""
    for call in order_lookup(category, order_id=order_id, order_link_id=order_link_id):
        page = yield from core.call(call)
        if page.items:
            return page.items[0]
    return None


def decide(core: ClientCore, order: OrderCall[T]) -> Flow[OrderOutcome[T]]:
    """Send ``order`` and return what Bybit's answers (or their absence) prove."""
    ref = order.ref
    failures: list[BybitError] = []
    try:
        result = yield from core.call(order.call, failures)
    except BybitError as error:
        error = _last_sent(error, failures)
        if error.ret_code in DUPLICATE_CODES and ref.request is not None:
            # Only a create has a request, and a create's result is an OrderAck.
            return cast(OrderOutcome[T], (yield from _repeated(core, ref, error.ret_code, error.ret_msg)))
        return _outcome(ref, _proven(failures), error.ret_code, error.ret_msg)
    ack = result if isinstance(result, OrderAck) else None
    return OrderOutcome(
        outcome=Outcome.ACCEPTED,
        order_id=ack.order_id if ack else ref.order_id,
        order_link_id=ack.order_link_id if ack and ack.order_link_id else ref.order_link_id,
        ret_code=0,
        ret_msg="OK",
        result=result,
    )


def _last_sent(error: BybitError, failures: Sequence[BybitError]) -> BybitError:
    """The error the outcome stands on: ``error`` when its attempt was sent; else (a retry could not
    be sent) the last sent attempt's; raised again when nothing reached Bybit."""
    if error in failures:
        return error
    if not failures:
        raise error
    return failures[-1]


def _proven(failures: Sequence[BybitError]) -> Outcome:
    """What the attempts of one request prove together: a refusal after an attempt whose outcome
    was unknown proves nothing (the earlier attempt may have done what was asked)."""
    last = outcome_of_error(failures[-1])
    if last is Outcome.REJECTED and any(
        outcome_of_error(error) is Outcome.UNKNOWN for error in failures[:-1]
    ):
        return Outcome.UNKNOWN
    return last


def _outcome(ref: OrderRef, outcome: Outcome, ret_code: int | None, ret_msg: str) -> OrderOutcome[T]:
    return OrderOutcome(
        outcome=outcome,
        order_id=ref.order_id,
        order_link_id=ref.order_link_id,
        ret_code=ret_code,
        ret_msg=ret_msg,
    )


def _same_order(found: Order, request: OrderRequest) -> bool:
    return (found.symbol, found.side, found.order_type, found.qty) == (
        request.symbol,
        request.side,
        request.order_type,
        request.qty,
    ) and (request.price is None or found.price == request.price)


def _repeated(
    core: ClientCore, ref: OrderRef, code: int | None, message: str
) -> Flow[OrderOutcome[OrderAck]]:
    """A create refused because its orderLinkId is taken: find the order the id names."""
    assert ref.request is not None
    link_id = ref.request.order_link_id
    try:
        found = yield from find_order(core, ref.category, order_link_id=link_id)
    except BybitError as error:
        return _outcome(
            ref, Outcome.UNKNOWN, code, f"{message}; looking the order up failed: {error.ret_msg}"
        )
    if found is None:
        return _outcome(ref, Outcome.UNKNOWN, code, f"{message}; no lookup finds the order yet")
    if not _same_order(found, ref.request):
        return _outcome(ref, Outcome.REJECTED, code, f"{message}; the orderLinkId names another order")
    return OrderOutcome(
        outcome=Outcome.ACCEPTED,
        order_id=found.order_id,
        order_link_id=link_id,
        ret_code=code,
        ret_msg=message,
        repeated=True,
        result=OrderAck(order_id=found.order_id, order_link_id=link_id),
    )


def decide_batches(core: ClientCore, batches: Sequence[BatchCall]) -> Flow[list[OrderOutcome[OrderAck]]]:
    """Send each batch in turn; one outcome per order, in the order the orders were given."""
    outcomes: list[OrderOutcome[OrderAck]] = []
    for batch in batches:
        outcomes += yield from _decide_batch(core, batch)
    return outcomes


def _decide_batch(core: ClientCore, batch: BatchCall) -> Flow[list[OrderOutcome[OrderAck]]]:
    failures: list[BybitError] = []
    try:
        items = yield from core.call(batch.call, failures)
    except BybitError as error:
        error = _last_sent(error, failures)
        return [_outcome(ref, _proven(failures), error.ret_code, error.ret_msg) for ref in batch.refs]
    earlier_unknown = any(outcome_of_error(error) is Outcome.UNKNOWN for error in failures)
    outcomes: list[OrderOutcome[OrderAck]] = []
    for ref, item in zip(batch.refs, items, strict=True):
        if item.code == 0:
            outcomes.append(
                OrderOutcome(
                    outcome=Outcome.ACCEPTED,
                    order_id=item.ack.order_id if item.ack else ref.order_id,
                    order_link_id=ref.order_link_id,
                    ret_code=0,
                    ret_msg=item.msg,
                    result=item.ack,
                )
            )
        elif item.code in DUPLICATE_CODES and ref.request is not None:
            outcomes.append((yield from _repeated(core, ref, item.code, item.msg)))
        else:
            outcome = outcome_of_code(item.code)
            if outcome is Outcome.REJECTED and earlier_unknown:
                outcome = Outcome.UNKNOWN
            outcomes.append(_outcome(ref, outcome, item.code, item.msg))
    return outcomes
