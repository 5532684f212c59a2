"""Trading halts (one in force per user and one for everyone, repeatable) and the audit trail."""

import uuid

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db_user import (
    Halt,
    active_halt,
    create_user,
    halt_trading,
    halted_credentials,
    halts_in_force,
    lift_halt,
    list_audit,
    record_audit,
    save_bybit_credential,
    token_actor,
)


async def _user(session: AsyncSession) -> int:
    return (await create_user(session, f"halt-{uuid.uuid4().hex[:8]}@example.com")).id


async def test_a_users_halt_stops_them_alone_until_lifted(user_session: AsyncSession) -> None:
    alice, bob = await _user(user_session), await _user(user_session)
    assert await active_halt(user_session, alice) is None
    halt, created = await halt_trading(user_session, user_id=alice, reason="suspicious", by="token:1")
    assert created
    assert halt.user_id == alice
    assert halt.lifted_at is None
    assert (await active_halt(user_session, alice)) == halt
    assert await active_halt(user_session, bob) is None

    again, created_again = await halt_trading(user_session, user_id=alice, reason="twice", by="token:2")
    assert (again.id, created_again, again.reason) == (halt.id, False, "suspicious")

    lifted = await lift_halt(user_session, user_id=alice, by="token:3")
    assert lifted is not None
    assert lifted.id == halt.id
    assert lifted.lifted_by == "token:3"
    assert await active_halt(user_session, alice) is None
    assert await lift_halt(user_session, user_id=alice, by="token:3") is None
    # A new halt after the lift is a new row; the lifted one stays as history.
    fresh, created = await halt_trading(user_session, user_id=alice, reason="again", by="token:4")
    assert created
    assert fresh.id != halt.id


async def test_the_halt_of_everyone_comes_first_and_is_lifted_on_its_own(user_session: AsyncSession) -> None:
    alice = await _user(user_session)
    own, _ = await halt_trading(user_session, user_id=alice, reason="own", by="api-admin:ops")
    everyone, created = await halt_trading(
        user_session, user_id=None, reason="exchange incident", by="token:9"
    )
    assert created
    assert everyone.user_id is None
    assert (await active_halt(user_session, alice)) == everyone
    assert [h.id for h in await halts_in_force(user_session)][:1] == [everyone.id]
    assert (await halt_trading(user_session, user_id=None, reason="x", by="y"))[1] is False

    assert (await lift_halt(user_session, user_id=None, by="token:9")) is not None
    assert (await active_halt(user_session, alice)) == own  # her own halt still holds


async def test_two_halts_in_force_for_one_target_cannot_exist(user_session: AsyncSession) -> None:
    alice = await _user(user_session)
    user_session.add(Halt(user_id=alice, reason="a", created_by="x"))
    await user_session.flush()
    with pytest.raises(IntegrityError):
        async with user_session.begin_nested():
            user_session.add(Halt(user_id=alice, reason="b", created_by="x"))


async def test_halted_credentials_are_the_users_or_everyones(user_session: AsyncSession) -> None:
    alice, bob = await _user(user_session), await _user(user_session)
    for user, key in ((alice, "A1"), (alice, "A2"), (bob, "B1")):
        await save_bybit_credential(
            user_session,
            user_id=user,
            network="testnet",
            api_key=key,
            secret_ciphertext=b"c",
            key_id="k",
            read_only=False,
        )
    own, _ = await halt_trading(user_session, user_id=alice, reason="r", by="t")
    assert sorted(row.api_key for row in await halted_credentials(user_session, own)) == ["A1", "A2"]
    everyone, _ = await halt_trading(user_session, user_id=None, reason="r", by="t")
    keys = {row.api_key for row in await halted_credentials(user_session, everyone)}
    assert {"A1", "A2", "B1"} <= keys


async def test_audit_rows_are_listed_newest_first_by_user_action_and_cursor(
    user_session: AsyncSession,
) -> None:
    alice = await _user(user_session)
    first = await record_audit(
        user_session,
        actor=token_actor(7),
        token_id=7,
        address="192.0.2.1",
        action="trading.halt",
        user_id=alice,
    )
    second = await record_audit(user_session, actor="system", action="trading.sweep", details={"n": 1})
    third = await record_audit(user_session, actor="api-admin:ops", action="trading.lift", user_id=alice)
    assert first.at is not None
    assert first.actor == "token:7"
    mine = await list_audit(user_session, user_id=alice)
    assert [row.id for row in mine] == [third.id, first.id]
    trading = await list_audit(user_session, action_prefix="trading.", before_id=third.id, limit=1)
    assert [row.id for row in trading] == [second.id]
    assert await list_audit(user_session, action_prefix="trading%") == []  # a prefix, not a pattern
