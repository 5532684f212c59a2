"""Whether a Bybit key may be stored, and whether a stored one may be used for orders.

A key is stored only when it cannot move funds (``bybit_client.funds_permissions``: withdrawals,
transfers, payments): the service needs to trade, and a leaked key that can withdraw costs the user
their funds. A stored key is fit for orders when it is not read-only, not expired, and holds the
order permission of the category (``bybit_client.ORDER_PERMISSIONS``).
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bybit_client.enums import Category
from bybit_client.permissions import funds_permissions, may_trade
from db_user.models import BybitCredential


def funds_refusal(permissions: Mapping[str, Sequence[str]]) -> str | None:
    """Why a key with ``permissions`` is not stored (it can move funds); None when it may be."""
    moving = funds_permissions(permissions)
    if not moving:
        return None
    return (
        f"the API key has the permission {', '.join(moving)}, which moves funds out of the account; "
        "this service only trades: create a key without withdrawal or transfer permissions"
    )


def trading_refusal(
    credential: BybitCredential, *, category: Category | str | None = None, now: datetime | None = None
) -> str | None:
    """Why ``credential`` may not be used for orders (of ``category``; of some category when None);
    None when it may."""
    refusal = funds_refusal(credential.permissions)
    if refusal is not None:
        return refusal
    if credential.read_only:
        return "the API key is read-only; create a key with trade permission"
    if credential.expires_at is not None and credential.expires_at <= (now or datetime.now(UTC)):
        return f"the API key expired at {credential.expires_at:%Y-%m-%d %H:%M} UTC; store a new one"
    if not may_trade(credential.permissions, None if category is None else Category(category)):
        where = f" for {Category(category).value} orders" if category is not None else ""
        return f"the API key has no trade permission{where}"
    return None
