"""The audit trail: who did what, when, from which address, to whose data. Rows are only added.

Operator actions (``trading.halt``, ``trading.lift``, ``market.sync``, ...) and the service's own
(``trading.sweep``); an order's state changes are its own trail (``order_events``), with the same
``Actor``. ``actor`` names who acted:
``token:<id>`` for an API token (its id also in ``token_id``), ``api-admin:<os user>`` for the
command line, ``system`` for the service itself. ``user_id`` is whose data it concerns (null for
everyone): a user may read the rows of their own ``user_id``.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db_user.models import AuditEvent

# The actor of a change no caller asked for: the tracker, a lookup, a stream, a sweep.
SYSTEM_ACTOR = "system"


def token_actor(token_id: int) -> str:
    """The ``actor`` of an action taken with API token ``token_id``."""
    return f"token:{token_id}"


@dataclass(frozen=True)
class Actor:
    """Who acts, for the trails (an order's events, the audit): ``name`` (``token:<id>``,
    ``api-admin:<os user>``, ``system``), the token's id and the client's address when there is one."""

    name: str = SYSTEM_ACTOR
    token_id: int | None = None
    address: str | None = None

    @classmethod
    def token(cls, token_id: int, address: str | None) -> "Actor":
        """The caller holding API token ``token_id``, from ``address``."""
        return cls(token_actor(token_id), token_id, address)


# The service itself: the tracker, a lookup, a stream, a sweep.
SYSTEM = Actor()


async def record_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    token_id: int | None = None,
    address: str | None = None,
    user_id: int | None = None,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one row to the trail, in the caller's transaction (it commits with what it records)."""
    event = AuditEvent(
        actor=actor,
        action=action,
        token_id=token_id,
        address=address,
        user_id=user_id,
        subject=subject,
        details=details or {},
    )
    session.add(event)
    await session.flush()
    return event


async def list_audit(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    action_prefix: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """The trail, newest first: of ``user_id``'s data only when given, of actions starting with
    ``action_prefix`` when given, older than the row ``before_id`` (the cursor) when given."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if action_prefix is not None:
        query = query.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list((await session.scalars(query)).all())
