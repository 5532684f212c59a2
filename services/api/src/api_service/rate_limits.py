"""Rate limits per client address and per token, counted in Redis so every api instance shares them.

The counting is the ``limits`` library's fixed window (one ``INCR`` with an expiry per limit and
request): each counter lives one window, so the keys in Redis are bounded by the callers of the
last window. Every request except the health checks counts against its client address; requests
carrying a well-formed token count against that token too, with the limit of its route's group.
Each route declares its group (``route_policy``); ``RouteGroups`` finds a request's group from the
route it matches, with a table derived once at startup from the app's routes.
The client address is the connection's peer, or the one a trusted proxy gives by hop position
(``client_address``); never a header any caller can set. IPv6 callers count by their /64.

Past a limit the answer is a 429 in the error shape with ``Retry-After`` and the IETF ``RateLimit``
and ``RateLimit-Policy`` headers. Checked before the body is read and before authentication, so a
flood costs one Redis round trip per request. When Redis does not answer, requests go through (the
limits protect the service; they must not take it down with Redis) and a warning is logged.
"""

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api_service.client_address import rate_limit_key
from api_service.errors import error_response
from api_service.route_policy import RateLimitGroup, declared_group
from api_service.tokens import hash_token, is_well_formed
from core_config import Settings, get_logger

logger = get_logger(__name__)
_WARN_EVERY = 30.0  # seconds between two warnings about an unreachable Redis


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go on; when not, which limit it passed and for how long."""

    allowed: bool
    policy: str = ""
    limit: RateLimitItem | None = None
    retry_after: int = 0


def _policy(name: str, item: RateLimitItem) -> str:
    return f'"{name}";q={item.amount};w={item.get_expiry()}'


class RateLimitPolicy:
    """The limits of each rate-limit group, from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.per_address = parse(settings.rate_limit_per_address)
        # On top of the address limit; a group not named here has none.
        self.per_token: dict[RateLimitGroup, RateLimitItem] = {
            RateLimitGroup.ACCOUNT: parse(settings.rate_limit_account),
            RateLimitGroup.CREDENTIAL_WRITES: parse(settings.rate_limit_credential_writes),
            RateLimitGroup.OPERATOR: parse(settings.rate_limit_operator),
        }

    def describe(self, group: RateLimitGroup) -> str:
        """The limits of ``group`` in words, for the OpenAPI document."""
        address = self.per_address
        text = f"At most {address.amount} requests per {address.get_expiry()} s per client address"
        per_token = self.per_token.get(group)
        if per_token is not None:
            text += f" and {per_token.amount} per {per_token.get_expiry()} s per token"
        return text + " (Retry-After says when to try again)"


class RouteGroups:
    """Each API route's declared rate-limit group, found from a request's method and path.

    Derived once at startup from the app's routes, walked as FastAPI's OpenAPI document walks them
    (``iter_route_contexts``: included routers' routes with their prefixes), each matched by its own
    compiled path pattern: the first route whose path and method match decides, as in the router.
    What no API route answers (404, 405, the OpenAPI document, the docs' files), and a route that
    declares no group (a failing test, see ``route_policy``), counts per address.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes: list[tuple[re.Pattern[str], frozenset[str], RateLimitGroup]] = []
        for context in iter_route_contexts(routes):
            route = context.original_route
            if isinstance(route, APIRoute) and context.path is not None:
                pattern, _, _ = compile_path(context.path)
                group = declared_group(route) or RateLimitGroup.ADDRESS
                self._routes.append((pattern, frozenset(context.methods or ()), group))

    def group_for(self, method: str, path: str) -> RateLimitGroup:
        for pattern, methods, group in self._routes:
            if method in methods and pattern.match(path):
                return group
        return RateLimitGroup.ADDRESS


class RateLimiter:
    """The counters in Redis, for the policy's limits."""

    def __init__(self, policy: RateLimitPolicy, settings: Settings, redis: Redis) -> None:
        self.policy = policy
        self.per_address = policy.per_address
        # On the process's one Redis pool (its timeouts included), not a second one.
        options: dict[str, Any] = {"connection_pool": redis.connection_pool}
        self._storage = RedisStorage(
            "async+" + settings.redis_url.get_secret_value(),
            implementation="redispy",
            key_prefix=settings.rate_limit_key_prefix,
            **options,
        )
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._warned_at = -math.inf

    async def check(self, group: RateLimitGroup, address: str, token: str | None) -> Verdict:
        """Count one request of ``address`` (and ``token``) and say whether it may go on."""
        hits = [("address", self.per_address, f"address:{rate_limit_key(address)}")]
        per_token = self.policy.per_token.get(group)
        if per_token is not None and token is not None and is_well_formed(token):
            # The token's hash names the counter: the token itself never reaches Redis.
            key = f"token:{group.value}:{hash_token(token)[:32]}"
            hits.append((group.value, per_token, key))
        try:
            # One after the other: a caller past its address limit creates no token counters, so
            # a flood of made-up tokens cannot fill Redis.
            for policy, item, key in hits:
                if not await self._limiter.hit(item, key):
                    stats = await self._limiter.get_window_stats(item, key)
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    return Verdict(False, policy, item, retry_after)
        except (RedisError, OSError, TimeoutError) as exc:
            now = time.monotonic()
            if now - self._warned_at > _WARN_EVERY:
                self._warned_at = now
                logger.warning("rate limits not enforced: Redis did not answer", error=type(exc).__name__)
        return Verdict(True)


def _token_of(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


class RateLimitMiddleware:
    """Counts each request before anything else reads it; answers 429 past a limit.

    The request's group comes from ``app.state.route_groups`` (``RouteGroups``, made at startup),
    so it is known before the body is read and before authentication: a flood costs one Redis
    round trip per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state
        limiter: RateLimiter = app_state.resources.rate_limiter
        group = RateLimitGroup.UNLIMITED
        if limiter.policy.enabled:
            route_groups: RouteGroups = app_state.route_groups
            group = route_groups.group_for(scope["method"], scope["path"])
        if group is RateLimitGroup.UNLIMITED:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        verdict = await limiter.check(group, client[0] if client else "unknown", _token_of(scope))
        if verdict.allowed:
            await self.app(scope, receive, send)
            return
        assert verdict.limit is not None
        headers = {
            "Retry-After": str(verdict.retry_after),
            "RateLimit-Policy": _policy(verdict.policy, verdict.limit),
            "RateLimit": f'"{verdict.policy}";r=0;t={verdict.retry_after}',
        }
        message = f"too many requests; try again in {verdict.retry_after} s"
        await error_response(429, "rate_limited", message, headers=headers)(scope, receive, send)
