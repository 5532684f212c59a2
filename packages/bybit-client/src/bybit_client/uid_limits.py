"""Bybit's default per-account (UID) limits (``docs/v5/rate-limit/rate-limit.mdx``): requests per
rolling second, per endpoint; order writes per business line (linear and inverse together, option,
spot), the reads of orders, executions, positions and the wallet for every category together.
Higher VIP tiers get more; every answer states the account's own (``X-Bapi-Limit``).

The call budget starts an account's window from ``default_limit`` before any answer has stated the
limit, so a burst of a new account never outruns Bybit; the fake exchange plays these numbers.
"""

# Per endpoint: the default limit for (linear and inverse, option, spot).
ORDER_WRITES: dict[str, tuple[int, int, int]] = {
    "/v5/order/create": (10, 10, 20),
    "/v5/order/amend": (10, 10, 10),
    "/v5/order/cancel": (10, 10, 20),
    "/v5/order/cancel-all": (10, 1, 20),
    "/v5/order/create-batch": (10, 10, 20),
    "/v5/order/amend-batch": (10, 10, 20),
    "/v5/order/cancel-batch": (10, 10, 20),
}
READS: dict[str, int] = {
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
}


def default_limit(path: str) -> int | None:
    """The limit an account's calls of ``path`` start from before Bybit states theirs: the lowest
    of the linear and spot lines (option's one cancel-all a second is not counted: option orders
    share no window with them); None for an endpoint without a per-account limit."""
    if path in READS:
        return READS[path]
    lines = ORDER_WRITES.get(path)
    return None if lines is None else min(lines[0], lines[2])
