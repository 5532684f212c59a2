"""Users and API tokens: case-insensitive unique email, token lookup by hash, revocation."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db_user import (
    ApiToken,
    EmailTakenError,
    add_api_token,
    create_user,
    find_active_token,
    get_user,
    get_user_by_email,
    list_api_tokens,
    revoke_api_token,
)


async def test_email_is_unique_case_insensitively(user_session: AsyncSession) -> None:
    alice = await create_user(user_session, "Alice@Example.com")
    with pytest.raises(EmailTakenError, match="already exists"):
        await create_user(user_session, "alice@example.COM")
    # The savepoint kept the transaction usable after the duplicate.
    assert await get_user_by_email(user_session, "ALICE@example.com") is alice
    assert await get_user(user_session, alice.id) is alice
    assert await get_user_by_email(user_session, "bob@example.com") is None
    assert alice.created_at.tzinfo is not None


async def test_unique_index_holds_at_the_database_level(user_session: AsyncSession) -> None:
    await user_session.execute(text("INSERT INTO users (email) VALUES ('carol@example.com')"))
    with pytest.raises(IntegrityError, match="uq_users_email_lower"):
        await user_session.execute(text("INSERT INTO users (email) VALUES ('CAROL@example.com')"))


async def test_token_lookup_by_hash_touches_last_used_and_respects_revocation(
    user_session: AsyncSession,
) -> None:
    user = await create_user(user_session, "dave@example.com")
    token = await add_api_token(user_session, user_id=user.id, name="laptop", token_hash="a" * 64)
    used_at = datetime(2024, 6, 1, tzinfo=UTC)

    found = await find_active_token(user_session, "a" * 64, now=used_at)
    assert found is token
    assert found.user.email == "dave@example.com"
    assert found.last_used_at == used_at
    assert await find_active_token(user_session, "b" * 64) is None

    assert await revoke_api_token(user_session, token.id, user_id=user.id + 1) is False  # someone else's
    assert await revoke_api_token(user_session, token.id, user_id=user.id) is True
    assert await revoke_api_token(user_session, token.id) is False  # already revoked
    assert await find_active_token(user_session, "a" * 64) is None
    assert [t.id for t in await list_api_tokens(user_session, user.id)] == [token.id]
    assert await list_api_tokens(user_session, user.id, include_revoked=False) == []


async def test_tokens_of_a_disabled_user_are_not_active(user_session: AsyncSession) -> None:
    user = await create_user(user_session, "erin@example.com")
    await add_api_token(user_session, user_id=user.id, name="ci", token_hash="c" * 64)
    user.disabled_at = datetime.now(UTC)
    await user_session.flush()
    assert await find_active_token(user_session, "c" * 64) is None


async def test_token_hash_is_unique_and_user_must_exist(user_session: AsyncSession) -> None:
    user = await create_user(user_session, "frank@example.com")
    await add_api_token(user_session, user_id=user.id, name="one", token_hash="d" * 64)
    with pytest.raises(IntegrityError, match="uq_api_tokens_token_hash"):
        async with user_session.begin_nested():
            user_session.add(ApiToken(user_id=user.id, name="two", token_hash="d" * 64))
    with pytest.raises(IntegrityError, match="fk_api_tokens_user_id_users"):
        async with user_session.begin_nested():
            user_session.add(ApiToken(user_id=999_999_999, name="orphan", token_hash="e" * 64))
