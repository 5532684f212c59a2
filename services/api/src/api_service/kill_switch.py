"""The kill switch: halt trading for one user or everyone, sweep their open orders, lift the halt.

One path for the operator routes and ``api-admin``: the halt (or lift) and its audit row commit
together first, so new orders are refused from that moment on every process (``trading_halt``);
then the halted users' open orders are cancelled at Bybit (``halt_sweep``), and once more after
the in-flight send deadline, so an order sent just before the halt does not survive. Each sweep's
outcome per credential is recorded in the audit trail (action ``trading.sweep``).
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from api_service.halt_sweep import CredentialSwept, Sweeper, in_flight_deadline
from core_config import get_logger
from db_core import Database, DatabaseUnavailableError
from db_user import (
    SYSTEM_ACTOR,
    Actor,
    BybitCredential,
    Halt,
    halt_trading,
    halted_credentials,
    halts_in_force,
    lift_halt,
    record_audit,
)

logger = get_logger(__name__)
T = TypeVar("T")
START_RETRY_SECONDS = 5.0


def _target(user_id: int | None) -> str:
    return "everyone" if user_id is None else f"user:{user_id}"


async def halt(database: Database, actor: Actor, *, user_id: int | None, reason: str) -> tuple[Halt, bool]:
    """Halt trading for ``user_id`` (everyone when None), recorded in the audit trail, committed:
    the halt in force and whether it is new. The caller sweeps (``sweep``) right after."""
    async with database.session() as session:
        halted, created = await halt_trading(session, user_id=user_id, reason=reason, by=actor.name)
        await record_audit(
            session,
            actor=actor.name,
            token_id=actor.token_id,
            address=actor.address,
            action="trading.halt",
            user_id=user_id,
            subject=f"halt:{halted.id}",
            details={"target": _target(user_id), "reason": reason, "created": created},
        )
    return halted, created


async def lift(database: Database, actor: Actor, *, user_id: int | None, reason: str | None) -> Halt | None:
    """Lift the halt in force for ``user_id`` (the one for everyone when None); None when none was."""
    async with database.session() as session:
        lifted = await lift_halt(session, user_id=user_id, by=actor.name)
        if lifted is not None:
            await record_audit(
                session,
                actor=actor.name,
                token_id=actor.token_id,
                address=actor.address,
                action="trading.lift",
                user_id=user_id,
                subject=f"halt:{lifted.id}",
                details={"target": _target(user_id), "reason": reason},
            )
    return lifted


async def sweep(database: Database, sweeper: Sweeper, halts: list[Halt], why: str) -> list[CredentialSwept]:
    """Cancel the open orders of every credential ``halts`` stop (each once), and record it."""
    credentials: dict[int, BybitCredential] = {}
    async with database.session() as session:
        for each in halts:
            credentials.update((row.id, row) for row in await halted_credentials(session, each))
    swept = await sweeper.sweep(list(credentials.values()))
    async with database.session() as session:
        await record_audit(
            session,
            actor=SYSTEM_ACTOR,
            action="trading.sweep",
            subject=",".join(f"halt:{each.id}" for each in halts) or None,
            details={"why": why, "credentials": [one.as_dict() for one in swept]},
        )
    unknown = sum(1 for one in swept if one.outcome == "unknown")
    logger.info("halt sweep done", why=why, credentials=len(swept), unknown=unknown)
    return swept


async def sweep_in_force(database: Database, sweeper: Sweeper, why: str) -> list[CredentialSwept]:
    """Sweep the orders of every user a halt in force stops (at start, and after a halt)."""
    async with database.session() as session:
        halts = await halts_in_force(session)
    return await sweep(database, sweeper, halts, why) if halts else []


async def sweep_after_deadline(database: Database, sweeper: Sweeper) -> list[CredentialSwept]:
    """The second sweep: once no order sent before the halt can still arrive at Bybit."""
    await asyncio.sleep(in_flight_deadline(sweeper.settings))
    return await sweep_in_force(database, sweeper, "after the in-flight deadline")


async def sweep_at_start(database: Database, sweeper: Sweeper) -> None:
    """The sweep of every halt in force when the api starts, tried again every
    ``START_RETRY_SECONDS`` while the user database does not answer (a halt must not be missed
    because the database came up after the api)."""
    while True:
        try:
            await sweep_in_force(database, sweeper, "api start")
        except DatabaseUnavailableError as exc:
            logger.warning(
                "halt sweep at start: the user database does not answer; trying again", error=str(exc)
            )
            await asyncio.sleep(START_RETRY_SECONDS)
        else:
            return


class BackgroundSweeps:
    """The api process's sweeps that outlive a request (the second sweep, the sweep at start);
    cancelled when the process stops (the next start sweeps again)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, T]) -> "asyncio.Task[T]":
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a background halt sweep failed", error=repr(task.exception()))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
