"""The fake's private pushes: the trading engine's changes, sent to each account's private connections
in order, with the faults a consumer must survive.

Connections are indexed by account, so a push costs what that account's connections cost, however
many other connections are open (one fake serves a thousand credentials). Each connection has its
own outbox and writer: pushes reach it in the order the engine made them, unless a fault says
otherwise. Faults (``set_faults``, per API key or for all, drawn from the exchange's seed):
``duplicate`` sends a push twice, ``reorder`` holds a push back until the next one of its topic
has gone (or ``hold_seconds`` have passed: then it goes late all the same), ``drop`` never sends it.
"""

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from bybit_client.testing.engine import PrivateEvent

if TYPE_CHECKING:
    from bybit_client.testing.streams import FakeConnection


@dataclass(frozen=True)
class PrivateFaults:
    """Shares of the pushes to duplicate, hold back behind the next one, or drop."""

    duplicate: float = 0.0
    reorder: float = 0.0
    drop: float = 0.0

    def __post_init__(self) -> None:
        if min(self.duplicate, self.reorder, self.drop) < 0 or self.duplicate + self.reorder + self.drop > 1:
            raise ValueError("fault shares must be between 0 and 1 and add up to at most 1")


class PrivateFeed:
    def __init__(self, seed: int = 0) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.hold_seconds = 0.05
        self._by_user: dict[int, set[FakeConnection]] = {}
        self._faults: dict[str | None, PrivateFaults] = {}
        self._random = random.Random(seed)  # noqa: S311 - fault draws, not secrets
        self._ids = 0
        self.counts: Counter[str] = Counter()  # sent, duplicated, reordered, dropped

    def reset(self, seed: int) -> None:
        self._faults.clear()
        self._random = random.Random(seed)  # noqa: S311
        self._ids = 0
        self.counts.clear()

    # -- who listens ------------------------------------------------------------------------------

    def join(self, user_id: int, connection: "FakeConnection") -> None:
        self._by_user.setdefault(user_id, set()).add(connection)

    def leave(self, connection: "FakeConnection") -> None:
        if connection.user_id is not None:
            self._by_user.get(connection.user_id, set()).discard(connection)

    def audience(self, user_id: int) -> bool:
        """Whether any connection of the account is open (the engine builds no pushes for nobody)."""
        return bool(self._by_user.get(user_id))

    def set_faults(self, faults: PrivateFaults, api_key: str | None = None) -> None:
        self._faults[api_key] = faults

    # -- sending ----------------------------------------------------------------------------------

    def publish(self, events: list[PrivateEvent]) -> None:
        """Hand the engine's pushes to the serving loop (from any thread; in order)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._deliver, events)

    def _deliver(self, events: list[PrivateEvent]) -> None:
        for event in events:
            names = (
                (event.kind,) if event.category is None else (event.kind, f"{event.kind}.{event.category}")
            )
            for connection in list(self._by_user.get(event.user_id, ())):
                for topic in names:
                    if topic in connection.topics:
                        payload = self.payload(event.user_id, topic, event.creation_ms, event.data)
                        self.send(connection, topic, payload)

    def payload(self, user_id: int, topic: str, creation_ms: int, data: list[dict[str, Any]]) -> bytes:
        self._ids += 1
        return orjson.dumps(
            {"id": f"{user_id}-{self._ids}", "topic": topic, "creationTime": creation_ms, "data": data}
        )

    def send(self, connection: "FakeConnection", topic: str, payload: bytes) -> None:
        faults = self._faults.get(connection.api_key) or self._faults.get(None)
        if faults is None:
            self._post(connection, topic, payload)
            return
        draw = self._random.random()
        if draw < faults.drop:
            self.counts["dropped"] += 1
            return
        draw -= faults.drop
        if draw < faults.duplicate:
            self.counts["duplicated"] += 1
            self._post(connection, topic, payload)
            self._post(connection, topic, payload)
            return
        draw -= faults.duplicate
        if draw < faults.reorder and topic not in connection.held:
            self.counts["reordered"] += 1
            connection.held[topic] = payload
            assert self.loop is not None
            self.loop.call_later(self.hold_seconds, self._release, connection, topic, payload)
            return
        self._post(connection, topic, payload)

    def _post(self, connection: "FakeConnection", topic: str, payload: bytes) -> None:
        self.counts["sent"] += 1
        connection.post(payload)
        held = connection.held.pop(topic, None)
        if held is not None:
            self.counts["sent"] += 1
            connection.post(held)  # the push held back goes after the one that overtook it

    def _release(self, connection: "FakeConnection", topic: str, payload: bytes) -> None:
        if connection.held.get(topic) is payload:
            del connection.held[topic]
            self.counts["sent"] += 1
            connection.post(payload)
