"""Cancelling every open order of halted users' stored keys at Bybit (the kill switch's sweep).

For each credential: its secret decrypted through the vault, then Bybit's cancel-all for every
category the key may trade (``bybit_client.ORDER_PERMISSIONS``): spot and option whole, linear by
each settle coin (USDT, USDC; Bybit needs a filter there). Futures cancel at most 500 orders a call,
so a full answer is followed by another call. A credential whose every call was accepted is
``cancelled``; any call refused, failed or unanswered within ``SWEEP_TIMEOUT`` makes it ``unknown``
(orders may remain): never reported as done. Inverse orders need one call per coin and are not
swept: this service does not place them.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from api_service.bybit_access import BUDGET_WAIT, bybit_client_for
from api_service.errors import ApiError
from bybit_client import BybitError, Category, Network, may_trade
from bybit_client.redis_budget import AsyncRedisBudget
from core_config import Settings, get_logger
from db_user import BybitCredential, CredentialContext, Vault, VaultError

logger = get_logger(__name__)

# A sweep's calls for one credential end within this many seconds (the halt's promise is 5 s).
SWEEP_TIMEOUT = 4.0
# How many credentials are swept at once (each a few calls in a row).
SWEEP_CONCURRENCY = 16
# Bybit cancels at most this many futures orders a call ("picks 500 randomly" past it).
FUTURES_CANCEL_CAP = 500
_CALLS: tuple[tuple[Category, dict[str, str]], ...] = (
    (Category.SPOT, {}),
    (Category.LINEAR, {"settle_coin": "USDT"}),
    (Category.LINEAR, {"settle_coin": "USDC"}),
    (Category.OPTION, {}),
)


class SweepOutcome(StrEnum):
    CANCELLED = "cancelled"  # every cancel-all accepted: no open order left when Bybit answered
    UNKNOWN = "unknown"  # a call refused, failed or unanswered: orders may remain


@dataclass(frozen=True)
class CredentialSwept:
    credential_id: int
    user_id: int
    outcome: SweepOutcome
    cancelled: int  # orders Bybit reported cancelled
    detail: str | None = None  # why the outcome is unknown

    def as_dict(self) -> dict[str, Any]:
        return {
            "credential_id": self.credential_id,
            "user_id": self.user_id,
            "outcome": self.outcome.value,
            "cancelled": self.cancelled,
            "detail": self.detail,
        }


def in_flight_deadline(settings: Settings) -> float:
    """Seconds after which no order request that passed the halt check before the halt can still
    reach Bybit: the longest a send may wait for the call budget and for Bybit's answer. The
    second sweep runs this long after the halt."""
    return BUDGET_WAIT + settings.bybit_timeout + 1.0


@dataclass(frozen=True)
class Sweeper:
    """What a sweep needs: the settings (Bybit's address), the vault, the shared call budget."""

    settings: Settings
    vault: Vault
    budget: AsyncRedisBudget

    async def sweep(self, credentials: Sequence[BybitCredential]) -> list[CredentialSwept]:
        """Cancel every open order of ``credentials``; one result each, in their order."""
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def one(credential: BybitCredential) -> CredentialSwept:
            async with gate:
                return await self._bounded(credential)

        return list(await asyncio.gather(*(one(credential) for credential in credentials)))

    async def _bounded(self, credential: BybitCredential) -> CredentialSwept:
        cancelled = [0]
        try:
            async with asyncio.timeout(SWEEP_TIMEOUT):
                await self._cancel_all(credential, cancelled)
        except TimeoutError:
            return self._unknown(credential, cancelled[0], f"no answer within {SWEEP_TIMEOUT:g} s")
        except _OutcomeUnknownError as exc:
            return self._unknown(credential, cancelled[0], str(exc))
        except Exception as exc:  # whatever broke (Redis, the network), the cancel is not done
            # Its type only: the text of a connection error may name an address with credentials.
            return self._unknown(credential, cancelled[0], f"the sweep failed ({type(exc).__name__})")
        return CredentialSwept(credential.id, credential.user_id, SweepOutcome.CANCELLED, cancelled[0])

    @staticmethod
    def _unknown(credential: BybitCredential, cancelled: int, detail: str) -> CredentialSwept:
        logger.warning(
            "halt sweep: outcome unknown",
            credential_id=credential.id,
            user_id=credential.user_id,
            detail=detail,
        )
        return CredentialSwept(credential.id, credential.user_id, SweepOutcome.UNKNOWN, cancelled, detail)

    async def _cancel_all(self, credential: BybitCredential, cancelled: list[int]) -> None:
        calls = [
            call for call in _CALLS if not credential.read_only and may_trade(credential.permissions, call[0])
        ]
        if not calls:
            return  # the key cannot place orders: none of its own to cancel
        try:
            secret = self.vault.decrypt(
                credential.secret_ciphertext, credential.key_id, CredentialContext.of(credential)
            )
        except VaultError as exc:
            raise _OutcomeUnknownError(f"the key cannot be decrypted ({exc})") from None
        try:
            client = bybit_client_for(
                self.settings, Network(credential.network), credential.api_key, secret, self.budget
            )
        except ApiError as exc:
            raise _OutcomeUnknownError(exc.message) from None
        async with client:
            for category, coin in calls:
                while True:
                    try:
                        outcome = await client.cancel_all_orders(category, **coin)
                    except BybitError as exc:
                        raise _OutcomeUnknownError(f"cancel-all {category.value}: {exc.ret_msg}") from None
                    if not outcome.accepted or outcome.result is None:
                        code = f"retCode {outcome.ret_code}: " if outcome.ret_code else ""
                        raise _OutcomeUnknownError(
                            f"cancel-all {category.value} {outcome.outcome.value} ({code}{outcome.ret_msg})"
                        )
                    cancelled[0] += len(outcome.result)
                    if category is Category.SPOT or len(outcome.result) < FUTURES_CANCEL_CAP:
                        break


class _OutcomeUnknownError(Exception):
    """A credential's sweep cannot be shown complete; the message says why."""
