"""Beat's scheduler: RedBeat, each message sent with a task id of its entry and period.

RedBeat lets one beat at a time send, under a lock in Redis that the beat extends at the start of
each tick. A beat paused in the middle of a tick (a frozen instance, a long stop) past the lock's
expiry wakes up and finishes sending what it found due, while the beat that took the lock over has
sent the same entries: two sends of one period. Both beats read the entry's last run from Redis,
so the task id ``beat:<entry>:<last run>`` is the same for both sends: the worker runs it as one
sync (one ``sync_runs`` row; a copy arriving after it ended does nothing, see ``tasks``), so a
second send of a period is harmless whenever it comes.
"""

from typing import Any

from redbeat import RedBeatScheduler
from redbeat.schedulers import RedBeatSchedulerEntry


def period_task_id(entry: RedBeatSchedulerEntry) -> str:
    """The task id of ``entry``'s send for the period after its last run."""
    last = entry.last_run_at.isoformat() if entry.last_run_at is not None else "first"
    return f"beat:{entry.name}:{last}"


class OneSyncPerPeriod(RedBeatScheduler):  # type: ignore[misc]
    """RedBeat's scheduler sending each period's message under the period's task id."""

    def apply_async(
        self, entry: RedBeatSchedulerEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        # The entry was read from Redis for this tick alone: its options are not kept.
        entry.options = {**entry.options, "task_id": period_task_id(entry)}
        return super().apply_async(entry, producer, advance, **kwargs)
