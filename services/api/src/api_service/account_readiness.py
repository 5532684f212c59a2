"""Whether a key's account may take a new order now: not while its account process reconciles it
with Bybit (what the service believes of the account is being corrected), for at most
``RECONCILE_WAIT`` seconds; past that the order route answers 503 with ``Retry-After``.

An account no process follows (none running, or the key just stored) is not held back: orders are
placed and resolved through the api alone, as without account processes.
"""

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api_service.errors import ApiError
from db_user import AccountStatus, account_lease, lease_alive

RECONCILE_WAIT = 2.0
POLL = 0.1
RETRY_AFTER = "1"


async def wait_account_ready(session: AsyncSession, credential_id: int) -> None:
    """Return once the key's account is not being reconciled; 503 after ``RECONCILE_WAIT`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECONCILE_WAIT
    while True:
        lease = await account_lease(session, credential_id)
        reconciling = (
            lease is not None
            and lease.status == AccountStatus.RECONCILING.value
            and lease_alive(lease, datetime.now(UTC))
        )
        if not reconciling:
            return
        if loop.time() >= deadline:
            raise ApiError(
                503,
                "account_reconciling",
                "the account is being reconciled with Bybit (after a reconnect); try again shortly",
                headers={"Retry-After": RETRY_AFTER},
            )
        await asyncio.sleep(POLL)
