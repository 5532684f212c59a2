"""What each route declares about who may call it and how often, read back from the route itself.

Two declarations, both on the route:
- **Access.** A route that needs a token takes a ``CurrentUser`` or ``Operator`` parameter
  (``dependencies.py``: a FastAPI ``Security`` requirement with the token scope), which the OpenAPI
  document shows as ``security: [{"HTTPBearer": ["user"]}]``. A route anyone may call says so with
  ``openapi_extra=public(...)``: ``security: []``, OpenAPI's own word for "no credentials".
- **Rate-limit group.** ``openapi_extra=public(group)`` or ``openapi_extra=limited(group)`` puts the
  group in the operation as ``x-rate-limit-group``; the rate limiter finds a request's group from
  the route it matches (``rate_limits.RouteGroups``), the OpenAPI document its 429 from the same key.

``services/api/tests/test_access.py`` fails for a route that declares either one not at all.
"""

from enum import StrEnum
from typing import Any

from starlette.routing import BaseRoute

RATE_LIMIT_GROUP = "x-rate-limit-group"


class RateLimitGroup(StrEnum):
    """How a route's requests are counted (limits from the settings, ``RATE_LIMIT_*``)."""

    UNLIMITED = "unlimited"  # never counted: the health checks, which load balancers call often
    ADDRESS = "address"  # per client address only
    ACCOUNT = "account"  # per address, and per token: RATE_LIMIT_ACCOUNT
    CREDENTIAL_WRITES = "credential-writes"  # per address, and per token: RATE_LIMIT_CREDENTIAL_WRITES
    OPERATOR = "operator"  # per address, and per token: RATE_LIMIT_OPERATOR


def public(group: RateLimitGroup) -> dict[str, Any]:
    """``openapi_extra`` of a route anyone may call, counted as ``group``."""
    return {"security": [], RATE_LIMIT_GROUP: group.value}


def limited(group: RateLimitGroup) -> dict[str, Any]:
    """``openapi_extra`` of a route that takes a token (``CurrentUser``, ``Operator``), counted as
    ``group``."""
    return {RATE_LIMIT_GROUP: group.value}


def declared_group(route: BaseRoute) -> RateLimitGroup | None:
    """The rate-limit group ``route`` declares; None when it declares none (or is no API route)."""
    extra = getattr(route, "openapi_extra", None) or {}
    value = extra.get(RATE_LIMIT_GROUP)
    return None if value is None else RateLimitGroup(value)


def required_scopes(operation: dict[str, Any]) -> list[str]:
    """The token scopes an OpenAPI operation's security requirement names (none: public)."""
    requirements = operation.get("security", [])
    return [scope for requirement in requirements for names in requirement.values() for scope in names]


def declared_public(route: BaseRoute) -> bool:
    """Whether ``route`` declares that anyone may call it."""
    extra = getattr(route, "openapi_extra", None) or {}
    return extra.get("security") == []
