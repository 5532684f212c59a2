"""Bybit credentials: add/replace per (user, network, api_key), scoped reads, network constraint."""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db_user import (
    create_user,
    credential_key_ids,
    delete_bybit_credential,
    get_bybit_credential,
    list_bybit_credentials,
    save_bybit_credential,
)


async def test_add_replace_list_get_delete(user_session: AsyncSession) -> None:
    user = await create_user(user_session, "grace@example.com")
    other = await create_user(user_session, "heidi@example.com")
    first = await save_bybit_credential(
        user_session,
        user_id=user.id,
        network="testnet",
        api_key="KEY1",
        secret_ciphertext=b"\x00cipher\xff",
        key_id="k1",
        label="main",
        permissions={"ContractTrade": ["Order"]},
        read_only=False,
    )
    assert first.secret_ciphertext == b"\x00cipher\xff"
    assert first.validated_at is not None

    replaced = await save_bybit_credential(
        user_session,
        user_id=user.id,
        network="testnet",
        api_key="KEY1",
        secret_ciphertext=b"new",
        key_id="k2",
        read_only=True,
    )
    assert replaced.id == first.id
    assert (replaced.secret_ciphertext, replaced.key_id, replaced.read_only) == (b"new", "k2", True)

    mainnet = await save_bybit_credential(
        user_session,
        user_id=user.id,
        network="mainnet",
        api_key="KEY1",
        secret_ciphertext=b"m",
        key_id="k2",
        read_only=True,
    )
    assert mainnet.id != first.id
    assert [c.id for c in await list_bybit_credentials(user_session, user.id)] == [first.id, mainnet.id]
    assert await list_bybit_credentials(user_session, other.id) == []

    assert await get_bybit_credential(user_session, other.id, first.id) is None  # not hers
    assert await get_bybit_credential(user_session, user.id, first.id) is not None
    assert await delete_bybit_credential(user_session, other.id, first.id) is False
    assert await delete_bybit_credential(user_session, user.id, first.id) is True
    assert await delete_bybit_credential(user_session, user.id, first.id) is False
    assert "cipher" not in repr(mainnet)


async def test_network_is_constrained(user_session: AsyncSession) -> None:
    user = await create_user(user_session, "ivan@example.com")
    with pytest.raises(IntegrityError, match="ck_bybit_credentials_network"):
        await save_bybit_credential(
            user_session,
            user_id=user.id,
            network="moonnet",
            api_key="K",
            secret_ciphertext=b"x",
            key_id="k",
            read_only=True,
        )


async def test_deleting_a_user_cascades_to_credentials(user_session: AsyncSession) -> None:
    user = await create_user(user_session, "judy@example.com")
    await save_bybit_credential(
        user_session,
        user_id=user.id,
        network="demo",
        api_key="K",
        secret_ciphertext=b"x",
        key_id="k",
        read_only=True,
    )
    await user_session.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
    remaining = await user_session.execute(
        text("SELECT count(*) FROM bybit_credentials WHERE user_id = :id"), {"id": user.id}
    )
    assert remaining.scalar_one() == 0


async def test_key_ids_in_use_follow_the_stored_credentials(user_session: AsyncSession) -> None:
    user = await create_user(user_session, "ivan@example.com")
    before = await credential_key_ids(user_session)
    old, new = f"old-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    saved = {}
    for api_key, key_id in (("KEYA", old), ("KEYB", new), ("KEYC", new)):
        saved[api_key] = await save_bybit_credential(
            user_session,
            user_id=user.id,
            network="testnet",
            api_key=api_key,
            secret_ciphertext=b"c",
            key_id=key_id,
            read_only=True,
        )
    assert await credential_key_ids(user_session) == before | {old, new}
    assert await delete_bybit_credential(user_session, user.id, saved["KEYA"].id)
    assert await credential_key_ids(user_session) == before | {new}
