"""``AccountStatus``: where the following of one key's account stands, as the account process reports
it in ``account_leases.status``.

``waiting`` (no process holds it yet) -> ``reconciling`` (the stream is connected and Bybit's state is
being fetched and merged: new orders for it wait) -> ``live`` (merged; every push is written as it
comes); ``down`` while its stream is away (reconciled again when it is back); ``unfit`` when the key may
not trade (read-only, expired, no permission) or Bybit refuses its login.
"""

from enum import StrEnum


class AccountStatus(StrEnum):
    WAITING = "waiting"
    RECONCILING = "reconciling"
    LIVE = "live"
    DOWN = "down"
    UNFIT = "unfit"
