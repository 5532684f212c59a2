"""``OrderState``: where an order stands, and the one order of states an order moves through.

A state only moves forward: ``pending`` (stored, its send not yet answered) -> ``pending_unknown``
(sent, the answer proves nothing either way) -> ``accepted`` (Bybit took the request) -> ``new`` (on
the book) -> ``partially_filled`` -> a final state: ``filled``, ``cancelled``, ``rejected`` (Bybit
said no: nothing placed) or ``not_placed`` (proven absent: no lookup finds its ``orderLinkId`` once no
attempt can still land). A state may skip steps (an order can be filled before anything said it was
new), never go back; final states never change. ``RANKS`` is that order, used by the guarded update
in ``orders`` so that an update arriving late changes nothing.
"""

from enum import StrEnum


class OrderState(StrEnum):
    PENDING = "pending"
    PENDING_UNKNOWN = "pending_unknown"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    NOT_PLACED = "not_placed"

    @property
    def rank(self) -> int:
        return RANKS[self]

    @property
    def is_final(self) -> bool:
        return self.rank == FINAL_RANK

    @property
    def is_unresolved(self) -> bool:
        """Not yet known to Bybit's answer: the tracker resolves it."""
        return self in UNRESOLVED


FINAL_RANK = 9
RANKS: dict[OrderState, int] = {
    OrderState.PENDING: 0,
    OrderState.PENDING_UNKNOWN: 1,
    OrderState.ACCEPTED: 2,
    OrderState.NEW: 3,
    OrderState.PARTIALLY_FILLED: 4,
    OrderState.FILLED: FINAL_RANK,
    OrderState.CANCELLED: FINAL_RANK,
    OrderState.REJECTED: FINAL_RANK,
    OrderState.NOT_PLACED: FINAL_RANK,
}
UNRESOLVED = frozenset({OrderState.PENDING, OrderState.PENDING_UNKNOWN})
OPEN = frozenset({OrderState.ACCEPTED, OrderState.NEW, OrderState.PARTIALLY_FILLED})


class OrderOrigin(StrEnum):
    """Where an order was placed: through the api, or elsewhere with the same key (``external``)."""

    API = "api"
    EXTERNAL = "external"
