"""The fake exchange's state in Bybit's shapes: orders, executions, positions and the wallet as the
REST answers and the private pushes carry them (one function each, so both say the same)."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from bybit_client.enums import Category
from bybit_client.testing.accounts import ZERO, Account, FakeOrder, FakePosition, Fill

USD_PRICES = {"USDT": Decimal(1), "USDC": Decimal(1), "BTC": Decimal(60000), "ETH": Decimal(3000)}


def text(value: Decimal | None) -> str:
    """Bybit's decimal text: plain digits, never an exponent; None as ""."""
    if value is None:
        return ""
    if not value:
        return "0"
    plain = format(value, "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def order_view(order: FakeOrder, *, with_category: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "symbol": order.symbol,
        "price": text(order.price) if order.price is not None else "0",
        "qty": text(order.qty),
        "side": order.side.value,
        "positionIdx": 0,
        "orderStatus": order.status.value,
        "cancelType": order.cancel_type,
        "rejectReason": order.reject_reason,
        "avgPrice": text(order.avg_price),
        "leavesQty": text(order.leaves_qty),
        "leavesValue": text(order.leaves_qty * (order.price or ZERO)),
        "cumExecQty": text(order.cum_exec_qty),
        "cumExecValue": text(order.cum_exec_value),
        "cumExecFee": text(order.cum_exec_fee),
        "timeInForce": order.time_in_force.value,
        "orderType": order.order_type.value,
        "reduceOnly": order.reduce_only,
        "marketUnit": order.market_unit.value if order.market_unit else "",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
    }
    if with_category:
        view["category"] = order.category.value
    return view


def execution_view(fill: Fill, *, with_category: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "symbol": fill.symbol,
        "orderId": fill.order_id,
        "orderLinkId": fill.order_link_id,
        "side": fill.side.value,
        "orderPrice": text(fill.order_price) if fill.order_price is not None else "0",
        "orderQty": text(fill.order_qty),
        "leavesQty": text(fill.leaves_qty),
        "orderType": fill.order_type.value,
        "execFee": text(fill.fee),
        "execId": fill.exec_id,
        "execPrice": text(fill.price),
        "execQty": text(fill.qty),
        "execType": "Trade",
        "execValue": text(fill.value),
        "execTime": str(fill.exec_ms),
        "feeCurrency": fill.fee_currency,
        "isMaker": fill.is_maker,
        "feeRate": text(fill.fee_rate),
        "markPrice": text(fill.mark_price),
        "closedSize": text(fill.closed_size),
        "seq": fill.seq,
    }
    if with_category:
        view["category"] = fill.category.value
    return view


def position_view(position: FakePosition, mark: Decimal, *, with_category: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "positionIdx": 0,
        "symbol": position.symbol,
        "side": position.side.value if position.side else "",
        "size": text(position.size),
        "avgPrice": text(position.avg_price),
        "positionValue": text(position.size * position.avg_price),
        "leverage": text(position.leverage),
        "markPrice": text(mark),
        "positionIM": text(position.initial_margin()),
        "unrealisedPnl": text(position.unrealised(mark)),
        "curRealisedPnl": text(position.cur_realised),
        "cumRealisedPnl": text(position.cum_realised),
        "positionStatus": "Normal",
        "seq": position.seq,
        "createdTime": str(position.created_ms),
        "updatedTime": str(position.updated_ms),
    }
    if with_category:
        view["category"] = position.category.value
        view["entryPrice"] = view["avgPrice"]  # the stream names the average price so
    return view


def wallet_view(
    account: Account, marks: dict[tuple[Category, str], Decimal], coins: Iterable[str] | None = None
) -> dict[str, Any]:
    """The unified account: every coin it holds (or has a position in), of ``coins`` only if given."""
    upl: dict[str, Decimal] = {}
    position_im: dict[str, Decimal] = {}
    for (category, symbol), position in account.positions.items():
        coin = position.settle_coin
        upl[coin] = upl.get(coin, ZERO) + position.unrealised(
            marks.get((category, symbol), position.avg_price)
        )
        position_im[coin] = position_im.get(coin, ZERO) + position.initial_margin()
    wanted = None if coins is None else set(coins)
    rows = []
    total_equity = total_wallet = total_im = total_upl = ZERO  # the account's, whatever is listed
    for coin in sorted(set(account.balances) | set(upl)):
        wallet = account.balance(coin)
        held = account.held.get(coin, ZERO)
        unrealised = upl.get(coin, ZERO)
        equity = wallet + unrealised
        available = equity - held - position_im.get(coin, ZERO)
        usd = USD_PRICES.get(coin, Decimal(1))
        total_equity += equity * usd
        total_wallet += wallet * usd
        total_im += (held + position_im.get(coin, ZERO)) * usd
        total_upl += unrealised * usd
        if wanted is not None and coin not in wanted:
            continue
        rows.append(
            {
                "coin": coin,
                "equity": text(equity),
                "usdValue": text(equity * usd),
                "walletBalance": text(wallet),
                "locked": text(held),
                "totalOrderIM": text(held),
                "totalPositionIM": text(position_im.get(coin, ZERO)),
                "unrealisedPnl": text(unrealised),
                "cumRealisedPnl": text(account.cum_realised.get(coin, ZERO)),
                "availableToWithdraw": text(available),
                "borrowAmount": "0",
            }
        )
    return {
        "accountType": "UNIFIED",
        "totalEquity": text(total_equity),
        "totalWalletBalance": text(total_wallet),
        "totalMarginBalance": text(total_equity),
        "totalAvailableBalance": text(total_equity - total_im),
        "totalInitialMargin": text(total_im),
        "totalPerpUPL": text(total_upl),
        "coin": rows,
    }
