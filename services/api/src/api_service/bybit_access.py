"""Talking to Bybit on a user's behalf: the client for a network, and Bybit's errors as API errors.

Every client of the process holds the one call budget shared in Redis with the worker
(``bybit_client.redis_budget``): a request never waits more than ``BUDGET_WAIT`` seconds for it;
past that, or while a ban pauses everyone, it is a 503 with ``Retry-After``, nothing sent to Bybit.

The client's module (and aiohttp with it) loads with the first client made: only the credential
routes call Bybit, so the API serves its first request without it.
"""

import math
from typing import TYPE_CHECKING

from pydantic import SecretStr
from redis.asyncio import Redis

import bybit_client
from api_service.errors import ApiError
from bybit_client import BudgetPolicy, BybitError, Network, RetryPolicy
from bybit_client.redis_budget import AsyncRedisBudget
from bybit_client.telemetry import call_observer
from core_config import Settings
from core_telemetry import telemetry

if TYPE_CHECKING:
    from bybit_client import AsyncBybitClient

_AUTH_PROBLEMS = {
    10003: ("bybit_key_invalid", "Bybit does not know this API key on {network}: is it a {network} key?"),
    10004: ("bybit_secret_mismatch", "the API secret does not match the API key"),
    10005: ("bybit_permission_denied", "the API key lacks the permission this call needs"),
    10010: ("bybit_ip_not_allowed", "the API key is bound to other IP addresses"),
}


# A request waits this long at most for the call budget (a window about to reset), then answers 503.
BUDGET_WAIT = 2.0


def bybit_budget(settings: Settings, redis: Redis, *, max_wait: float = BUDGET_WAIT) -> AsyncRedisBudget:
    """The process's share of the call budget, on its one Redis pool; a holder waits up to
    ``max_wait`` seconds for it (the order routes: not at all, a 429 instead)."""
    policy = BudgetPolicy(
        ip_limit=settings.bybit_ip_budget, ban_seconds=settings.bybit_ban_pause, max_wait=max_wait
    )
    return AsyncRedisBudget(redis, prefix=settings.bybit_budget_prefix, policy=policy)


def bybit_client_for(
    settings: Settings,
    network: Network,
    api_key: str,
    api_secret: SecretStr,
    budget: AsyncRedisBudget,
    *,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> "AsyncBybitClient":
    """A signed client for ``network``: the configured URL for the configured network (so tests and
    regional hosts work), Bybit's own host for the others. The simulated exchange is reached only
    when it is the configured network: its default address is this machine's loopback. ``timeout``
    (default ``BYBIT_TIMEOUT``) bounds each call, ``retry`` its retries (default: the client's)."""
    if not network.is_bybit and network != settings.bybit_network:
        raise ApiError(
            422,
            "network_not_served",
            f"this service does not run the {network.value} exchange (BYBIT_NETWORK is "
            f"{settings.bybit_network.value}); use mainnet, testnet or demo",
        )
    base_url = settings.bybit_api_url if network == settings.bybit_network else network.rest_url
    return bybit_client.AsyncBybitClient(
        base_url,
        api_key,
        api_secret,
        timeout=timeout or settings.bybit_timeout,
        recv_window=settings.bybit_recv_window,
        retry=retry,
        ca_file=settings.bybit_ca_file,
        observer=call_observer() if telemetry().plan.enabled else None,
        budget=budget,
    )


def api_error_for(exc: BybitError, network: Network) -> ApiError:
    """The API's answer to a failed Bybit call, carrying Bybit's own reason."""
    if isinstance(exc, bybit_client.BybitBudgetError):
        retry_after = str(max(1, math.ceil(exc.retry_after)))
        message = f"too many calls to Bybit from this service; try again in {retry_after} s ({exc.ret_msg})"
        return ApiError(503, "bybit_budget_spent", message, headers={"Retry-After": retry_after})
    if exc.ret_code:
        reason = f"(Bybit retCode {exc.ret_code}: {exc.ret_msg})"
    elif exc.http_status is not None:
        reason = f"(HTTP {exc.http_status}: {exc.ret_msg})"
    else:  # no answer at all: what went wrong on the way (the host not found, refused, timed out)
        reason = f"({exc.ret_msg})"
    if isinstance(exc, bybit_client.BybitAuthError):
        code, message = _AUTH_PROBLEMS.get(
            exc.ret_code or 0, ("bybit_key_rejected", "Bybit refused the API key")
        )
        return ApiError(422, code, f"{message.format(network=network.value)} {reason}")
    if isinstance(exc, bybit_client.BybitRateLimitError):
        return ApiError(503, "bybit_rate_limited", f"Bybit asks to slow down; try again shortly {reason}")
    if isinstance(exc, (bybit_client.BybitTransientError, bybit_client.BybitTimeWindowError)):
        return ApiError(503, "bybit_unavailable", f"Bybit is not answering properly; try again {reason}")
    return ApiError(502, "bybit_error", f"Bybit refused the request {reason}")
